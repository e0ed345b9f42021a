"""CycleGAN (Zhu et al. 2017) on horse2zebra (TFDS `cycle_gan/horse2zebra`: 1,067 horses and
1,334 zebras to train on), with the official implementation's settings
(pytorch-CycleGAN-and-pix2pix `scripts/train_cyclegan.sh`; REFERENCES.md): 256x256 crops of
images loaded at 286 with random flips, two ResNet generators with 9 blocks, reflection padding
and instance norm (11,378,179 parameters each), two 70x70 PatchGANs with instance norm
(2,764,737 each), the least-squares GAN loss, cycle loss lambda = 10 both ways, identity loss
0.5 lambda, an image pool of 50 per discriminator, one Adam(2e-4, beta1 0.5) over both
generators and one over both discriminators, D's loss halved, batch 1; 100 epochs at the full
rate and 100 decaying linearly to zero, an epoch being the larger domain: 200 x 1,334 = 266,800
steps.

  python -m gan_jax.main --config=experiments/cyclegan_horse2zebra.py
  python -m gan_jax.main --config=experiments/cyclegan_horse2zebra.py \\
      --config.data.name=unpaired --config.data.path=datasets/horse2zebra  # trainA/, trainB/

Evaluation translates the test horses (testA) and reports the FID of the translations against
the test zebras beside that of the untranslated horses (InceptionV3 weights as in the README).
Batch 1 divides over one device only: on several, set train.batch_size to a multiple of their
number.

This config has not been trained on our machines (no horse2zebra and no GPU here). Its smoke
variant trains in the tests on mocked TFDS data, so what is checked is that it runs, not what
it reaches.
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  c.family = 'cyclegan'
  configs.translation_data(c, 'cycle_gan/horse2zebra', image_size=256, channels=3,
                           load_size=286, flip=True)

  configs.translation_model(c, generator='resnet', norm='instance')  # ngf = ndf = 64
  c.model.resnet_blocks = 9
  c.model.d_layers = 3
  c.model.dropout = 0.0
  c.loss.name = 'least_squares'
  c.loss.cycle_weight = 10.0
  c.loss.identity_weight = 0.5
  c.train.pool_size = 50
  configs.translation_training(c, steps=266_800, decay_steps=133_400, batch_size=1)
  c.train.log_every = 500
  c.train.sample_every = 5000
  c.train.checkpoint_every = 5000
  c.train.num_samples = 6
  c.evals.metrics = ('translation_fid',)
  c.evals.num_samples = 120        # testA: 120 horses

  if arg == 'smoke':               # tested on mocked TFDS data
    configs.translation_smoke(c)
    c.data.image_size = 32
    c.data.load_size = 36
    c.model.resnet_blocks = 1
    c.evals.metrics = ()
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c
