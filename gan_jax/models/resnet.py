"""The ResNet GANs: SNGAN (Miyato et al. 2018), SAGAN's self-attention (Zhang et al. 2019) and
BigGAN (Brock et al. 2019), for 32, 64 and 128 pixels, unconditional or class-conditional.

Generator: z -> 4x4 x C0 by a dense layer, then one residual up-block per doubling
(BN, ReLU, nearest 2x upsampling, 3x3 conv, BN, ReLU, 3x3 conv; shortcut: upsampling and a 1x1
conv), then BN, ReLU, a 3x3 conv to the image's channels and tanh. Discriminator: residual
blocks (ReLU, 3x3 conv, ReLU, 3x3 conv, 2x2 average pooling where the block downsamples;
shortcut: a 1x1 conv where the channels change or the block downsamples, then pooling); the
first block is SNGAN's "optimized" one (no activation before its first conv, and its shortcut
pools before its conv); then ReLU, a sum over positions and a dense layer to one logit.

Widths: `g_ch` x `g_mults` (the 4x4 start, then each block's output) and `d_ch` x `d_mults`
(each block's output), with `d_down` saying which D blocks halve the size. Empty tuples take
BigGAN's table for the image size (`ARCHITECTURES`). `g_attention` / `d_attention` put a
self-attention block after the G or D block whose output has that resolution (0: none).

Spectral normalisation (`g_sn`, `d_sn`) wraps every weight of that network: convs, dense layers,
D's class embedding, G's conditional-BN projections; one power iteration per training pass that
updates statistics, its vector kept beside the batch-norm statistics ('batch_stats', leaf
`sn_u`), so it is checkpointed and resume is exact.

Class-conditional (`num_classes` > 0):
- G: conditional batch norm in every block. Without a shared embedding (SNGAN, BigGAN-PyTorch's
  CIFAR setting) each BN has one gain and bias per class. With `shared_dim` > 0 (BigGAN) one
  class embedding is shared by all blocks and each BN's gain (1 + ...) and bias are linear
  projections of it; with `hierarchical`, z is split into one chunk for the dense layer and one
  per block, and each block's chunk joins the embedding.
- D, `conditioning='projection'` (Miyato & Koyama 2018): logit + embed(y) . phi(x), phi the
  summed features; or `'acgan'`: a class head on the same features, returning (logit, class
  logits).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import layers

SUPPORTED_SIZES = (32, 64, 128)
CONDITIONINGS = ('projection', 'acgan')
INITS = ('normal', 'xavier', 'ortho')

# BigGAN's architectures by image size: G's channel multipliers (the 4x4 start, then each
# up-block's output), D's (each block's output) and which D blocks downsample.
ARCHITECTURES = {
    32: dict(g_mults=(4, 4, 4, 4), d_mults=(4, 4, 4, 4), d_down=(True, True, False, False)),
    64: dict(g_mults=(16, 16, 8, 4, 2), d_mults=(1, 2, 4, 8, 16),
             d_down=(True, True, True, True, False)),
    128: dict(g_mults=(16, 16, 8, 4, 2, 1), d_mults=(1, 2, 4, 8, 16, 16),
              d_down=(True, True, True, True, True, False)),
}


def kernel_init(init: str, gain: float = 1.0):
  """'normal': N(0, 0.02) (BigGAN-PyTorch's CIFAR setting); 'xavier': Glorot uniform with
  `gain` (the SNGAN code's: sqrt(2) in residual convs, 1 elsewhere); 'ortho': orthogonal
  (BigGAN-PyTorch's default)."""
  if init == 'normal':
    return nn.initializers.normal(stddev=0.02)
  if init == 'xavier':
    return nn.initializers.variance_scaling(gain ** 2, 'fan_avg', 'uniform')
  if init == 'ortho':
    return nn.initializers.orthogonal()
  raise ValueError(f'unknown model.weight_init {init!r}; choose one of {list(INITS)}')


def _upsample(x):
  """Nearest-neighbour 2x upsampling."""
  n, h, w, c = x.shape
  x = jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, 2, w, 2, c))
  return x.reshape(n, 2 * h, 2 * w, c)


def _downsample(x):
  return nn.avg_pool(x, (2, 2), (2, 2))


class ConditionalNorm(nn.Module):
  """G's batch norm: normalised over the global batch without affine parameters, then
  - `mode='class'`: one gain and bias per class (gain starts at 1: `layers.ConditionalBatchNorm`);
  - `mode='linear'`: gain = 1 + W_g c, bias = W_b c from a conditioning vector c (BigGAN's
    shared embedding, with its z chunk when hierarchical), W spectrally normalised with `sn`;
  - `mode='none'`: an ordinary batch norm with its own gain and bias."""
  mode: str
  num_classes: int = 0
  sn: bool = True
  weights: str = 'normal'       # the initialisation: kernel_init's
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, cond, *, train: bool):
    if self.mode == 'class':
      return layers.ConditionalBatchNorm(self.num_classes, axis_name=self.axis_name,
                                         dtype=self.dtype)(x, cond, train=train)
    if self.mode == 'none':
      return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                          axis_name=self.axis_name if train else None, dtype=self.dtype)(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                     axis_name=self.axis_name if train else None, use_scale=False,
                     use_bias=False, dtype=self.dtype)(x)
    c = x.shape[-1]
    dense = lambda name: layers.SNDense(c, use_bias=False, spectral=self.sn,
                                        kernel_init=kernel_init(self.weights), dtype=self.dtype,
                                        name=name)
    gain = 1.0 + dense('gain')(cond, update=train)
    bias = dense('bias')(cond, update=train)
    return x * gain[:, None, None, :] + bias[:, None, None, :]


