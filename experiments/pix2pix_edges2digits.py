"""Pix2Pix (Isola et al. 2017) on `edges2digits`: the bundled handwritten digits drawn from
their edge maps, a paired task that needs no download (data/translation.py says how the edges
are computed). A fixed, class-stratified quarter of the digits (450) is held out: the same
images the digits classifier is tested on, never trained on here either.

The official Pix2Pix, scaled to 32x32 and to about 15 minutes on a 2-core CPU:
- G: the U-Net with 5 downsamplings (U-Net-256 has 8; 32 = 2^5) and skips, batch norm, dropout
  0.5 in the three decoder blocks above the innermost, in training and at test time;
- D: a PatchGAN on the (edges, digit) pair, with 2 strided layers rather than 3 (a 34x34
  receptive field: on 32x32 digits the 70x70 PatchGAN would see every image whole);
- the vanilla GAN loss plus lambda_L1 = 100; Adam(2e-4, beta1 0.5), weights N(0, 0.02);
- narrower and shorter: ngf = ndf = 32 (official 64), batch 32 (official 1), the rate
  constant for half the steps and then decaying linearly to zero.

  python -m gan_jax.main --config=experiments/pix2pix_edges2digits.py
  python -m gan_jax.classifier --dataset=digits      # once: the classifier the metrics use
  python -m gan_jax.evaluate --workdir=runs/pix2pix_edges2digits
  python -m gan_jax.translate --workdir=runs/pix2pix_edges2digits --input=EDGES --out=OUT

The evaluation translates the 450 held-out edge maps and reports `class_preserved` (goal: at
least 0.97) and L1, PSNR and SSIM against the held-out digits beside those of the untranslated
edge maps (goal: L1 well below theirs). Measured (docs/RESULTS.md, one run, seed 0):
class_preserved 0.987 and L1 0.031 against the edge maps' 0.337 (both goals met); about 12
minutes of training on 2 idle cores, measured before the U-Net's faster convolution forms.
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  c.family = 'pix2pix'
  configs.translation_data(c, 'edges2digits', image_size=32, channels=1)  # no jitter: digits
  c.data.workers = 2

  configs.translation_model(c, generator='unet', norm='batch')
  c.model.ngf = 32                 # U-Net channels 32, 64, 128, 256, 256 (official 64 ...)
  c.model.ndf = 32                 # PatchGAN channels 32, 64, 128 (official 64, 128, 256, 512)
  c.model.unet_downs = 5           # 32x32 -> 1x1
  c.model.d_layers = 2             # two strided layers: 34x34 patches
  c.model.dropout = 0.5            # the noise source, also at test time
  c.model.dropout_blocks = 3

  c.loss.name = 'non_saturating'   # the official 'vanilla' GAN loss, per patch
  c.loss.l1_weight = 100.0         # lambda_L1
  configs.translation_training(c, steps=2000, decay_steps=1000, batch_size=32)
  c.train.log_every = 100
  c.train.sample_every = 500       # held-out edges | translations | digits
  c.train.checkpoint_every = 500
  c.train.num_samples = 16         # examples per grid
  c.evals.num_samples = 450        # the whole held-out split

  if arg == 'smoke':               # the tiny variant tests train for a few steps
    configs.translation_smoke(c)
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c
