"""Image-to-image translation: the generators and discriminators of Pix2Pix (Isola et al. 2017)
and CycleGAN (Zhu et al. 2017), layer for layer as the official PyTorch implementation
(pytorch-CycleGAN-and-pix2pix, `models/networks.py`) builds them: the same widths, biases,
paddings, normalisations and initialisation (weights N(0, 0.02), biases 0, batch-norm scales
N(1, 0.02)), so the parameter counts agree to the parameter (tests/test_translation_models.py).

A generator maps an image to an image of the same height and width, `G(x, train=...,
noise=...)`, NHWC, tanh out; it takes no latent. `train` chooses batch norm's statistics (the
batch's, updating the running averages, or the running averages); `noise` switches dropout on
(needs a 'dropout' RNG): Pix2Pix's only source of randomness, which the paper keeps at test
time too. A discriminator returns a map of logits `(N, h, w, 1)`, one per patch
(`layers.PatchDiscriminator`, `layers.PixelDiscriminator`); a Pix2Pix D reads the input and
output images joined along channels, so its input width is whatever it is first called with.

- `UNetGenerator` (Pix2Pix: U-Net-256, 8 levels). Level i (0 the outermost) halves the image
  with a 4x4 stride-2 convolution and doubles it back with a 4x4 transposed one; the level
  below runs in between, and the level's output is its input joined to what came back up.
  Widths ngf x (1, 2, 4, 8, 8, ...). Down: LeakyReLU 0.2, conv, norm (no activation before the
  outermost conv, no norm after it or the innermost); up: ReLU, transposed conv, norm, dropout
  in `dropout_blocks` levels just above the innermost; the outermost up-conv goes to the output
  channels, with a bias, then tanh. (The official LeakyReLU works in place on the level's input,
  so its skip connection carries LeakyReLU(input); the ReLU that opens the up path above makes
  that the same function as the input itself, carried here.)
- `ResnetGenerator` (CycleGAN: 9 blocks at 256x256, 6 at 128x128, from Johnson et al. 2016):
  reflection pad 3 and a 7x7 conv to ngf, two 3x3 stride-2 convs to 2 ngf and 4 ngf, residual
  blocks at 4 ngf (pad 1, 3x3 conv, norm, ReLU, dropout, pad 1, 3x3 conv, norm, plus the input),
  two 3x3 stride-2 transposed convs back (PyTorch's output_padding 1: exactly double size),
  reflection pad 3 and a 7x7 conv to the output channels with a bias, tanh. Outside the blocks
  every conv but the last is followed by norm and ReLU. `padding` is the residual blocks' (the
  7x7 convs reflect whatever it is, as in the official code).

A convolution that the official code follows with a normalisation has a bias only when that is
instance norm (its rule, `layers.conv_bias`); with `norm='none'` it keeps its bias here, where
the official code drops it.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models import layers

GENERATORS = ('unet', 'resnet')
DISCRIMINATORS = ('patch', 'pixel')
MIN_UNET_DOWNS = 5  # the four outer levels (ngf, 2, 4, 8 ngf) and the innermost are fixed


def conv_transpose_3x2(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """PyTorch's ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1): doubles
  H and W. `kernel` is (3, 3, c_in, c_out), PyTorch's weight (c_in, c_out, 3, 3) transposed.

  The transposed convolution is the input-dilated convolution with the kernel flipped, padded
  by k - 1 - padding = 1 before and that plus output_padding = 2 after: the adjoint of the
  3x3 stride-2 padding-1 convolution from a 2H x 2W input (tested)."""
  return jax.lax.conv_general_dilated(
      x, kernel[::-1, ::-1], window_strides=(1, 1), padding=((1, 2), (1, 2)),
      lhs_dilation=(2, 2), dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def conv_transpose_3x2_phases(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """`conv_transpose_3x2`, the same function computed as one matrix product: output pixel
  (2a + p, 2b + q) only ever reads inputs (a, b), (a, b + 1), (a + 1, b) and (a + 1, b + 1)
  (zero beyond the edge), so the four shifted inputs side by side times a (4 c_in, 4 c_out)
  matrix of the kernel's taps give the four output phases, which are then interleaved. In one
  dimension: out[2m] = x[m] w[1] and out[2m + 1] = x[m] w[2] + x[m + 1] w[0]. XLA:CPU
  differentiates a matrix product far faster than an input-dilated convolution."""
  n, h, w, c_in = x.shape
  c_out = kernel.shape[-1]
  padded = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
  shifted = jnp.concatenate([padded[:, dy:dy + h, dx:dx + w] for dy, dx in
                             ((0, 0), (0, 1), (1, 0), (1, 1))], axis=-1)
  zero = jnp.zeros((c_in, c_out), kernel.dtype)
  k = lambda ky, kx: kernel[ky, kx]
  # Rows: the shifts (0,0), (0,1), (1,0), (1,1); columns: the phases (0,0), (0,1), (1,0), (1,1).
  taps = [[k(1, 1), k(1, 2), k(2, 1), k(2, 2)],
          [zero, k(1, 0), zero, k(2, 0)],
          [zero, zero, k(0, 1), k(0, 2)],
          [zero, zero, zero, k(0, 0)]]
  matrix = jnp.concatenate([jnp.concatenate(row, axis=1) for row in taps], axis=0)
  y = jnp.dot(shifted.reshape(n * h * w, 4 * c_in), matrix)
  y = y.reshape(n, h, w, 2, 2, c_out).transpose(0, 1, 3, 2, 4, 5)
  return y.reshape(n, 2 * h, 2 * w, c_out)


UPCONV_3X2_METHODS = {'plain': conv_transpose_3x2, 'phases': conv_transpose_3x2_phases}


class UpConv3x2(nn.Module):
  """`conv_transpose_3x2` with its kernel N(0, 0.02) and an optional zero-initialised bias,
  computed by `method` (UPCONV_3X2_METHODS: the same function either way)."""
  features: int
  use_bias: bool = True
  method: str = 'plain'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    if self.method not in UPCONV_3X2_METHODS:
      raise ValueError(f'unknown model.resnet_upconv {self.method!r}; choose one of '
                       f'{sorted(UPCONV_3X2_METHODS)}')
    kernel = self.param('kernel', layers.dcgan_kernel_init, (3, 3, x.shape[-1], self.features))
    y = UPCONV_3X2_METHODS[self.method](x.astype(self.dtype), kernel.astype(self.dtype))
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,)).astype(self.dtype)
    return y


class UNetGenerator(nn.Module):
  """The official UnetGenerator with `num_downs` levels (U-Net-256: 8; an image of side
  2^num_downs comes down to 1x1). Dropout (rate `dropout`, 0 for none) follows the up-norm of
  the `dropout_blocks` levels directly above the innermost: for U-Net-256 the official three
  8 ngf middle levels. Where the official rule (the levels beyond five) would leave a small
  U-Net (32x32: 5 levels) with none, this keeps dropout as the generator's noise."""
  out_channels: int = 3
  num_downs: int = 8
  ngf: int = 64
  norm: str = 'batch'
  dropout: float = 0.5
  dropout_blocks: int = 3
  upconv: str = 'plain'       # how the 4x4 stride-2 transposed convolutions compute
  downconv: str = 'plain'     # ... and the strided convolutions (exactly equivalent forms;
  #                             the config's defaults pick the faster ones, `defaults`)
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool, noise: bool = True):
    n = self.num_downs
    if n < MIN_UNET_DOWNS:
      raise ValueError(f'a U-Net needs at least {MIN_UNET_DOWNS} levels, got {n}')
    if not 0 <= self.dropout_blocks <= n - 2:
      raise ValueError(f'dropout_blocks={self.dropout_blocks}: a U-Net of {n} levels has '
                       f'{n - 2} between the outermost and the innermost')
    use_bias = layers.conv_bias(self.norm)
    width = lambda i: self.ngf * min(2 ** i, 8)  # what level i's down-conv gives
    norm = lambda name: layers.norm2d(self.norm, train=train, axis_name=self.axis_name,
                                      dtype=self.dtype, name=name)
    h = x.astype(self.dtype)
    skips = []  # skips[i - 1]: what level i joins to its up path
    for i in range(n):
      if i > 0:
        skips.append(h)
        h = nn.leaky_relu(h, 0.2)
      h = layers.DownConv2x(width(i), use_bias=use_bias, method=self.downconv,
                            dtype=self.dtype, name=f'down{i}')(h)
      if 0 < i < n - 1:
        h = norm(f'down_norm{i}')(h)
    for i in reversed(range(1, n)):
      h = layers.UpConv2x(width(i - 1), use_bias=use_bias, method=self.upconv,
                          dtype=self.dtype, name=f'up{i}')(nn.relu(h))
      h = norm(f'up_norm{i}')(h)
      if self.dropout > 0 and n - 1 - self.dropout_blocks <= i < n - 1:
        h = layers.ExampleDropout(self.dropout, axis_name=self.axis_name,
                                  name=f'dropout{i}')(h, train=noise)
      h = jnp.concatenate([skips[i - 1], h], axis=-1)
    h = layers.UpConv2x(self.out_channels, use_bias=True, method=self.upconv, dtype=self.dtype,
                        name='up0')(nn.relu(h))
    return jnp.tanh(h).astype(jnp.float32)


