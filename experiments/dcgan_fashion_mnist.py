"""DCGAN on Fashion-MNIST (TFDS `fashion_mnist`), the 28x28 clothing images resized to 32x32.

  python -m gan_jax.main --config=experiments/dcgan_fashion_mnist.py

TFDS prepares Fashion-MNIST on first use where TensorFlow and the network are available;
otherwise the run stops at once naming the command that prepares it (README: Datasets).
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  configs.image_data(c, 'fashion_mnist', image_size=32, channels=1)  # 60,000 images
  c.data.cache = True              # decoded once, then from memory (60 MiB)
  c.data.num_classes = 10          # 10 clothing classes (unused by the unconditional GAN)

  configs.dcgan_model(c)
  c.model.z_dim = 100              # the DCGAN paper's latent size
  c.model.g_width = 64             # generator channels: 256 -> 128 -> 64 -> 1
  c.model.d_width = 64             # discriminator channels: 64 -> 128 -> 256

  # Non-saturating loss, Adam(2e-4, beta1 0.5); 20,000 steps are ~21 epochs at batch 64.
  configs.dcgan_training(c, steps=20000, batch_size=64)
  c.train.log_every = 200
  c.train.sample_every = 1000
  c.train.checkpoint_every = 2000
  c.train.num_samples = 64

  if arg == 'smoke':
    configs.dcgan_smoke(c)
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c
