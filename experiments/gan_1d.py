"""The 1-D example of Goodfellow et al. 2014 (figure 1): data N(4, 0.5), MLP G and D, the
original minimax objective.

  python -m gan_jax.main --config=experiments/gan_1d.py

About a minute on a 2-core CPU. Each plot in runs/gan_1d/samples/ shows the data density
(black), a histogram of generated samples (green) and D(x) (blue, dashed). As training goes on
the histogram settles over the density and D(x) flattens towards 1/2 where the two overlap.
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  c.data.name = 'gaussian_1d'     # one Gaussian in 1-D
  c.data.mean = 4.0               # data mean
  c.data.std = 0.5                # data standard deviation
  c.data.num_train = 100_000      # fixed training set drawn from the seed

  configs.mlp_model(c)
  c.model.z_dim = 1               # 1-D Gaussian noise
  c.model.g_hidden = (32, 32)     # generator ReLU layers
  c.model.d_hidden = (32, 32)     # discriminator ReLU layers
  c.model.g_output = 'none'       # real-valued samples
  c.model.d_activation = 'relu'

  c.loss.name = 'minimax'         # the saturating generator loss of the paper's game

  c.optim.g_lr = 1e-3             # Adam, as in common reproductions of the figure
  c.optim.d_lr = 1e-3
  c.optim.b1 = 0.5

  c.train.steps = 3000
  c.train.batch_size = 128
  c.train.d_steps = 1             # the paper's k; 1 as in its experiments
  c.train.ema_decay = 0.0         # plot the generator itself
  c.train.log_every = 250
  c.train.sample_every = 500      # one plot every 500 steps
  c.train.checkpoint_every = 1000

  if arg == 'smoke':
    c.data.num_train = 256
    c.model.g_hidden = (8,)
    c.model.d_hidden = (8,)
    c.train.steps = 4
    c.train.batch_size = 16
    c.train.log_every = 2
    c.train.sample_every = 2
    c.train.checkpoint_every = 2
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c
