"""StackGAN (Zhang et al. 2017): two generators and two matching-aware discriminators, the
layers of the reference PyTorch implementation (StackGAN-Pytorch `code/model.py`) at any
power-of-two sizes.

- `ConditioningAugmentation`: a dense layer from the description embedding to 2 x
  `condition_dim` (with bias), then the reference's ReLU (`ca_activation`; 'leaky_relu' as the
  original TensorFlow code, or 'none'), split into mu and log sigma^2; c = mu + sigma * eps with
  eps given by the caller (drawn per example by the step).
- `Stage1Generator` (`width` = the reference's GF_DIM; its widest layer has 8 x width
  channels): [c, z] -> dense (no bias) + batch norm + ReLU to 4x4, then up-blocks (nearest 2x
  upsampling, 3x3 convolution without bias, batch norm, ReLU) halving the channels, to
  `stage1_size`; a 3x3 convolution (no bias) and tanh out.
- `Stage2Generator`: stage I's image -> 3x3 conv + ReLU, two stride-2 4x4 convs (batch norm,
  ReLU) to stage1_size / 4 with 4 x width channels; joined with its own c tiled over the map, a
  3x3 conv, `residual_blocks` residual blocks, up-blocks to `size`, 3x3 conv and tanh.
- `Discriminator` (stage I and II): stride-2 4x4 convolutions without bias (batch norm except
  on the first, LeakyReLU 0.2) doubling the channels from `width` to 4x4; where that ends wider
  than 8 x width (stage II at 256: 32 x width), 3x3 convs (batch norm, LeakyReLU) halve it to 8
  x width. Its conditional head joins the condition tiled over the 4x4 map, a 3x3 conv (batch
  norm, LeakyReLU) and a 4x4 convolution to one logit; stage II also has an unconditional
  head, a 4x4 convolution on the features alone. Its condition is the generator's mu (the
  PyTorch reference), or with `model.d_condition='embedding'` the description itself through
  D's own dense layer and leaky ReLU (the original TensorFlow code). The reference ends both heads with a sigmoid
  for BCELoss; here they return logits, for the same loss computed stably.

Parameter counts at the reference's defaults (TEXT.DIMENSION 1024, CONDITION_DIM 128, Z_DIM 100,
GF_DIM 128, DF_DIM 64, R_NUM 4; stage I 64x64, stage II 256x256, RGB) are those of the reference
modules, stated in tests/test_stackgan.py.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import layers

ACTIVATIONS = ('relu', 'leaky_relu', 'none')
D_CONDITIONS = ('mu', 'embedding')


def _bn(train: bool, axis_name, dtype):
  return layers.norm_layer('batch', train=train, axis_name=axis_name, dtype=dtype)


def _conv3(features: int, dtype, name=None):
  return nn.Conv(features, (3, 3), padding=((1, 1), (1, 1)), use_bias=False, dtype=dtype,
                 kernel_init=layers.dcgan_kernel_init, name=name)


def _down(features: int, dtype):
  return nn.Conv(features, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), use_bias=False,
                 dtype=dtype, kernel_init=layers.dcgan_kernel_init)


def _upsample(x):
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _tile(c, size: int):
  return jnp.broadcast_to(c[:, None, None, :], (c.shape[0], size, size, c.shape[-1]))


def log2_steps(big: int, small: int, what: str) -> int:
  """How many halvings take `big` to `small`; raises unless it is a power-of-two ratio."""
  steps = math.log2(big / small) if big >= small > 0 else -1
  if steps < 0 or steps != int(steps):
    raise ValueError(f'{what}: {big} is not {small} times a power of two')
  return int(steps)


def _up_blocks_to_image(x, steps: int, channels: int, train: bool, axis_name, dtype):
  """The generators' end: `steps` up-blocks (nearest 2x, 3x3 conv halving the channels, batch
  norm, ReLU), then a 3x3 conv to `channels` and tanh. Called inside a generator's compact
  method, so its layers are the generator's own."""
  for _ in range(steps):
    x = _conv3(x.shape[-1] // 2, dtype)(_upsample(x))
    x = nn.relu(_bn(train, axis_name, dtype)(x))
  return jnp.tanh(_conv3(channels, dtype)(x)).astype(jnp.float32)


class ConditioningAugmentation(nn.Module):
  condition_dim: int
  activation: str = 'relu'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, embedding, eps):
    x = nn.Dense(2 * self.condition_dim, dtype=self.dtype,
                 kernel_init=layers.dcgan_kernel_init)(embedding.astype(self.dtype))
    if self.activation == 'relu':
      x = nn.relu(x)
    elif self.activation == 'leaky_relu':
      x = nn.leaky_relu(x, 0.2)
    mu = x[:, :self.condition_dim].astype(jnp.float32)
    logvar = x[:, self.condition_dim:].astype(jnp.float32)
    return mu + jnp.exp(0.5 * logvar) * eps, mu, logvar


