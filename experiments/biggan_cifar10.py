"""BigGAN (Brock et al. 2019) on CIFAR-10 (TFDS `cifar10`), class-conditional, 32x32: the
settings of BigGAN-PyTorch's CIFAR script (`scripts/launch_cifar_ema.sh`; REFERENCES.md).

G: z of 128 -> 4x4x256, three residual up-blocks of 256 channels with class-conditional batch
norm (a gain and bias per class; no shared embedding, no hierarchical latents), BN, ReLU, 3x3
conv, tanh (4,304,387 parameters). D: four residual blocks of 256 channels, the first two
downsampling, ReLU, sum pooling, a dense layer plus the projection term (4,207,361 parameters).
Spectral normalisation in G and D; no self-attention; no orthogonal regularisation; weights
N(0, 0.02). Hinge loss; Adam(2e-4, beta1 0, beta2 0.999) for both players; 4 D steps per G
step, batch 50; an EMA generator (decay 0.9999) with standing statistics. The script trains 500
epochs: 125,000 steps of 4 x 50 images. Paper: CIFAR-10 IS 9.22, FID 14.73.

  python -m gan_jax.main --config=experiments/biggan_cifar10.py

Differences from the script: the EMA warms up from the first step (min(0.9999, (1 + t) /
(10 + t))) where the script starts it at iteration 1,000, and batch norm takes its statistics
over all devices. Batch 50 divides over 1, 2, 5 or 10 devices; elsewhere choose a multiple.

This config has not been trained to completion on our machines (no CIFAR-10 and no GPU here).
Its smoke variant trains in the tests on generated TFDS data, so what is checked is that it
runs, not what it reaches.
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  c.family = 'conditional'
  configs.image_data(c, 'cifar10', image_size=32, channels=3)  # 50,000 training images
  c.data.cache = True
  c.data.num_classes = 10

  configs.resnet_model(c)          # BigGAN-PyTorch's defaults: G_ch = D_ch = 64, arch 32
  c.model.z_dim = 128
  c.model.g_ch = 64
  c.model.d_ch = 64
  c.model.shared_dim = 0           # G_shared off in the CIFAR script
  c.model.hierarchical = False
  c.model.g_attention = 0          # G_attn 0, D_attn 0
  c.model.d_attention = 0
  c.model.conditioning = 'projection'
  c.model.weight_init = 'normal'   # G_init = D_init = N02
  c.loss.ortho_weight = 0.0        # G_ortho 0.0

  configs.hinge_training(c, steps=125_000, batch_size=50, d_steps=4, g_lr=2e-4, d_lr=2e-4,
                         b2=0.999)
  c.train.ema_decay = 0.9999
  c.train.log_every = 500
  c.train.sample_every = 5000
  c.train.checkpoint_every = 2000
  c.train.num_samples = 100        # 10 classes x 10

  if arg == 'smoke':
    configs.resnet_smoke(c)
    c.train.num_samples = 20
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c
