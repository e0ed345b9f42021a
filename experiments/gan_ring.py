"""GAN on the ring of 8 Gaussians (radius 1, sigma 0.01) in PacGAN's setting.

100,000 training points, batch 100, Adam(1e-4, beta1 0.8); G: 4 ReLU layers of 400 with batch
norm on 2-D Gaussian noise; D: 3 maxout layers of 200 units with 5 pieces; weights drawn from
N(0, 0.02^2) and both players updated simultaneously, as the PacGAN code trains; packed
(`--config.model.pack=k`), the generator runs once per pack slot, batch norm per slot, as that
code does (`model.pack_norm='slot'`). PacGAN trains 400 epochs (400,000 steps); the default here
is 50,000 steps, about 11 minutes on one core of a 2-core x86_64 CPU (about 80 steps/s; 65, 56
and 45 steps/s with packs of 2, 3 and 4 at 100 packs per batch).

  python -m gan_jax.main --config=experiments/gan_ring.py

Plots in runs/gan_ring/samples/ show 2,500 samples over the 3-sigma circles of the modes.
PacGAN Table 1 reports 6.3 of 8 modes and 98.2% high-quality samples for a plain GAN after
400,000 steps. Our 40,000-step runs kept 7 of 8 modes with 82-93% high-quality samples, a %
that swings from one evaluation to the next unless the generator's weights are averaged
(--config.train.ema_decay=0.999); see docs/RESULTS.md.
"""

from gan_jax import configs
from gan_jax import sweeps


def get_config(arg=None):
  c = configs.base_config()
  c.data.name = 'ring'            # mixture of Gaussians on a circle
  c.data.num_modes = 8            # modes at angles 2 pi k / 8
  c.data.radius = 1.0             # circle radius
  c.data.std = 0.01               # per-mode standard deviation
  c.data.num_train = 100_000      # PacGAN's training-set size

  # PacGAN's networks, Adam(1e-4, beta1 0.8), batch 100, non-saturating loss, no EMA.
  configs.pacgan_mixture_setting(c)

  c.train.steps = 50_000          # PacGAN: 400 epochs = 400,000 steps
  c.train.log_every = 1000
  c.train.sample_every = 5000
  c.train.checkpoint_every = 10_000

  if arg == 'smoke':
    c.data.num_train = 512
    c.model.g_hidden = (16, 16)
    c.model.d_hidden = (16,)
    configs.smoke_train(c)
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c


def get_sweep(name=None):
  """python -m gan_jax.sweeps --config=experiments/gan_ring.py --sweep=seeds|pacgan --backend=local"""
  return sweeps.mixture(name)