class Stage1Generator(nn.Module):
  size: int
  channels: int
  width: int = 128
  condition_dim: int = 128
  ca_activation: str = 'relu'
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, embedding, z, eps, *, train: bool):
    """(image, mu, logvar) of descriptions `embedding` (n, dim), latents z and CA noise eps."""
    c, mu, logvar = ConditioningAugmentation(self.condition_dim, self.ca_activation,
                                             self.dtype, name='ca')(embedding, eps)
    top = 8 * self.width
    x = jnp.concatenate([z.astype(self.dtype), c.astype(self.dtype)], axis=-1)
    x = nn.Dense(4 * 4 * top, use_bias=False, dtype=self.dtype,
                 kernel_init=layers.dcgan_kernel_init)(x)
    x = nn.relu(_bn(train, self.axis_name, self.dtype)(x))
    x = x.reshape(x.shape[0], 4, 4, top)
    image = _up_blocks_to_image(x, log2_steps(self.size, 4, 'stage I size'), self.channels,
                                train, self.axis_name, self.dtype)
    return image, mu, logvar


class ResidualBlock(nn.Module):
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool):
    channels = x.shape[-1]
    h = nn.relu(_bn(train, self.axis_name, self.dtype)(_conv3(channels, self.dtype)(x)))
    h = _bn(train, self.axis_name, self.dtype)(_conv3(channels, self.dtype)(h))
    return nn.relu(h + x)


