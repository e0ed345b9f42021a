"""Architectures by name. Each family module exports `Generator`, `Discriminator` and
`build(model_config, out_shape, dtype) -> (generator, discriminator)`.

Generators are called as `G(z, train=...)` and return data in the dataset's shape (images NHWC
in [-1, 1]); discriminators as `D(x, train=...)` and return one logit per example.
"""

from gan_jax.models import dcgan, mlp

MODELS = {
    'mlp': mlp.build,
    'dcgan': dcgan.build,
}


def build(model_config, out_shape, dtype):
  if model_config.name not in MODELS:
    raise ValueError(f'unknown model.name {model_config.name!r}; '
                     f'choose one of {sorted(MODELS)}')
  return MODELS[model_config.name](model_config, tuple(out_shape), dtype)
