"""Age-cGAN on the bundled digits: "this handwriting, as a 7".

The paper's three parts with the digit's class as the attribute: a conditional GAN over the 10
classes, the label joined to z and to D's input (`concat`, as the paper); an encoder E trained
on the generator's own samples to recover z; and, at use, latent optimisation of E's estimate
for identity, then regeneration with another class (`gan_jax.reattribute`). Trains on the 1,347
digits of the training split, so that the 450 held-out ones can be re-attributed.

  python -m gan_jax.main --config=experiments/agecgan_digits.py
  python -m gan_jax.classifier --dataset=digits      # once: the classifier the metrics use
  python -m gan_jax.reattribute --workdir=runs/agecgan_digits --image=DIGIT.png --to=7
  python -m gan_jax.reattribute --workdir=runs/agecgan_digits --image=DIGIT.png --to=all \\
      --optimise=features
  python -m gan_jax.reattribute --workdir=runs/agecgan_digits --measure=450

`--measure=N` re-attributes N held-out digits to every other class and reports the share the
digits classifier assigns to the class asked for (goal: at least 0.9) and the correlations of
thickness and slant before and after (goal: at least 0.7), pooled over all pairs and within
each class (`reattribute.style_correlations`). Measured (docs/RESULTS.md, seeds 0 and 1): the
class asked for 0.956; within each class, slant 0.72 and 0.75, thickness 0.45 and 0.43. A
re-attribution that kept every digit's standing in its class exactly would score only 0.54
(thickness) and 0.44 (slant) on the pooled figure, since the classes themselves differ in both.
`--config.model.z_skip=True` (not in the paper) raises the thickness to 0.50 and 0.49.

Settings: the conditional DCGAN of cdcgan_digits.py with `concat` conditioning, 3,000 GAN steps
of 64, then 1,000 encoder steps; no EMA (E inverts the generator itself).
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  c.family = 'agecgan'
  configs.image_data(c, 'digits', image_size=32, channels=1)
  c.data.num_classes = 10
  c.data.digits_split = 'train'    # the 450 held-out digits are re-attributed

  configs.dcgan_model(c)
  c.model.conditioning = 'concat'  # the paper: y joined to z and to D's input
  c.model.z_dim = 64
  c.model.g_width = 32
  c.model.d_width = 16
  c.model.e_width = 32             # the encoder: 32 -> 64 -> 128 channels, then z

  configs.dcgan_training(c, steps=4000, batch_size=64)
  c.train.encoder_steps = 1000     # the last 1,000 steps train E alone, G fixed
  c.optim.e_lr = 2e-4
  c.train.ema_decay = 0.0          # E inverts the generator itself
  c.train.log_every = 100
  c.train.sample_every = 500
  c.train.checkpoint_every = 1000
  c.train.num_samples = 100
  c.evals.metrics = ('class_accuracy', 'domain_fd')

  if arg == 'smoke':
    configs.dcgan_smoke(c)
    c.model.e_width = 8
    c.train.steps = 4
    c.train.encoder_steps = 2
    c.train.num_samples = 20
    c.evals.metrics = ()
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c
