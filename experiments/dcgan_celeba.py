"""DCGAN on CelebA at 64x64, as in the DCGAN paper (Radford et al. 2015).

Batch 128, Adam(2e-4, beta1 0.5), non-saturating loss, weights N(0, 0.02), batch norm in G
and D. Images: the 178x218 aligned faces, centre-cropped to 108x108 and resized to 64x64.

  python -m gan_jax.main --config=experiments/dcgan_celeba.py

reads TFDS celeb_a (prepared in array_record format; see the README for preparing it). With
CelebA's own img_align_celeba/ folder at hand, train on it instead with one override:

  python -m gan_jax.main --config=experiments/dcgan_celeba.py --config.data.path=DIR

and benchmark the step on random images of the same shape with

  python benchmarks/step.py --config=experiments/dcgan_celeba.py --peer=torch
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  configs.image_data(c, 'celeb_a', image_size=64, channels=3, crop=108)  # TFDS split 'train'
  c.data.cache = True              # decoded once, then from memory (2.0 GiB at 64x64)
  c.data.num_train = 2048          # --config.data.name=synthetic only: random images to make

  configs.dcgan_model(c)
  c.model.z_dim = 100              # the paper's 100-d latent
  c.model.g_width = 64             # generator channels: 512 -> 256 -> 128 -> 64 -> 3
  c.model.d_width = 64             # discriminator channels: 64 -> 128 -> 256 -> 512
  c.model.downconv = 'blocks'      # exact; 1.4x faster D convolutions at these sizes on CPU
  c.model.upconv = 'phases'        # exact; on a 2-core CPU the fastest way at these sizes
  c.model.upconv_out = 'phases'    # (docs/PERFORMANCE.md)
  c.model.upconv_grad = 'autodiff'

  # About 31 epochs of the 162,770 training faces at the paper's batch of 128.
  configs.dcgan_training(c, steps=40000, batch_size=128)
  c.train.log_every = 100
  c.train.sample_every = 1000
  c.train.checkpoint_every = 2000
  c.train.num_samples = 64

  if arg == 'smoke':
    configs.dcgan_smoke(c, width=4)
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c