class ResnetBlock(nn.Module):
  """x + (pad, 3x3 conv, norm, ReLU, dropout, pad, 3x3 conv, norm)(x), at x's width."""
  norm: str = 'instance'
  padding: str = 'reflect'
  dropout: float = 0.0
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool, noise: bool = True):
    features, use_bias = x.shape[-1], layers.conv_bias(self.norm)
    norm = lambda name: layers.norm2d(self.norm, train=train, axis_name=self.axis_name,
                                      dtype=self.dtype, name=name)
    # 'zero' padding and an unpadded conv is PyTorch's Conv2d(..., padding=1).
    conv = lambda name: layers.conv2d(features, 3, use_bias=use_bias, dtype=self.dtype,
                                      name=name)
    h = nn.relu(norm('norm1')(conv('conv1')(layers.pad(x, 1, self.padding))))
    if self.dropout > 0:
      h = layers.ExampleDropout(self.dropout, axis_name=self.axis_name,
                                name='dropout')(h, train=noise)
    h = norm('norm2')(conv('conv2')(layers.pad(h, 1, self.padding)))
    return x + h


class ResnetGenerator(nn.Module):
  """The official ResnetGenerator: two halvings, `n_blocks` residual blocks at 4 ngf, two
  doublings (resnet_9blocks: 9, resnet_6blocks: 6). Height and width must be multiples of 4."""
  out_channels: int = 3
  ngf: int = 64
  n_blocks: int = 9
  norm: str = 'instance'
  padding: str = 'reflect'     # the residual blocks': 'reflect', 'zero' or 'replicate'
  dropout: float = 0.0         # in each residual block; the official use_dropout is 0.5
  upconv: str = 'plain'        # how the transposed convolutions compute (UPCONV_3X2_METHODS)
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool, noise: bool = True):
    use_bias = layers.conv_bias(self.norm)
    norm = lambda name: layers.norm2d(self.norm, train=train, axis_name=self.axis_name,
                                      dtype=self.dtype, name=name)
    h = layers.reflect_pad(x.astype(self.dtype), 3)
    h = nn.relu(norm('stem_norm')(layers.conv2d(self.ngf, 7, use_bias=use_bias,
                                                dtype=self.dtype, name='stem')(h)))
    for i in range(2):
      h = layers.conv2d(self.ngf * 2 ** (i + 1), 3, stride=2, padding=1, use_bias=use_bias,
                        dtype=self.dtype, name=f'down{i}')(h)
      h = nn.relu(norm(f'down_norm{i}')(h))
    for b in range(self.n_blocks):
      h = ResnetBlock(self.norm, self.padding, self.dropout, axis_name=self.axis_name,
                      dtype=self.dtype, name=f'block{b}')(h, train=train, noise=noise)
    for i in range(2):
      h = UpConv3x2(self.ngf * 2 ** (1 - i), use_bias=use_bias, method=self.upconv,
                    dtype=self.dtype, name=f'up{i}')(h)
      h = nn.relu(norm(f'up_norm{i}')(h))
    h = layers.conv2d(self.out_channels, 7, dtype=self.dtype, name='out')(
        layers.reflect_pad(h, 3))
    return jnp.tanh(h).astype(jnp.float32)


