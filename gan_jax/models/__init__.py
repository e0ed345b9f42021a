"""Architectures by name. Each family module exports `Generator`, `Discriminator` and
`build(model_config, out_shape, dtype) -> (generator, discriminator)`.

Generators are called as `G(z, train=...)` and return data in the dataset's shape (images NHWC
in [-1, 1]); discriminators as `D(x, train=...)` and return one logit per example, or with
`model.pack = k > 1` (PacGAN) one logit per pack of k consecutive examples.
"""

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import dcgan, mlp

MODELS = {
    'mlp': mlp.build,
    'dcgan': dcgan.build,
}


class Packed(nn.Module):
  """PacGAN's packing: the discriminator sees `pack` examples at once, concatenated along
  their last axis (channels of images, coordinates of points), and gives one decision for the
  pack. Packs are consecutive examples of a device's share, all real or all generated."""
  discriminator: nn.Module
  pack: int

  @nn.compact
  def __call__(self, x, *, train: bool):
    n = x.shape[0]
    if n % self.pack:
      raise ValueError(f'{n} examples cannot be split into packs of {self.pack}')
    x = x.reshape(n // self.pack, self.pack, *x.shape[1:])
    x = jnp.moveaxis(x, 1, -2)  # (packs, ..., pack, last): the pack joins the last axis
    x = x.reshape(*x.shape[:-2], self.pack * x.shape[-1])
    return self.discriminator(x, train=train)


def build(model_config, out_shape, dtype):
  if model_config.name not in MODELS:
    raise ValueError(f'unknown model.name {model_config.name!r}; '
                     f'choose one of {sorted(MODELS)}')
  generator, discriminator = MODELS[model_config.name](model_config, tuple(out_shape), dtype)
  pack = model_config.get('pack', 1)
  if pack < 1:
    raise ValueError(f'model.pack must be at least 1, got {pack}')
  if pack > 1:
    discriminator = Packed(discriminator, pack)
  return generator, discriminator
