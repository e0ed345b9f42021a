"""StyleGAN2 with ADA (Karras et al. 2020) on the 1,797 handwritten digits bundled with
scikit-learn, at 32x32, class-conditional. No download.

The official StyleGAN2 game and training loop (family 'stylegan2') in the official
implementation's 32x32 (`cifar`) configuration, conditional on the 10 digits as that
configuration is on CIFAR-10's classes (`--cond=1`): the mapping network with a class embedding
at 0.01 of the learning rate and the tracked average w, the skip generator with modulated and
demodulated convolutions, noise inputs and [1, 3, 3, 1] resampling, the residual D with
minibatch standard deviation and a projection of the class, the non-saturating logistic loss,
lazy R1 (every 16 steps), path-length regularisation (weight 2, every 4 steps) and style
mixing (0.9), as in the official configurations other than `cifar` (which turns both off),
Adam(0.0025, betas (0, 0.99)) adjusted for the lazy intervals,
an EMA with a half-life in images ramped up, and ADA's `bgc` pipeline driven toward r_t = 0.6
(the set is tiny: ADA is what the paper made for it). `--noconfig.model.conditional` trains the
unconditional game; `--config.loss.pl_weight=0 --config.loss.style_mixing=0` plays the `cifar`
configuration's game, without the two.

It trains on the 1,347 digits of the shared split's training part (`data.digits_split`), so
that the 450 held-out digits (the classifier's test set) can be projected into its latent
space as images it has never seen.

Scaled for a 2-core CPU: z = w = 64, 4 mapping layers (official 8; cifar 2), channels
min(1024 / r, 64): 64 at 4x4 to 16x16, 32 at 32x32 (official cifar: 512 throughout), the
residual D (cifar: `orig`), batch 32 with minibatch-stddev groups of 4, an EMA half-life of
10k images ramped up (x 0.05), and ADA's p moving by at most 1 per 100k images (official 500k,
tuned for runs of millions of images). 3,500 steps of 32 (112k images, about 83 passes over
the 1,347 digits), about 20 minutes on 2 cores.

R1 gamma 0.6, where the `auto` configuration's heuristic 0.0002 r^2 / batch gives 0.0064 and
the `cifar` configuration has 0.01. Without path length and style mixing, over seeds 0 and 1,
the domain FD is 8.0 and 8.8 at 0.0064, 4.7 and 5.8 at 0.064, 4.2 and 4.2 at 0.2, and 3.8 and
4.1 at 0.6. Turning the two on at 0.6 raises the samples' spread within a class from 0.80 and
0.79 of the real digits' to 0.83 and 0.87, for a domain FD of 4.3 and 5.0 (docs/RESULTS.md).

  python -m gan_jax.main --config=experiments/stylegan2_digits.py
  python -m gan_jax.sample --workdir=runs/stylegan2_digits --truncation_psi=0.7
  python -m gan_jax.sample --workdir=runs/stylegan2_digits --style_mix
  python -m gan_jax.project --workdir=runs/stylegan2_digits --image=DIGIT.png --label=K \\
      --out=projection
  python -m gan_jax.classifier --dataset=digits      # once: the classifier the metrics use
  python -m gan_jax.evaluate --workdir=runs/stylegan2_digits

The metrics use the digits classifier: domain FD in its features, `class_accuracy`, `intra_fd`,
and `class_spread`, the samples' mean distance to their class's mean feature (by predicted
class) beside the real digits'. Goals: domain FD below the other digits families', and the
spread close to the real digits'. Measured: see docs/RESULTS.md.
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  configs.image_data(c, 'digits', image_size=32, channels=1)  # resized from 8x8; no download
  c.data.num_classes = 10          # labels 0..9
  c.data.digits_split = 'train'    # 1,347 digits; the classifier's 450 test digits held out

  configs.stylegan2_setup(c, steps=3500, batch_size=32, lr=0.0025,
                          r1_gamma=0.6, ema_kimg=10, ema_rampup=0.05,  # gamma: see above
                          mapping_layers=4, mbstd_group=4)
  c.model.conditional = True       # conditional on the 10 digits (--cond=1)
  c.loss.pl_weight = 2.0           # path length and style mixing, which the `cifar`
  c.loss.style_mixing = 0.9        # configuration turns off: more spread (see above)
  c.model.z_dim = 64
  c.model.w_dim = 64
  c.model.channel_base = 1024      # channels min(1024 / resolution, 64)
  c.model.channel_max = 64
  c.train.ada_kimg = 100.0
  c.train.log_every = 100
  c.train.sample_every = 500
  c.train.checkpoint_every = 500
  c.train.num_samples = 64
  c.evals.metrics = ('domain_fd', 'class_accuracy', 'intra_fd', 'class_spread')
  c.evals.num_samples = 1797       # as many samples as real digits
  c.evals.num_real = 1797

  if arg == 'smoke':
    configs.stylegan2_smoke(c)
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c
