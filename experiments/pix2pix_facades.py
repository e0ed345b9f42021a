"""Pix2Pix (Isola et al. 2017) on CMP Facades in the aligned format, with the official
implementation's settings (pytorch-CycleGAN-and-pix2pix `scripts/train_pix2pix.sh`;
REFERENCES.md): labels -> photo (`data.direction='BtoA'`: each file holds the photo on the left
and the label map on the right), 256x256 crops of images loaded at 286 with random flips, the
U-Net-256 generator (54,413,955 parameters) with batch norm and dropout 0.5, the 70x70 PatchGAN
(n_layers 3, 2,768,705 parameters) on the pair, the vanilla GAN loss plus lambda_L1 = 100,
Adam(2e-4, beta1 0.5), batch 1, weights N(0, 0.02); 100 epochs at the full rate and 100
decaying linearly to zero: 200 x 400 = 80,000 steps.

  python -m gan_jax.main --config=experiments/pix2pix_facades.py \\
      --config.data.path=datasets/facades      # holds train/, test/ and val/

The official release (facades.tar.gz) has train 400, test 106 and val 100 images; evaluation
uses `test`. Batch 1 divides over one device only: on several, set train.batch_size to a
multiple of their number (the official multi-GPU runs raise the batch likewise). Differences:
batch norm takes its statistics over all devices, and the generator in evaluation uses its
running statistics (the official test script keeps batch statistics, which with batch 1 is an
instance norm).

This config has not been trained on our machines (no facades and no GPU here). Its smoke
variant trains in the tests on generated images in the aligned format, so what is checked is
that it runs, not what it reaches.
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  c.family = 'pix2pix'
  configs.translation_data(c, 'aligned', image_size=256, channels=3, load_size=286, flip=True,
                           direction='BtoA')
  c.data.path = 'datasets/facades'

  configs.translation_model(c, generator='unet', norm='batch')  # ngf = ndf = 64, unet_256
  c.model.d_layers = 3             # the 70x70 PatchGAN
  c.model.dropout = 0.5
  c.loss.name = 'non_saturating'   # 'vanilla'
  c.loss.l1_weight = 100.0
  configs.translation_training(c, steps=80_000, decay_steps=40_000, batch_size=1)
  c.train.log_every = 400
  c.train.sample_every = 4000
  c.train.checkpoint_every = 4000
  c.train.num_samples = 8
  c.evals.num_samples = 106        # the test split

  if arg == 'smoke':               # tested on generated aligned images
    configs.translation_smoke(c)
    c.data.image_size = 32
    c.data.load_size = 36
    c.model.unet_downs = 5
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c
