"""SNGAN (Miyato et al. 2018) on CIFAR-10 (TFDS `cifar10`), unconditional, 32x32: the paper's
ResNet architecture and its CIFAR-10 settings (REFERENCES.md, SNGAN).

G: z of 128 -> 4x4x256, three residual up-blocks of 256 channels, BN, ReLU, 3x3 conv, tanh
(4,276,739 parameters). D: four residual blocks of 128 channels, the first "optimized", the
first two downsampling, ReLU, sum pooling, a dense layer without bias (1,053,824 parameters).
Spectral normalisation on every weight of D, with one power iteration per update; none in G
(the paper's). Hinge loss; Adam(2e-4, beta1 0, beta2 0.9); 5 D steps per G step; batch 64;
50,000 generator updates; Glorot initialisation as the reference code. Paper: FID 21.7, IS 8.22
(unconditional CIFAR-10).

  python -m gan_jax.main --config=experiments/sngan_cifar10.py

This config has not been trained to completion on our machines (no CIFAR-10 and no GPU here:
about 250,000 D and 50,000 G updates). Its smoke variant trains in the tests on generated TFDS
data, so what is checked is that it runs, not what it reaches. `--config.model.g_sn=true` puts
spectral norm in G too (as SAGAN and BigGAN do).
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  configs.image_data(c, 'cifar10', image_size=32, channels=3)  # 50,000 training images
  c.data.cache = True
  c.data.num_classes = 10          # labels 0..9 (unused: unconditional)

  configs.resnet_model(c)
  c.model.z_dim = 128
  c.model.g_ch = 64                # G channels 64 x 4 = 256 at every resolution
  c.model.g_mults = (4, 4, 4, 4)
  c.model.d_ch = 128               # D channels 128 in each block
  c.model.d_mults = (1, 1, 1, 1)
  c.model.d_down = (True, True, False, False)
  c.model.d_wide = False           # SNGAN's blocks: hidden channels = the input's
  c.model.d_linear_bias = False    # SNGAN's final dense layer has no bias
  c.model.g_sn = False             # the paper normalises D only
  c.model.d_sn = True
  c.model.weight_init = 'xavier'   # Glorot uniform (gain sqrt(2) in the residual convs)

  configs.hinge_training(c, steps=50_000, batch_size=64, d_steps=5, g_lr=2e-4, d_lr=2e-4,
                         b2=0.9)
  c.train.ema_decay = 0.0          # the paper evaluates the generator itself
  c.train.log_every = 500
  c.train.sample_every = 5000
  c.train.checkpoint_every = 5000
  c.train.num_samples = 64

  if arg == 'smoke':
    configs.resnet_smoke(c)
    c.model.d_ch = 4
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c
