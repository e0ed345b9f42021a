"""Class-conditional DCGAN on the handwritten digits bundled with scikit-learn.

The quickstart's DCGAN (dcgan_digits.py) with labels: conditional batch norm in G (one scale and
shift per class) and a projection discriminator (Miyato & Koyama 2018), by default.
`--config.model.conditioning=concat` gives the original conditional GAN (Mirza & Osindero 2014:
a one-hot label joined to z and to D's input), `acgan` an auxiliary classifier in D (Odena et al.
2017) whose class loss both players add. No download; about as long as the quickstart on a
2-core CPU. Sample grids have one row per class.

  python -m gan_jax.main --config=experiments/cdcgan_digits.py
  python -m gan_jax.sample --workdir=runs/cdcgan_digits --labels=3,7
  python -m gan_jax.classifier --dataset=digits      # once: the classifier the metrics use
  python -m gan_jax.evaluate --workdir=runs/cdcgan_digits

The evaluation reports `class_accuracy` (goal: at least 0.95 on 10,000 samples; the digits
classifier's own test accuracy, 0.991, is the ceiling), `intra_fd` and `domain_fd`. Measured
(docs/RESULTS.md, one run each, 3,000 steps): projection 0.999 but with little variety within a
class (domain FD 42.4, the quickstart 20.3); concat 0.980 (domain FD 9.5); acgan 0.108, a
failure on this task. During training, the same metrics every 1,000 steps:

  python -m gan_jax.main --config=experiments/cdcgan_digits.py \
      --config.evals.metrics="('class_accuracy', 'intra_fd')" --config.evals.every=1000
"""

from gan_jax import configs
from gan_jax import sweeps


def get_config(arg=None):
  c = configs.base_config()
  c.family = 'conditional'         # labels reach G and D
  configs.image_data(c, 'digits', image_size=32, channels=1)  # resized from 8x8; no download
  c.data.num_classes = 10          # the digits 0..9

  configs.dcgan_model(c)
  c.model.conditioning = 'projection'  # 'concat' | 'projection' | 'acgan'
  c.model.z_dim = 64               # as the quickstart
  c.model.g_width = 32             # generator channels: 128 -> 64 -> 32 -> 1
  c.model.d_width = 16             # discriminator channels: 16 -> 32 -> 64
  c.loss.class_weight = 1.0        # acgan only: weight of the class cross-entropy

  # The quickstart's schedule: non-saturating loss, Adam(2e-4, beta1 0.5), 3,000 steps of 64.
  configs.dcgan_training(c, steps=3000, batch_size=64)
  c.train.log_every = 100
  c.train.sample_every = 500       # a grid: one row of 10 samples per class
  c.train.checkpoint_every = 1000
  c.train.num_samples = 100        # 10 classes x 10

  if arg == 'smoke':               # the tiny variant tests train for a few steps
    configs.dcgan_smoke(c)
    c.train.num_samples = 20
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c


def get_sweep(name=None):
  """python -m gan_jax.sweeps --config=experiments/cdcgan_digits.py --sweep=NAME --backend=local"""
  if name in (None, 'conditioning'):   # the three ways labels enter
    return sweeps.product(**{'model.conditioning': ['projection', 'concat', 'acgan']})
  if name == 'seeds':
    return sweeps.product(seed=[0, 1, 2])
  raise ValueError(f'unknown sweep {name!r}; choose conditioning or seeds')