class Stage2Generator(nn.Module):
  size: int
  stage1_size: int
  channels: int
  width: int = 128
  condition_dim: int = 128
  residual_blocks: int = 4
  ca_activation: str = 'relu'
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, embedding, stage1_image, eps, *, train: bool):
    """(image, mu, logvar): stage I's image refined, conditioned on `embedding` again."""
    c, mu, logvar = ConditioningAugmentation(self.condition_dim, self.ca_activation,
                                             self.dtype, name='ca')(embedding, eps)
    ngf = self.width
    x = nn.relu(_conv3(ngf, self.dtype)(stage1_image.astype(self.dtype)))
    for features in (2 * ngf, 4 * ngf):
      x = nn.relu(_bn(train, self.axis_name, self.dtype)(_down(features, self.dtype)(x)))
    x = jnp.concatenate([x, _tile(c.astype(self.dtype), x.shape[1])], axis=-1)
    x = nn.relu(_bn(train, self.axis_name, self.dtype)(_conv3(4 * ngf, self.dtype)(x)))
    for _ in range(self.residual_blocks):
      x = ResidualBlock(self.axis_name, self.dtype)(x, train=train)
    image = _up_blocks_to_image(
        x, log2_steps(self.size, self.stage1_size // 4, 'stage II size'), self.channels, train,
        self.axis_name, self.dtype)
    return image, mu, logvar


class Discriminator(nn.Module):
  """D(x, conditions) -> ([one logit per example for each condition], unconditional logit or
  None). The image features are computed once; each condition gets its own pass through the
  conditional head (batch norm over that pass), as the reference calls its head once per pair
  kind. With `embed` (the original TensorFlow code's discriminator), each condition is a raw
  description embedding that D compresses itself, a dense layer to `condition_dim` and leaky
  ReLU; without (the PyTorch reference), it is the generator's mu."""
  width: int = 64
  unconditional: bool = False     # stage II: also an unconditional head
  embed: bool = False
  condition_dim: int = 128
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, conditions, *, train: bool):
    ndf = self.width
    x = x.astype(self.dtype)
    for i in range(log2_steps(x.shape[1], 4, 'discriminator input size')):
      x = _down(ndf * 2 ** i, self.dtype)(x)
      if i > 0:
        x = _bn(train, self.axis_name, self.dtype)(x)
      x = nn.leaky_relu(x, 0.2)
    while x.shape[-1] > 8 * ndf:
      x = _conv3(x.shape[-1] // 2, self.dtype)(x)
      x = nn.leaky_relu(_bn(train, self.axis_name, self.dtype)(x), 0.2)
    features = x
    conv = _conv3(features.shape[-1], self.dtype, name='cond_conv')
    norm = _bn(train, self.axis_name, self.dtype)
    out = nn.Conv(1, (4, 4), padding='VALID', dtype=self.dtype,
                  kernel_init=layers.dcgan_kernel_init, name='cond_logit')
    if self.embed:
      compress = nn.Dense(self.condition_dim, dtype=self.dtype,
                          kernel_init=layers.dcgan_kernel_init, name='embedding')
      conditions = [nn.leaky_relu(compress(c.astype(self.dtype)), 0.2) for c in conditions]
    logits = []
    for c in conditions:
      h = jnp.concatenate([features, _tile(c.astype(self.dtype), 4)], axis=-1)
      h = nn.leaky_relu(norm(conv(h)), 0.2)
      logits.append(out(h).reshape(-1).astype(jnp.float32))
    uncond = None
    if self.unconditional:
      uncond = nn.Conv(1, (4, 4), padding='VALID', dtype=self.dtype,
                       kernel_init=layers.dcgan_kernel_init,
                       name='uncond_logit')(features).reshape(-1).astype(jnp.float32)
    return logits, uncond


def build(model_config, out_shape, dtype, num_classes: int = 0):
  """((stage I G, stage I D), (stage II G, stage II D)) for final images of `out_shape`;
  stage I at `model.stage1_size`. (Two pairs, unlike the other architectures' one: the
  'stackgan' family builds its models through here.)"""
  del num_classes  # the class, where there is one, is part of the description
  size, _, channels = out_shape
  c = model_config
  if c.ca_activation not in ACTIVATIONS:
    raise ValueError(f'unknown model.ca_activation {c.ca_activation!r}; choose one of '
                     f'{list(ACTIVATIONS)}')
  s1 = c.stage1_size
  log2_steps(s1, 4, 'model.stage1_size (8 or more, a power of two)')
  if s1 < 8:
    raise ValueError(f'model.stage1_size={s1}: stage I needs at least 8x8 images')
  g1 = Stage1Generator(size=s1, channels=channels, width=c.g1_width,
                       condition_dim=c.condition_dim, ca_activation=c.ca_activation, dtype=dtype)
  if c.d_condition not in D_CONDITIONS:
    raise ValueError(f'unknown model.d_condition {c.d_condition!r}; choose one of '
                     f'{list(D_CONDITIONS)}')
  embed = c.d_condition == 'embedding'
  d1 = Discriminator(width=c.d1_width, embed=embed, condition_dim=c.condition_dim, dtype=dtype)
  g2 = Stage2Generator(size=size, stage1_size=s1, channels=channels, width=c.g2_width,
                       condition_dim=c.condition_dim, residual_blocks=c.residual_blocks,
                       ca_activation=c.ca_activation, dtype=dtype)
  d2 = Discriminator(width=c.d2_width, unconditional=True, embed=embed,
                     condition_dim=c.condition_dim, dtype=dtype)
  return (g1, d1), (g2, d2)


def defaults(c) -> None:
  """StackGAN's fields of `config.model`: the reference's defaults (CUB, Oxford-102)."""
  c.name = 'stackgan'
  c.z_dim = 100               # Z_DIM
  c.condition_dim = 128       # GAN.CONDITION_DIM: c's dimension
  c.ca_activation = 'relu'    # after the CA's dense layer: the PyTorch reference's ReLU
  c.stage1_size = 64          # stage I's images; stage II's are data.image_size
  c.g1_width = 128            # GAN.GF_DIM of stage I (its widest layer: 8 x this)
  c.d1_width = 64             # GAN.DF_DIM of stage I
  c.g2_width = 128            # GAN.GF_DIM of stage II
  c.d2_width = 64             # GAN.DF_DIM of stage II
  c.residual_blocks = 4       # GAN.R_NUM
  c.d_condition = 'mu'        # what D's conditional head reads: 'mu', the generator's (the
  #                             PyTorch reference), or 'embedding', the description compressed
  #                             by D's own dense layer (the original TensorFlow code)
