"""Stacked digits (1,000 modes) with DCGAN and PacGAN's packing: the Stacked-MNIST protocol of
VEEGAN and PacGAN (REFERENCES.md) on the digits bundled with scikit-learn.

Each training image stacks three independently drawn digits as its RGB channels (128,000
triples, 32x32). DCGAN, batch 64, z of 100, Adam(2e-4, beta1 0.5); `model.pack` = k makes the
discriminator judge packs of k images (PacDCGAN-k). Evaluation: 26,000 samples, each channel
classified by the project's digit classifier (`python -m gan_jax.classifier --dataset=digits`
first); modes = distinct triples among 1,000, and KL to uniform.

  python -m gan_jax.classifier --dataset=digits
  python -m gan_jax.main --config=experiments/dcgan_stacked_digits.py
  python -m gan_jax.reproduce stacked

As PacGAN's code for its Table 2, each step updates the generator twice after one
discriminator update (`train.g_steps=2`; `--config.train.g_steps=1` gives DCGAN's one). That
code's discriminator is larger than this one: four 5x5 stride-2 convolutions, 64 to 512
channels, on 28x28 images.

PacGAN trains 50 epochs of 128,000 triples (100,000 steps at batch 64); about 13 hours per
DCGAN run on a 2-core CPU at this model's ~0.47 s step, and longer with packing (the generator
makes k times as many images). The bundled digits are 1,797 8x8 images rather than MNIST's
60,000: fewer distinct images per class, blurrier after resizing. The same experiment
on MNIST is `--config.data.name=stacked_mnist` where TFDS has MNIST (its channels are then
classified by the MNIST classifier: `python -m gan_jax.classifier --dataset=mnist`).
"""

from gan_jax import configs
from gan_jax import sweeps


def get_config(arg=None):
  c = configs.base_config()
  configs.image_data(c, 'stacked_digits', image_size=32, channels=3)
  c.data.num_train = 128_000       # triples, as PacGAN
  c.data.cache = True              # stacked_mnist: its MNIST base decoded once

  configs.dcgan_model(c)
  c.model.z_dim = 100
  c.model.g_width = 64             # generator channels: 256 -> 128 -> 64 -> 3
  c.model.d_width = 64             # discriminator channels: 64 -> 128 -> 256
  c.model.pack = 1                 # PacDCGAN-k: k > 1

  configs.dcgan_training(c, steps=100_000, batch_size=64)  # 50 epochs of 128,000
  c.train.g_steps = 2              # as PacGAN's code: two G updates per D update
  c.train.log_every = 500
  c.train.sample_every = 5000
  c.train.checkpoint_every = 5000
  c.train.num_samples = 64

  c.evals.metrics = ('stacked_modes',)
  c.evals.num_samples = 26_000     # the protocol's sample
  c.evals.every = 20_000           # and at the end
  c.evals.classifier = ''          # per-channel classifier: digits ('mnist' for stacked_mnist)

  if arg == 'smoke':
    c.data.num_train = 256
    c.evals.metrics = ()           # needs a trained classifier; evaluation is tested apart
    configs.dcgan_smoke(c)
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c


def get_sweep(name=None):
  """python -m gan_jax.sweeps --config=experiments/dcgan_stacked_digits.py --sweep=pacgan"""
  if name in (None, 'pacgan'):     # DCGAN and PacDCGAN2-4, D sees 64 packs per batch
    return sweeps.pacgan(batch_per_pack=64)
  raise ValueError(f'unknown sweep {name!r}; the only one is pacgan')