class GBlock(nn.Module):
  features: int
  norm: dict                    # ConditionalNorm's fields
  sn: bool = True
  weights: str = 'normal'       # the initialisation: kernel_init's
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, cond, *, train: bool):
    conv = lambda f, k, gain, name: layers.SNConv(
        f, k, spectral=self.sn, kernel_init=kernel_init(self.weights, gain), dtype=self.dtype,
        name=name)
    h = nn.relu(ConditionalNorm(**self.norm, dtype=self.dtype, name='bn1')(x, cond, train=train))
    h = conv(self.features, 3, math.sqrt(2), 'conv1')(_upsample(h), update=train)
    h = nn.relu(ConditionalNorm(**self.norm, dtype=self.dtype, name='bn2')(h, cond, train=train))
    h = conv(self.features, 3, math.sqrt(2), 'conv2')(h, update=train)
    shortcut = conv(self.features, 1, 1.0, 'conv_sc')(_upsample(x), update=train)
    return h + shortcut


class DBlock(nn.Module):
  features: int
  down: bool
  first: bool = False           # SNGAN's "optimized" first block
  wide: bool = True             # hidden channels: the output's (BigGAN), else the input's (SNGAN)
  sn: bool = True
  weights: str = 'normal'       # the initialisation: kernel_init's
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool):
    conv = lambda f, k, gain, name: layers.SNConv(
        f, k, spectral=self.sn, kernel_init=kernel_init(self.weights, gain), dtype=self.dtype,
        name=name)
    hidden = self.features if self.wide or self.first else x.shape[-1]
    h = x if self.first else nn.relu(x)
    h = conv(hidden, 3, math.sqrt(2), 'conv1')(h, update=train)
    h = conv(self.features, 3, math.sqrt(2), 'conv2')(nn.relu(h), update=train)
    if self.down:
      h = _downsample(h)
    shortcut = x
    if self.first:
      shortcut = conv(self.features, 1, 1.0, 'conv_sc')(
          _downsample(x) if self.down else x, update=train)
    elif self.down or x.shape[-1] != self.features:
      shortcut = conv(self.features, 1, 1.0, 'conv_sc')(x, update=train)
      if self.down:
        shortcut = _downsample(shortcut)
    return h + shortcut


