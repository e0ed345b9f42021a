"""StyleGAN2 with ADA (Karras et al. 2020) on CIFAR-10 (TFDS `cifar10`), class-conditional, in
the official implementation's `cifar` configuration (stylegan2-ada-pytorch `train.py --cfg=cifar
--cond=1`; REFERENCES.md, StyleGAN2 and ADA).

z = w = 512, 2 mapping layers (with a class embedding), channel base 32768 capped at 512 (512
channels at every resolution), D architecture `orig` (no residual skips), minibatch standard
deviation over groups of 32, conv clamp 256; G 20,215,315 and D 23,089,664 parameters, as the
official modules. Batch 64, Adam(0.0025, betas (0, 0.99)), R1 gamma 0.01 every 16 steps, no
path-length regularisation and no style mixing (the `cifar` configuration turns both off), an
EMA with a half-life of 500k images ramped up over the first images (x 0.05), ADA with the
`bgc` pipeline toward r_t = 0.6, 100,000 kimg (1,562,500 steps).

Published CIFAR-10 FIDs (50k generated against the 50k training images): StyleGAN2-ADA 2.42 in
the ADA paper's configuration; StudioGAN's StyleGAN2 3.78 and StyleGAN2 + ADA 2.31
(REFERENCES.md). Not reproduced here: this configuration has not been trained on our machines
(no CIFAR-10 and no GPU here; it is 100 million images). Its smoke variant trains in the tests
on generated TFDS data: what is checked is that it runs, not what it reaches.

  python -m gan_jax.main --config=experiments/stylegan2_cifar10.py
  python -m gan_jax.sample --workdir=runs/stylegan2_cifar10 --labels=3,7 --truncation_psi=0.7
  --noconfig.model.conditional trains the unconditional `cifar` configuration (G 19,947,539,
  D 20,720,641 parameters).
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  configs.image_data(c, 'cifar10', image_size=32, channels=3)  # 50,000 training images
  c.data.cache = True
  c.data.num_classes = 10          # labels 0..9

  configs.stylegan2_setup(c, steps=1_562_500, batch_size=64, lr=0.0025, r1_gamma=0.01,
                          ema_kimg=500, ema_rampup=0.05, mapping_layers=2, mbstd_group=32)
  c.model.conditional = True       # conditional on the 10 classes (--cond=1)
  c.model.channel_base = 32768     # fmaps 1
  c.model.channel_max = 512
  c.model.d_architecture = 'orig'  # the `cifar` configuration: no residual skips in D
  c.loss.pl_weight = 0.0           # the `cifar` configuration: no path length...
  c.loss.style_mixing = 0.0        # ...and no style mixing
  c.train.log_every = 500
  c.train.sample_every = 10_000
  c.train.checkpoint_every = 10_000
  c.train.num_samples = 100        # one row per class

  if arg == 'smoke':
    configs.stylegan2_smoke(c)
    c.train.num_samples = 20
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c