def _check_choice(field: str, value: str, choices) -> None:
  if value not in choices:
    raise ValueError(f'unknown model.{field} {value!r}; choose one of {list(choices)}')


def unet_downs(model_config, height: int, width: int) -> int:
  """The U-Net's levels: `model.unet_downs`, or log2 of the image side when it is 0. The side
  must be 2^levels, so that the innermost level sees 1x1."""
  if height != width:
    raise ValueError(f'the U-Net generator needs square images, got {height}x{width}')
  fits = int(math.log2(height)) if height & (height - 1) == 0 else None
  if fits is None:
    raise ValueError(f'the U-Net generator needs a power-of-two image side, got {height}; '
                     "resize the images, or use model.generator='resnet'")
  n = model_config.unet_downs or fits
  if n != fits:
    raise ValueError(f'model.unet_downs={n} is for {2 ** n}x{2 ** n} images; a {height}x{width} '
                     f'image takes unet_downs={fits} (or 0 for that)')
  if n < MIN_UNET_DOWNS:
    raise ValueError(f'the U-Net generator needs at least {MIN_UNET_DOWNS} levels, so images of '
                     f'at least {2 ** MIN_UNET_DOWNS}x{2 ** MIN_UNET_DOWNS}; got {height}x{width}')
  return n


def build(model_config, out_shape, dtype, num_classes: int = 0):
  if num_classes:
    raise ValueError(f'translation models are not class-conditional; got num_classes='
                     f'{num_classes} (use a family without labels, e.g. pix2pix)')
  if len(out_shape) != 3:
    raise ValueError(f'translation models need images (H, W, C), got data shape '
                     f'{tuple(out_shape)}')
  height, width, channels = out_shape
  c = model_config
  _check_choice('generator', c.generator, GENERATORS)
  _check_choice('discriminator', c.discriminator, DISCRIMINATORS)
  _check_choice('norm', c.norm, layers.NORMS_2D)
  _check_choice('padding', c.padding, layers.PADDINGS)
  if not 0.0 <= c.dropout < 1.0:
    raise ValueError(f'model.dropout={c.dropout} must be in [0, 1)')
  if c.generator == 'unet':
    n = unet_downs(c, height, width)
    if not 0 <= c.dropout_blocks <= n - 2:
      raise ValueError(f'model.dropout_blocks={c.dropout_blocks}: a U-Net of {n} levels has '
                       f'{n - 2} decoder blocks between the outermost and the innermost')
    g = UNetGenerator(out_channels=channels, num_downs=n, ngf=c.ngf, norm=c.norm,
                      dropout=c.dropout, dropout_blocks=c.dropout_blocks,
                      upconv=c.get('upconv', 'phases'), downconv=c.get('downconv', 'blocks'),
                      dtype=dtype)
  else:
    if height % 4 or width % 4 or min(height, width) < 8:
      raise ValueError(f'the ResNet generator halves the image twice and reflection-pads '
                       f'what is left: height and width must be multiples of 4, at least 8; '
                       f'got {height}x{width}')
    blocks = c.resnet_blocks or (9 if min(height, width) >= 256 else 6)
    g = ResnetGenerator(out_channels=channels, ngf=c.ngf, n_blocks=blocks, norm=c.norm,
                        padding=c.padding, dropout=c.dropout,
                        upconv=c.get('resnet_upconv', 'phases'), dtype=dtype)
  if c.discriminator == 'patch':
    if c.d_layers < 1:
      raise ValueError(f'model.d_layers={c.d_layers} must be at least 1 (PatchGAN: 3)')
    side = layers.patch_output_size(min(height, width), c.d_layers)
    if side < 1:
      raise ValueError(f'model.d_layers={c.d_layers} is too deep for {height}x{width} images: '
                       'the PatchGAN would have no output left; use fewer layers')
    d = layers.PatchDiscriminator(ndf=c.ndf, n_layers=c.d_layers, norm=c.norm, dtype=dtype)
  else:
    d = layers.PixelDiscriminator(ndf=c.ndf, norm=c.norm, dtype=dtype)
  return g, d