class Generator(nn.Module):
  out_shape: tuple[int, int, int]
  ch: int = 64
  mults: tuple[int, ...] = (4, 4, 4, 4)
  attention: int = 0            # resolution after which a self-attention block runs; 0: none
  sn: bool = True
  num_classes: int = 0
  shared_dim: int = 0           # BigGAN's shared class embedding; 0: one BN gain per class
  hierarchical: bool = False    # BigGAN's z split over the dense layer and the blocks
  weights: str = 'normal'       # the initialisation: kernel_init's
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool):
    blocks = len(self.mults) - 1
    z = z.astype(self.dtype)
    chunks = jnp.split(z, blocks + 1, axis=-1) if self.hierarchical else [z] * (blocks + 1)
    if not self.num_classes:
      mode, conds = ('linear', chunks[1:]) if self.hierarchical else ('none', [None] * blocks)
    elif self.shared_dim:
      shared = nn.Embed(self.num_classes, self.shared_dim, embedding_init=kernel_init(
          self.weights), dtype=self.dtype, name='shared')(labels)
      mode = 'linear'
      conds = [jnp.concatenate([shared, c], -1) if self.hierarchical else shared
               for c in chunks[1:]]
    else:
      mode, conds = 'class', [labels] * blocks
    norm = dict(mode=mode, num_classes=self.num_classes, sn=self.sn, weights=self.weights,
                axis_name=self.axis_name)
    x = layers.SNDense(4 * 4 * self.ch * self.mults[0], spectral=self.sn,
                       kernel_init=kernel_init(self.weights), dtype=self.dtype,
                       name='linear')(chunks[0], update=train)
    x = x.reshape(z.shape[0], 4, 4, self.ch * self.mults[0])
    for i in range(blocks):
      x = GBlock(self.ch * self.mults[i + 1], norm, sn=self.sn, weights=self.weights,
                 dtype=self.dtype, name=f'block{i}')(x, conds[i], train=train)
      if self.attention == x.shape[1]:
        x = layers.SelfAttention(spectral=self.sn, kernel_init=kernel_init(self.weights),
                                 dtype=self.dtype, name='attention')(x, update=train)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                     axis_name=self.axis_name if train else None, dtype=self.dtype,
                     name='bn_out')(x)
    x = layers.SNConv(self.out_shape[-1], 3, spectral=self.sn, kernel_init=kernel_init(
        self.weights), dtype=self.dtype, name='conv_out')(nn.relu(x), update=train)
    return jnp.tanh(x).astype(jnp.float32)


class Discriminator(nn.Module):
  ch: int = 64
  mults: tuple[int, ...] = (4, 4, 4, 4)
  down: tuple[bool, ...] = (True, True, False, False)
  attention: int = 0
  sn: bool = True
  wide: bool = True
  linear_bias: bool = True      # the final dense layer's bias (BigGAN: yes, SNGAN: no)
  num_classes: int = 0
  conditioning: str = 'projection'
  weights: str = 'normal'       # the initialisation: kernel_init's
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool):
    x = x.astype(self.dtype)
    attended = False
    for i, (mult, down) in enumerate(zip(self.mults, self.down)):
      x = DBlock(self.ch * mult, down, first=i == 0, wide=self.wide, sn=self.sn,
                 weights=self.weights, dtype=self.dtype, name=f'block{i}')(x, train=train)
      if self.attention == x.shape[1] and not attended:  # after the first block at it
        attended = True
        x = layers.SelfAttention(spectral=self.sn, kernel_init=kernel_init(self.weights),
                                 dtype=self.dtype, name='attention')(x, update=train)
    features = jnp.sum(nn.relu(x), axis=(1, 2))
    logit = layers.SNDense(1, use_bias=self.linear_bias, spectral=self.sn,
                           kernel_init=kernel_init(self.weights), dtype=self.dtype,
                           name='linear')(features, update=train)[:, 0]
    if self.num_classes and self.conditioning == 'projection':
      embed = layers.SNEmbed(self.num_classes, features.shape[-1], spectral=self.sn,
                             embedding_init=kernel_init(self.weights), name='embed')
      logit = logit + jnp.sum(embed(labels, update=train).astype(self.dtype) * features, -1)
    if self.num_classes and self.conditioning == 'acgan':
      class_logits = layers.SNDense(self.num_classes, spectral=self.sn,
                                    kernel_init=kernel_init(self.weights), dtype=self.dtype,
                                    name='classifier')(features, update=train)
      return logit.astype(jnp.float32), class_logits.astype(jnp.float32)
    return logit.astype(jnp.float32)


def resolutions(size: int, g_mults, d_down) -> tuple[tuple[int, ...], tuple[int, ...]]:
  """The output resolutions of G's blocks and of D's blocks."""
  g = tuple(8 * 2 ** i for i in range(len(g_mults) - 1))
  d, r = [], size
  for down in d_down:
    r = r // 2 if down else r
    d.append(r)
  return g, tuple(d)


