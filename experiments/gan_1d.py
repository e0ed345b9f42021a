"""The 1-D example of Goodfellow et al. 2014 (figure 1): data N(4, 0.5), MLP G and D, the
original minimax objective.

  python -m gan_jax.main --config=experiments/gan_1d.py

About 40 s on a 2-core CPU (6,000 steps, each 3 D updates and 1 G update on batches of 512).
Each plot in runs/gan_1d/samples/ shows the data density (black), a histogram of 2,500 generated
samples (green) and D(x) as a probability (blue, dashed). G starts far from the data and D soon
separates the two, where the minimax generator loss saturates; Adam's normalised steps still
carry G to the data by step ~1,000-1,500. By step 2,000-4,000 the histogram lies over the
density, and at the end D(x) is within about 0.01 of 1/2 over the data (3 < x < 5), leaving it
only in the tails where few samples fall. Seeds 0, 1 and 2 all end so.

Three choices matter. A tanh D: ReLU units with small biases put their kinks away from data at
x ~ 4, so a ReLU D is nearly linear over the data, sees little beyond G's mean, and goes flat at
1/2 while G's width is still wrong. D learning 5x faster than G, so that D keeps up with G. And
4-D noise: G's piecewise-linear map of a single noise variable leaves hard edges and spikes.
"""

from gan_jax import configs
from gan_jax import sweeps


def get_config(arg=None):
  c = configs.base_config()
  c.data.name = 'gaussian_1d'     # one Gaussian in 1-D
  c.data.mean = 4.0               # data mean
  c.data.std = 0.5                # data standard deviation
  c.data.num_train = 100_000      # fixed training set drawn from the seed

  configs.mlp_model(c)
  c.model.z_dim = 4               # 4-D Gaussian noise (1-D gave spiky, hard-edged histograms)
  c.model.g_hidden = (32, 32)     # generator ReLU layers
  c.model.d_hidden = (64, 64)     # discriminator tanh layers
  c.model.g_output = 'none'       # real-valued samples
  c.model.d_activation = 'tanh'   # ReLU D went flat at 1/2 with G's width still wrong
  c.model.weight_init = 'default'  # Flax LeCun-normal weights, zero biases

  c.loss.name = 'minimax'         # the saturating generator loss of the paper's game

  c.optim.name = 'adam'           # Adam for both players
  c.optim.g_lr = 2e-4             # G slower than D ...
  c.optim.d_lr = 1e-3             # ... so D tracks G's current distribution
  c.optim.b1 = 0.5                # DCGAN's Adam beta1
  c.optim.b2 = 0.999              # Adam beta2

  c.train.steps = 6000            # generator updates
  c.train.batch_size = 512        # large: less sampling noise near the equilibrium
  c.train.d_steps = 3             # the paper's k (it used 1; 1 also works here, less flat D)
  c.train.ema_decay = 0.0         # plot the generator itself
  c.train.log_every = 250         # steps between progress lines
  c.train.sample_every = 1000     # one plot every 1,000 steps
  c.train.checkpoint_every = 1000  # steps between checkpoints

  if arg == 'smoke':
    c.data.num_train = 256
    c.model.g_hidden = (8,)
    c.model.d_hidden = (8,)
    configs.smoke_train(c)
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c


def get_sweep(name=None):
  """python -m gan_jax.sweeps --config=experiments/gan_1d.py --sweep=NAME --backend=local"""
  if name in (None, 'seeds'):    # the figure on three seeds
    return sweeps.product(seed=[0, 1, 2])
  if name == 'd_steps':          # the paper's k: D updates per G update
    return sweeps.product(**{'train.d_steps': [1, 3, 5]})
  if name == 'smoke':            # two tiny runs, for tests (with --config=...gan_1d.py:smoke)
    return sweeps.zipped(seed=[0, 1], **{'optim.d_lr': [1e-3, 5e-4]})
  raise ValueError(f'unknown sweep {name!r}; choose seeds, d_steps or smoke')