def defaults(c) -> None:
  """The translation architectures' fields of `config.model`: Pix2Pix's by default (U-Net,
  batch norm, dropout 0.5, 70x70 PatchGAN). CycleGAN's: generator 'resnet', norm 'instance',
  dropout 0."""
  c.name = 'translation'
  c.generator = 'unet'        # 'unet' (Pix2Pix) | 'resnet' (CycleGAN)
  c.discriminator = 'patch'   # 'patch' (PatchGAN: 70x70 patches at d_layers 3) | 'pixel' (1x1)
  c.ngf = 64                  # generator width at the image's resolution
  c.ndf = 64                  # discriminator width of the first layer
  c.unet_downs = 0            # U-Net levels; 0: log2(image side), U-Net-256's 8 at 256x256
  c.resnet_blocks = 0         # 0: 9 at 256 pixels and above, 6 below (resnet_9/6blocks)
  c.d_layers = 3              # PatchGAN's stride-2 layers ('basic': 3)
  c.norm = 'batch'            # G's and D's: 'batch' | 'instance' (no affine, CycleGAN) | 'none'
  c.dropout = 0.5             # dropout rate, 0 for none (the official --no_dropout)
  c.dropout_blocks = 3        # U-Net decoder blocks with dropout, counted up from the innermost
  c.padding = 'reflect'       # ResNet blocks' padding: 'reflect' | 'zero' | 'replicate'
  c.upconv = 'phases'         # U-Net: how its transposed convolutions compute, among exactly
  #                             equivalent forms (layers.UPCONV_METHODS; 'phases' and...
  c.downconv = 'blocks'       # ...'blocks' (layers.DOWNCONV_METHODS) took the edges2digits
  #                             step from 339 to 169 ms on 2 CPU cores; docs/PERFORMANCE.md)
  c.resnet_upconv = 'phases'  # ResNet: its 3x3 transposed convolutions, 'plain' (an input-
  #                             dilated convolution) or 'phases' (one matrix product), the same