def architecture(model_config, size: int) -> dict:
  """The widths and downsampling for this image size: the config's, or BigGAN's table."""
  if size not in SUPPORTED_SIZES:
    raise ValueError(f'the ResNet GANs support image sizes {SUPPORTED_SIZES}, got {size}')
  table = ARCHITECTURES[size]
  arch = {k: tuple(model_config.get(k, ()) or table[k]) for k in ('g_mults', 'd_mults', 'd_down')}
  blocks = int(math.log2(size // 4))
  if len(arch['g_mults']) != blocks + 1:
    raise ValueError(f'model.g_mults={arch["g_mults"]}: a {size}x{size} generator has a 4x4 '
                     f'start and {blocks} up-blocks, so it takes {blocks + 1} multipliers '
                     f'(BigGAN\'s: {table["g_mults"]})')
  if len(arch['d_mults']) != len(arch['d_down']):
    raise ValueError(f'model.d_mults={arch["d_mults"]} and model.d_down={arch["d_down"]} must '
                     'have one entry per discriminator block')
  if sum(arch['d_down']) > blocks:
    raise ValueError(f'model.d_down={arch["d_down"]} halves a {size}x{size} image more than '
                     f'{blocks} times')
  return arch


def build(model_config, out_shape, dtype, num_classes: int = 0):
  if len(out_shape) != 3 or out_shape[0] != out_shape[1]:
    raise ValueError(f'the ResNet GANs need square images (H, W, C), got data shape '
                     f'{tuple(out_shape)}')
  size = out_shape[0]
  arch = architecture(model_config, size)
  g_res, d_res = resolutions(size, arch['g_mults'], arch['d_down'])
  for who, res, field in (('generator', g_res, 'g_attention'),
                          ('discriminator', d_res, 'd_attention')):
    at = model_config.get(field, 0)
    if at and at not in res:
      raise ValueError(f'model.{field}={at}: the {size}x{size} {who} has no block at that '
                       f'resolution; choose one of {sorted(set(res))}, or 0 for none')
  conditioning = model_config.get('conditioning', 'projection')
  if num_classes and conditioning not in CONDITIONINGS:
    raise ValueError(f'model.conditioning={conditioning!r}: the ResNet GANs condition by '
                     f'{list(CONDITIONINGS)}')
  shared_dim = model_config.get('shared_dim', 0)
  hierarchical = model_config.get('hierarchical', False)
  if hierarchical:
    slots = len(arch['g_mults'])
    if model_config.z_dim % slots:
      raise ValueError(f'model.hierarchical: z of {model_config.z_dim} does not split evenly '
                       f'into {slots} chunks (one for the 4x4 start, one for each of the '
                       f'{slots - 1} blocks); use a model.z_dim divisible by {slots}, e.g. '
                       f'{slots * max(1, round(model_config.z_dim / slots))}')
    if num_classes and not shared_dim:
      raise ValueError('model.hierarchical joins each z chunk to the shared class embedding; '
                       'set model.shared_dim > 0 (BigGAN: 128)')
  weights = model_config.get('weight_init', 'normal')
  kernel_init(weights)
  g = Generator(out_shape=tuple(out_shape), ch=model_config.g_ch, mults=arch['g_mults'],
                attention=model_config.get('g_attention', 0), sn=model_config.get('g_sn', True),
                num_classes=num_classes, shared_dim=shared_dim if num_classes else 0,
                hierarchical=hierarchical, weights=weights, dtype=dtype)
  d = Discriminator(ch=model_config.d_ch, mults=arch['d_mults'], down=arch['d_down'],
                    attention=model_config.get('d_attention', 0),
                    sn=model_config.get('d_sn', True), wide=model_config.get('d_wide', True),
                    linear_bias=model_config.get('d_linear_bias', True),
                    num_classes=num_classes, conditioning=conditioning, weights=weights,
                    dtype=dtype)
  return g, d


def defaults(c) -> None:
  """The ResNet architecture's fields of `config.model`, with their defaults (BigGAN-PyTorch's
  CIFAR settings where it has them)."""
  c.name = 'resnet'
  c.z_dim = 128
  c.g_ch = 64                 # G channels = g_ch x g_mults
  c.d_ch = 64                 # D channels = d_ch x d_mults
  c.g_mults = ()              # (4x4 start, each block's output); () = BigGAN's for the size
  c.d_mults = ()              # each D block's output; () = BigGAN's for the size
  c.d_down = ()               # which D blocks halve the size; () = BigGAN's for the size
  c.g_attention = 0           # self-attention after G's block at this resolution; 0: none
  c.d_attention = 0           # ... after D's block at this resolution
  c.g_sn = True               # spectral normalisation in G
  c.d_sn = True               # ... and in D
  c.d_wide = True             # D's hidden channels: the block's output (BigGAN) or input (SNGAN)
  c.d_linear_bias = True      # D's final dense layer has a bias (BigGAN) or not (SNGAN)
  c.shared_dim = 0            # BigGAN's shared class embedding (0: a BN gain per class)
  c.hierarchical = False      # BigGAN's hierarchical latents (needs shared_dim with classes)
  c.weight_init = 'normal'    # 'normal' N(0, 0.02), 'xavier' (SNGAN's code), 'ortho'
