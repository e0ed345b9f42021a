"""DCGAN on the handwritten digits bundled with scikit-learn: the embedded default.

1,797 8x8 digits resized to 32x32 in [-1, 1]; no download. The run needs about 3.5 minutes on
a 2-core CPU and its sample grids (runs/dcgan_digits/samples/step_*.png) show recognisable digits
from about step 1,000 on.

  python -m gan_jax.main --config=experiments/dcgan_digits.py
  python -m gan_jax.sample --workdir=runs/dcgan_digits
"""

from gan_jax import configs
from gan_jax import sweeps


def get_config(arg=None):
  c = configs.base_config()
  configs.image_data(c, 'digits', image_size=32, channels=1)  # resized from 8x8; no download
  c.data.num_classes = 10          # labels 0..9 (unused by the unconditional GAN)

  configs.dcgan_model(c)
  c.model.z_dim = 64               # latent size
  c.model.g_width = 32             # generator channels: 128 -> 64 -> 32 -> 1
  c.model.d_width = 16             # discriminator channels: 16 -> 32 -> 64 (a wider D overpowers
                                   # G on these 1,797 images)

  # Non-saturating loss, Adam(2e-4, beta1 0.5); 3,000 steps are ~107 epochs at batch 64.
  configs.dcgan_training(c, steps=3000, batch_size=64)
  c.train.log_every = 100          # scalars and a progress line
  c.train.sample_every = 500       # a grid of 64 samples from a fixed latent batch
  c.train.checkpoint_every = 1000  # and one at the end
  c.train.num_samples = 64         # images per grid

  if arg == 'smoke':               # the tiny variant tests train for a few steps
    configs.dcgan_smoke(c)
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c


def get_sweep(name=None):
  """python -m gan_jax.sweeps --config=experiments/dcgan_digits.py --sweep=NAME --backend=local"""
  if name in (None, 'seeds'):
    return sweeps.product(seed=[0, 1, 2])
  if name == 'lr':               # both players' learning rates
    return sweeps.product(**{'optim.g_lr': [1e-4, 2e-4, 4e-4], 'optim.d_lr': [1e-4, 2e-4]})
  if name == 'losses':           # objectives at the DCGAN settings
    return sweeps.product(**{'loss.name': ['non_saturating', 'least_squares', 'hinge']})
  raise ValueError(f'unknown sweep {name!r}; choose seeds, lr or losses')
