"""StyleGAN2 with ADA (Karras et al. 2020) on FFHQ at 256x256 from a folder of images
(`--config.data.path=DIR`), in the official implementation's `paper256` configuration
(stylegan2-ada-pytorch `train.py --cfg=paper256`; REFERENCES.md, StyleGAN2 and ADA).

z = w = 512, 8 mapping layers, channel base 16384 capped at 512, the residual D, minibatch
standard deviation over groups of 8, conv clamp 256; G 24,767,458 and D 24,001,089 parameters,
as the official modules. Batch 64, Adam(0.0025, betas (0, 0.99)), R1 gamma 1 every 16 steps,
path length (weight 2) every 4, style mixing 0.9, an EMA with a half-life of 20k images (no
ramp-up), ADA (`bgc`, r_t = 0.6), 25,000 kimg. The official FFHQ runs also mirror the data
(x-flips); this experiment does not.

Not trained on our machines (no FFHQ and no GPU here); its smoke variant trains in the tests on
a generated folder. Speed anchor: the official code at 256x256 takes 21.6-24.2 s per thousand
images on one V100 (REFERENCES.md).

  python -m gan_jax.main --config=experiments/stylegan2_ffhq256.py --config.data.path=DIR
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  configs.image_data(c, 'folder', image_size=256, channels=3)  # --config.data.path=DIR
  c.data.cache = False              # 70,000 faces at 256x256 are 13 GiB decoded

  configs.stylegan2_setup(c, steps=390_625, batch_size=64, lr=0.0025, r1_gamma=1.0,
                          ema_kimg=20, mapping_layers=8, mbstd_group=8)
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
