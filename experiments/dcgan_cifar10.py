"""DCGAN on CIFAR-10 (TFDS `cifar10`), 32x32 RGB.

  python -m gan_jax.main --config=experiments/dcgan_cifar10.py

The schedule of the common DCGAN-on-CIFAR-10 baselines (REFERENCES.md, image-quality numbers):
100,000 steps at batch 64 (128 epochs), Adam(2e-4, beta1 0.5). Sample quality is measured by
FID against the training set (issue: evaluation).
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  configs.image_data(c, 'cifar10', image_size=32, channels=3)  # 50,000 training images
  c.data.cache = True              # decoded once, then from memory (150 MiB)
  c.data.num_classes = 10          # labels 0..9 (unused by the unconditional GAN)

  configs.dcgan_model(c)
  c.model.z_dim = 100              # the DCGAN paper's latent size
  c.model.g_width = 64             # generator channels: 256 -> 128 -> 64 -> 3
  c.model.d_width = 64             # discriminator channels: 64 -> 128 -> 256

  configs.dcgan_training(c, steps=100_000, batch_size=64)
  c.train.log_every = 500
  c.train.sample_every = 5000
  c.train.checkpoint_every = 5000
  c.train.num_samples = 64

  if arg == 'smoke':
    configs.dcgan_smoke(c)
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c
