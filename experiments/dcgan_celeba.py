"""DCGAN on CelebA at 64x64, as in the DCGAN paper (Radford et al. 2015).

Batch 128, Adam(2e-4, beta1 0.5), non-saturating loss, weights N(0, 0.02), batch norm in G
and D. Faces appear within the first epoch (about 1,600 steps) and sharpen over ~25 epochs.

CelebA itself comes with the TFDS input pipeline, which this version does not have yet: until
then, train or benchmark on random images of the same shape with

  python -m gan_jax.main --config=experiments/dcgan_celeba.py --config.data.name=synthetic
  python benchmarks/step.py --config=experiments/dcgan_celeba.py --peer=torch
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  c.data.name = 'celeb_a'          # TFDS celeb_a; 'synthetic' for random images of this shape
  c.data.image_size = 64           # centre-cropped and resized to 64x64
  c.data.channels = 3              # RGB
  c.data.num_train = 2048          # synthetic only: how many random images to make

  configs.dcgan_model(c)
  c.model.z_dim = 100              # the paper's 100-d latent
  c.model.g_width = 64             # generator channels: 512 -> 256 -> 128 -> 64 -> 3
  c.model.d_width = 64             # discriminator channels: 64 -> 128 -> 256 -> 512
  c.model.downconv = 'blocks'      # exact; 1.4x faster D convolutions at these sizes on CPU

  c.loss.name = 'non_saturating'

  c.optim.g_lr = 2e-4              # Adam(2e-4, beta1 0.5, beta2 0.999)
  c.optim.d_lr = 2e-4
  c.optim.b1 = 0.5

  c.train.steps = 40000            # about 25 epochs of CelebA's 202,599 images
  c.train.batch_size = 128         # the paper's batch
  c.train.ema_decay = 0.999        # samples come from the EMA generator
  c.train.log_every = 100
  c.train.sample_every = 1000
  c.train.checkpoint_every = 2000
  c.train.num_samples = 64

  if arg == 'smoke':
    c.data.name = 'synthetic'
    c.data.num_train = 64
    c.model.z_dim = 8
    c.model.g_width = 4
    c.model.d_width = 4
    configs.smoke_train(c)
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c
