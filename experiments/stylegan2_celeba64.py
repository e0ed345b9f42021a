"""StyleGAN2 with ADA (Karras et al. 2020) on CelebA at 64x64 (TFDS `celeb_a`, or a folder of
images at 64 to 256 pixels with `--config.data.path=DIR --config.data.name=folder`), in the
official implementation's `auto` configuration at 64x64 for 8 GPUs (stylegan2-ada-pytorch
`train.py --cfg=auto`; REFERENCES.md, StyleGAN2 and ADA).

z = w = 512, 2 mapping layers, channel base 16384 capped at 512, the residual D, minibatch
standard deviation over groups of 4, conv clamp 256; G 22,243,608 and D 23,407,361 parameters,
as the official modules. Batch 64, Adam(0.0025, betas (0, 0.99)), R1 gamma
0.0002 * 64^2 / 64 = 0.0128 every 16 steps, path length (weight 2) every 4, style mixing 0.9,
an EMA with a half-life of 20k images ramped up (x 0.05), ADA (`bgc`, r_t = 0.6). Faces: the
aligned 178x218 images centre-cropped to 108x108 and resized to 64x64, as our DCGAN CelebA.
`--config.data.image_size=128` (or 256) trains a folder at that size with the same settings.

Not trained on our machines (no CelebA and no GPU here); its smoke variant trains in the tests
on generated TFDS data.

  python -m gan_jax.main --config=experiments/stylegan2_celeba64.py [--config.data.path=DIR]
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  configs.image_data(c, 'celeb_a', image_size=64, channels=3, crop=108)
  c.data.cache = True

  configs.stylegan2_setup(c, steps=390_625, batch_size=64, lr=0.0025,  # 25,000 kimg
                          r1_gamma=0.0002 * 64 ** 2 / 64, ema_kimg=20, ema_rampup=0.05,
                          mapping_layers=2, mbstd_group=4)
  c.model.channel_base = 16384     # fmaps 0.5
  c.model.channel_max = 512
  c.train.log_every = 500
  c.train.sample_every = 10_000
  c.train.checkpoint_every = 10_000

  if arg == 'smoke':
    configs.stylegan2_smoke(c)
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c
