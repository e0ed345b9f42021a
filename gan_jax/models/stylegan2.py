"""StyleGAN2 (Karras et al. 2020) as configured in the official stylegan2-ada-pytorch code: the
generator (mapping and synthesis networks) and the discriminator, any square power-of-two size
from 4x4, unconditional or class-conditional.

Generator. The mapping network normalises z by its second moment, joins it (when conditional)
to the embedded class (a dense layer on the one-hot label, also normalised) and maps it through
`mapping_layers` dense layers with leaky ReLU to w. The synthesis network ('skip' architecture)
starts from a learned 4x4 constant and runs one block per resolution: a 3x3 modulated conv that
upsamples 2x (none in the 4x4 block), a second 3x3 modulated conv, each with per-pixel noise
times a learned strength (initialised 0), a bias, leaky ReLU 0.2 times sqrt 2 and a clamp at
+-`conv_clamp`; then a 1x1 modulated conv to the image's channels (toRGB, no demodulation),
added to the image so far upsampled 2x. Each modulated layer has its own w (affine to styles,
bias initialised 1): `num_ws(resolution)` of them, each toRGB sharing its w with the next
block's first conv. The images are NHWC, float32, without tanh (as official).
`G.apply(vars, z, labels, method='map')` gives w (no broadcast, no truncation: the family keeps
the average w), `method='synthesize'` turns (N, num_ws, w_dim) ws into images, and `__call__`
does both with w broadcast.

Noise: 'random' draws each example's noise from its own key (`noise_keys`, one per example),
layer i from `fold_in(key, i)`, so an example's image does not depend on how the batch is
split (with keys of the default threefry implementation: RBG keys' draws change under vmap);
'const' is a fixed noise per layer (a fixed key folded with i), the same for every
example and call; 'none' is zero.

Discriminator. One block per resolution from the image's down to 8x8: 'orig' is fromRGB (1x1,
first block only), a 3x3 conv and a 3x3 conv that downsamples; 'resnet' adds a 1x1 skip
(downsampled, no bias), both paths scaled by sqrt(1/2); 'skip' has a fromRGB in every block fed
by the image downsampled alongside. The 4x4 epilogue: minibatch standard deviation (groups of
`mbstd_group_size` consecutive examples; the official code groups strided examples n, n + N/G,
..., whose groups would change with the number of devices the batch is split over), a 3x3 conv, a dense layer and an output
dense layer to one logit, or when conditional to `cmap_dim` features projected on the class map
of D's own mapping network (8 layers, no z) and scaled by 1/sqrt(cmap_dim).

Resampling uses the [1, 3, 3, 1] FIR filter (`upfirdn2d`: zero-insertion, padding, separable
filtering, subsampling), with the official paddings, so every size and border matches.
Channels at resolution r: min(channel_base // r, channel_max).

Equalised learning rate: every weight is stored N(0, 1) and multiplied at run time by
1/sqrt(fan_in); biases are stored as they act. There is no learning-rate multiplier inside the
layers: the mapping networks' 0.01 is the optimizer's (`optim.lr_multipliers =
('g/mapping=0.01', 'd/mapping=0.01')`; the mapping networks are the top-level submodules
`mapping` of G and D). For Adam this is the official parametrisation exactly (up to Adam's
epsilon): official weights stored N(0, 1/0.01^2) with a run-time gain 0.01/sqrt(fan_in) take
Adam steps that are, in our units, 0.01 times ours; its biases start at 0, so the same holds.
The official class embedding has no multiplier (1): the family gives it 'PLAYER/mapping/embed=1'
beside 'PLAYER/mapping=0.01' (the longest prefix wins).

Parameters keep the official names and shapes up to layout (convs HWIO, dense layers (in, out),
D's flattened 4x4 features in HWC order); where official upsamples with a transposed
convolution its kernel acts flipped, and so does ours, so weights carry over unchanged.
Mixed precision (`dtype`) computes the synthesis and D's blocks in that type; the mapping
networks, D's epilogue and the image sum stay float32.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

ARCHITECTURES = ('resnet', 'orig', 'skip')   # the discriminator's
NOISE_MODES = ('random', 'const', 'none')
FIR_TAPS = (1, 3, 3, 1)        # the resampling filter, normalised to unit DC gain per axis
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2)
_CONST_NOISE_SEED = 0x5EED     # the fixed key of 'const' noise


def channels(resolution: int, channel_base: int, channel_max: int) -> int:
  return min(channel_base // resolution, channel_max)


def num_ws(resolution: int) -> int:
  """How many w vectors a synthesis network of this resolution takes: one per conv (1 at 4x4,
  2 per later block) and one for the last toRGB (the others share the next block's)."""
  return 2 * int(math.log2(resolution)) - 2


def _taps(taps=FIR_TAPS) -> np.ndarray:
  taps = np.asarray(taps, np.float64)
  return taps / taps.sum()


def _fir_valid(x, taps: np.ndarray, axis: int):
  """The 'valid' 1-D convolution of x with `taps` along `axis` (as shifted sums)."""
  n = x.shape[axis] - len(taps) + 1
  flipped = taps[::-1]
  return sum(float(t) * lax.slice_in_dim(x, j, j + n, axis=axis) for j, t in enumerate(flipped))


def upfirdn2d(x, taps=FIR_TAPS, *, up: int = 1, down: int = 1, padding=(0, 0), gain: float = 1.0):
  """Per channel of NHWC x, in both spatial axes: insert up - 1 zeros after each pixel, pad by
  `padding` = (before, after) zeros (negative: crop), convolve with the separable FIR filter
  (`taps` normalised to sum 1, times `gain` over both axes), keep every `down`-th pixel."""
  f = _taps(taps) * math.sqrt(gain)
  p0, p1 = padding
  zero = jnp.zeros((), x.dtype)
  spatial = (p0, p1 + up - 1, up - 1)
  x = lax.pad(x, zero, ((0, 0, 0), spatial, spatial, (0, 0, 0)))
  for axis in (1, 2):
    x = _fir_valid(x, f, axis)
    if down > 1:
      x = lax.slice_in_dim(x, 0, x.shape[axis], stride=down, axis=axis)
  return x


def upsample2d(x, taps=FIR_TAPS, up: int = 2):
  """x (NHWC) upsampled by `up`, the FIR filter interpolating: (N, up H, up W, C)."""
  k = len(taps)
  return upfirdn2d(x, taps, up=up, padding=((k + up - 1) // 2, (k - up) // 2), gain=up ** 2)


def downsample2d(x, taps=FIR_TAPS, down: int = 2):
  """x (NHWC) low-passed by the FIR filter and subsampled: (N, H / down, W / down, C)."""
  k = len(taps)
  return upfirdn2d(x, taps, down=down, padding=((k - down + 1) // 2, (k - down) // 2))


def _conv(x, weight, padding, strides=(1, 1), lhs_dilation=(1, 1)):
  return lax.conv_general_dilated(x, weight, window_strides=strides, padding=padding,
                                  lhs_dilation=lhs_dilation,
                                  dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def _phase(size: int, k: int, pad: tuple[int, int], phase: int):
  """For one axis of `conv_up2`: (first tap, padding before, after) of output phase `phase`."""
  p0, p1 = pad
  out_len = 2 * size - 1 + p0 + p1 - k + 1
  first = (p0 - phase) % 2
  taps = len(range(first, k, 2))
  before = -((phase + first - p0) // 2)
  rows = (out_len - phase + 1) // 2
  return first, before, rows + taps - 1 - size - before


def _interleave(even, odd, axis: int, length: int):
  """Rows of `even` and `odd` alternated along `axis` (odd padded to even's size), cut to
  `length`."""
  extra = even.shape[axis] - odd.shape[axis]
  odd = jnp.pad(odd, [(0, extra if a == axis else 0) for a in range(odd.ndim)])
  both = jnp.stack([even, odd], axis + 1)
  shape = list(even.shape)
  shape[axis] *= 2
  return lax.slice_in_dim(both.reshape(shape), 0, length, axis=axis)


def conv_up2(x, weight, padding: tuple[int, int]):
  """`_conv(x, weight, [padding] * 2, lhs_dilation=(2, 2))` (the conv of x with zeros inserted
  between its pixels) computed as four convolutions of x itself, one per output phase, with the
  kernel's taps of that phase, interleaved: the same values, without the zeros, and with a
  gradient XLA's CPU backend computes about 10x faster than the dilated conv's."""
  n, h, w, _ = x.shape
  k = weight.shape[0]
  if k < 2 or weight.shape[1] != k:
    return _conv(x, weight, [padding] * 2, lhs_dilation=(2, 2))
  out_len = (2 * h - 1 + sum(padding) - k + 1, 2 * w - 1 + sum(padding) - k + 1)
  zero = jnp.zeros((), x.dtype)
  rows = []
  for a in (0, 1):
    ra, ba, aa = _phase(h, k, padding, a)
    cols = []
    for b in (0, 1):
      rb, bb, ab = _phase(w, k, padding, b)
      xp = lax.pad(x, zero, ((0, 0, 0), (ba, aa, 0), (bb, ab, 0), (0, 0, 0)))
      cols.append(_conv(xp, weight[ra::2, rb::2], 'VALID'))
    rows.append(_interleave(cols[0], cols[1], 2, out_len[1]))
  return _interleave(rows[0], rows[1], 1, out_len[0])


def filtered_conv(x, weight, *, up: int = 1, down: int = 1, padding: int | None = None,
                  taps=FIR_TAPS):
  """The convolution of NHWC x with `weight` (kh, kw, c_in, c_out; cross-correlation), with
  FIR upsampling before it or FIR downsampling after it; `padding` (default kh // 2) is in the
  upsampled image. Upsampling: zero-insertion, the conv with the kernel flipped (the official
  transposed convolution's orientation), then the filter with gain up^2; downsampling: the
  filter, then the strided conv. Sizes: (H up / down, W up / down)."""
  kh = weight.shape[0]
  p = kh // 2 if padding is None else padding
  k = len(taps)
  if up > 1 and down > 1:
    raise ValueError('filtered_conv resamples one way: up or down, not both')
  if up > 1:
    # Both the conv and the filter are 'valid' convolutions of the zero-inserted, padded
    # image, so their order is free; padding past the conv's full extent only adds zeros,
    # which the filter may pad instead (the conv then computes no rows that are all zero).
    before = p + (k + up - 1) // 2
    after = p + (k - up) // 2 + up - 1
    conv_pad = [(min(before, kh - 1), min(after, kh - 1))] * 2
    if up == 2:
      x = conv_up2(x, weight[::-1, ::-1], conv_pad[0])
    else:
      x = _conv(x, weight[::-1, ::-1], conv_pad, lhs_dilation=(up, up))
    return upfirdn2d(x, taps, padding=(before - conv_pad[0][0], after - conv_pad[0][1]),
                     gain=up ** 2)
  if down > 1:
    x = upfirdn2d(x, taps, padding=(p + (k - down + 1) // 2, p + (k - down) // 2))
    return _conv(x, weight, 'VALID', strides=(down, down))
  return _conv(x, weight, [(p, p)] * 2)


def modulated_conv2d(x, weight, styles, *, demodulate: bool = True, up: int = 1,
                     padding: int | None = None, taps=FIR_TAPS):
  """StyleGAN2's modulated convolution of NHWC x by `weight` (kh, kw, c_in, c_out) with
  per-example `styles` (N, c_in): mathematically the official fused form (the kernel scaled
  per example by the styles, then each output channel normalised to unit norm), computed as x
  scaled by the styles, one convolution shared by the batch, and the output scaled by each
  example's demodulation coefficients."""
  styles = styles.astype(jnp.float32)
  y = filtered_conv(x * styles[:, None, None, :].astype(x.dtype), weight.astype(x.dtype),
                    up=up, padding=padding, taps=taps)
  if demodulate:
    sq = jnp.sum(jnp.square(weight.astype(jnp.float32)), axis=(0, 1))       # (c_in, c_out)
    dcoefs = lax.rsqrt(jnp.square(styles) @ sq + 1e-8)                     # (N, c_out)
    y = y * dcoefs[:, None, None, :].astype(y.dtype)
  return y


def normalize_2nd_moment(x, eps: float = 1e-8):
  return x * lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def _bias_act(x, bias, *, lrelu: bool, gain: float = 1.0, clamp=None):
  if bias is not None:
    x = x + bias.astype(x.dtype)
  if lrelu:
    x = nn.leaky_relu(x, LRELU_SLOPE)
    gain = gain * LRELU_GAIN
  if gain != 1:
    x = x * gain
  if clamp:
    x = jnp.clip(x, -clamp, clamp)
  return x


_unit_normal = nn.initializers.normal(stddev=1.0)


class Dense(nn.Module):
  """A dense layer with equalised learning rate: weight N(0, 1) x 1/sqrt(fan_in)."""
  features: int
  lrelu: bool = False
  bias_init: float = 0.0

  @nn.compact
  def __call__(self, x):
    weight = self.param('weight', _unit_normal, (x.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.constant(self.bias_init), (self.features,))
    x = x @ (weight * (1 / math.sqrt(x.shape[-1]))).astype(x.dtype)
    return _bias_act(x, bias, lrelu=self.lrelu)


class Conv(nn.Module):
  """A convolution with equalised learning rate, FIR up/downsampling, bias, optional leaky
  ReLU, an extra `gain` at call time and the clamp at +-conv_clamp x gain."""
  features: int
  kernel_size: int
  use_bias: bool = True
  lrelu: bool = True
  up: int = 1
  down: int = 1
  conv_clamp: float | None = None

  @nn.compact
  def __call__(self, x, gain: float = 1.0):
    k = self.kernel_size
    weight = self.param('weight', _unit_normal, (k, k, x.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.zeros, (self.features,)) if self.use_bias else None
    weight = weight * (1 / math.sqrt(x.shape[-1] * k * k))
    x = filtered_conv(x, weight.astype(x.dtype), up=self.up, down=self.down)
    clamp = self.conv_clamp * gain if self.conv_clamp else None
    return _bias_act(x, bias, lrelu=self.lrelu, gain=gain, clamp=clamp)


class MappingNetwork(nn.Module):
  """z (normalised), joined to the class embedding (normalised) when `num_classes` > 0, through
  `layers` dense layers with leaky ReLU to w (N, w_dim). `z_dim` 0: the class alone (D's)."""
  z_dim: int
  num_classes: int
  w_dim: int
  layers: int = 8

  @nn.compact
  def __call__(self, z, labels=None):
    parts = []
    if self.z_dim:
      parts.append(normalize_2nd_moment(z.astype(jnp.float32)))
    if self.num_classes:
      if labels is None:
        raise ValueError(f'this mapping network is conditional ({self.num_classes} classes): '
                         'pass labels')
      onehot = labels if labels.ndim == 2 else jax.nn.one_hot(labels, self.num_classes)
      parts.append(normalize_2nd_moment(Dense(self.w_dim, name='embed')(
          onehot.astype(jnp.float32))))
    if not parts:
      raise ValueError('a mapping network needs a latent (z_dim > 0) or classes')
    x = jnp.concatenate(parts, axis=-1)
    for i in range(self.layers):
      x = Dense(self.w_dim, lrelu=True, name=f'fc{i}')(x)
    return x


class SynthesisLayer(nn.Module):
  """Modulated 3x3 conv (demodulated, upsampling when up = 2), noise, bias, leaky ReLU, clamp.
  `index` is the layer's number in the synthesis network (its w's), which its noise folds in."""
  features: int
  index: int
  up: int = 1
  conv_clamp: float | None = 256

  @nn.compact
  def __call__(self, x, w, noise_keys=None, noise_mode: str = 'random'):
    styles = Dense(x.shape[-1], bias_init=1.0, name='affine')(w)
    weight = self.param('weight', _unit_normal, (3, 3, x.shape[-1], self.features))
    strength = self.param('noise_strength', nn.initializers.zeros, ())
    x = modulated_conv2d(x, weight, styles, up=self.up)
    n, res = x.shape[0], x.shape[1]
    if noise_mode == 'random':
      noise = jax.vmap(lambda key: jax.random.normal(
          jax.random.fold_in(key, self.index), (res, res)))(noise_keys)[..., None]
    elif noise_mode == 'const':
      key = jax.random.fold_in(jax.random.PRNGKey(_CONST_NOISE_SEED), self.index)
      noise = jnp.broadcast_to(jax.random.normal(key, (res, res))[None, :, :, None],
                               (n, res, res, 1))
    else:
      noise = None
    if noise is not None:
      x = x + (noise * strength).astype(x.dtype)
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    return _bias_act(x, bias, lrelu=True, clamp=self.conv_clamp)


class ToRGB(nn.Module):
  """1x1 modulated conv without demodulation (styles x 1/sqrt(fan_in)), bias and clamp."""
  features: int
  conv_clamp: float | None = 256

  @nn.compact
  def __call__(self, x, w):
    styles = Dense(x.shape[-1], bias_init=1.0, name='affine')(w) / math.sqrt(x.shape[-1])
    weight = self.param('weight', _unit_normal, (1, 1, x.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    x = modulated_conv2d(x, weight, styles, demodulate=False)
    return _bias_act(x, bias, lrelu=False, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
  """One resolution of the 'skip' synthesis network. ws: (N, convs + 1, w_dim), starting at
  this block's first conv; `first_index` is that conv's number in the network."""
  features: int
  img_channels: int
  first_index: int
  is_first: bool = False
  conv_clamp: float | None = 256
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, img, ws, noise_keys=None, noise_mode: str = 'random'):
    layer = lambda i, up, name: SynthesisLayer(self.features, self.first_index + i, up=up,
                                               conv_clamp=self.conv_clamp, name=name)
    if self.is_first:
      const = self.param('const', _unit_normal, (4, 4, self.features))
      x = jnp.broadcast_to(const.astype(self.dtype), (ws.shape[0], *const.shape))
      x = layer(0, 1, 'conv1')(x, ws[:, 0], noise_keys, noise_mode)
      convs = 1
    else:
      x = layer(0, 2, 'conv0')(x.astype(self.dtype), ws[:, 0], noise_keys, noise_mode)
      x = layer(1, 1, 'conv1')(x, ws[:, 1], noise_keys, noise_mode)
      convs = 2
    y = ToRGB(self.img_channels, conv_clamp=self.conv_clamp, name='torgb')(x, ws[:, convs])
    y = y.astype(jnp.float32)
    img = y if img is None else upsample2d(img) + y
    return x, img


class SynthesisNetwork(nn.Module):
  resolution: int
  img_channels: int = 3
  channel_base: int = 32768
  channel_max: int = 512
  conv_clamp: float | None = 256
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, ws, noise_keys=None, noise_mode: str = 'random'):
    _check_resolution(self.resolution)
    if ws.ndim != 3 or ws.shape[1] != num_ws(self.resolution):
      raise ValueError(f'the {self.resolution}x{self.resolution} synthesis network takes ws of '
                       f'shape (N, {num_ws(self.resolution)}, w_dim), got {ws.shape}')
    if noise_mode not in NOISE_MODES:
      raise ValueError(f'unknown noise_mode {noise_mode!r}; choose one of {list(NOISE_MODES)}')
    if noise_mode == 'random':
      if noise_keys is None:
        raise ValueError("noise_mode='random' needs noise_keys, one key per example "
                         "(or use noise_mode='const' or 'none')")
      if noise_keys.shape[0] != ws.shape[0]:
        raise ValueError(f'noise_keys holds {noise_keys.shape[0]} keys for {ws.shape[0]} '
                         'examples: give one key per example')
    ws = ws.astype(jnp.float32)
    x = img = None
    index = 0
    for i in range(2, int(math.log2(self.resolution)) + 1):
      res = 2 ** i
      convs = 1 if res == 4 else 2
      block = SynthesisBlock(channels(res, self.channel_base, self.channel_max),
                             self.img_channels, index, is_first=res == 4,
                             conv_clamp=self.conv_clamp, dtype=self.dtype, name=f'b{res}')
      x, img = block(x, img, ws[:, index:index + convs + 1], noise_keys, noise_mode)
      index += convs
    return img


class Generator(nn.Module):
  resolution: int
  img_channels: int = 3
  z_dim: int = 512
  w_dim: int = 512
  num_classes: int = 0          # 0: unconditional
  mapping_layers: int = 8
  channel_base: int = 32768
  channel_max: int = 512
  conv_clamp: float | None = 256   # None or 0: no clamp
  dtype: jnp.dtype = jnp.float32

  def setup(self):
    self.mapping = MappingNetwork(self.z_dim, self.num_classes, self.w_dim, self.mapping_layers)
    self.synthesis = SynthesisNetwork(self.resolution, self.img_channels, self.channel_base,
                                      self.channel_max, self.conv_clamp, self.dtype)

  @property
  def num_ws(self) -> int:
    return num_ws(self.resolution)

  def map(self, z, labels=None):
    """w (N, w_dim): not broadcast, not truncated."""
    return self.mapping(z, labels)

  def synthesize(self, ws, noise_keys=None, noise_mode: str = 'random'):
    """Images (N, H, W, C) float32 from ws (N, num_ws, w_dim)."""
    return self.synthesis(ws, noise_keys, noise_mode)

  def __call__(self, z, labels=None, *, noise_keys=None, noise_mode: str = 'const',
               train: bool = False):
    del train  # no batch statistics
    w = self.map(z, labels)
    ws = jnp.broadcast_to(w[:, None], (w.shape[0], self.num_ws, w.shape[-1]))
    return self.synthesize(ws, noise_keys, noise_mode)


def minibatch_stddev(x, group_size: int, num_channels: int = 1):
  """x (N, H, W, C) with `num_channels` channels appended: for each group of G = min(group_size,
  N) consecutive examples, the standard deviation over the group of each feature, averaged over
  pixels and over each of `num_channels` slices of C, given to every example of the group.

  Consecutive groups (the official code takes examples n, n + N/G, ...) keep each group on one
  device when the batch is split over devices in order, so D's outputs do not depend on the
  device count."""
  n, h, w, c = x.shape
  g = min(group_size, n)
  if n % g:
    raise ValueError(f'minibatch standard deviation: a batch of {n} examples (per device) '
                     f'does not split into groups of {g}; make the batch a multiple of '
                     f'model.mbstd_group or change the group size')
  y = x.astype(jnp.float32).reshape(n // g, g, h, w, num_channels, c // num_channels)
  y = jnp.sqrt(jnp.var(y, axis=1) + 1e-8)                        # (n/g, H, W, F, c/F)
  y = jnp.mean(y, axis=(1, 2, 4))                                 # (n/g, F)
  y = jnp.repeat(y, g, axis=0)[:, None, None, :]                  # example i gets group i // g
  return jnp.concatenate([x, jnp.broadcast_to(y, (n, h, w, num_channels)).astype(x.dtype)], -1)


class DiscriminatorBlock(nn.Module):
  tmp_features: int
  features: int
  architecture: str = 'resnet'
  is_first: bool = False
  conv_clamp: float | None = 256
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, img):
    if self.is_first or self.architecture == 'skip':
      y = Conv(self.tmp_features, 1, conv_clamp=self.conv_clamp, name='fromrgb')(
          img.astype(self.dtype))
      x = y if x is None else x + y
      img = downsample2d(img) if self.architecture == 'skip' else None
    conv1 = Conv(self.features, 3, down=2, conv_clamp=self.conv_clamp, name='conv1')
    if self.architecture == 'resnet':
      skip = Conv(self.features, 1, use_bias=False, lrelu=False, down=2, name='skip')(
          x, gain=math.sqrt(0.5))
      x = Conv(self.tmp_features, 3, conv_clamp=self.conv_clamp, name='conv0')(x)
      x = skip + conv1(x, gain=math.sqrt(0.5))
    else:
      x = conv1(Conv(self.tmp_features, 3, conv_clamp=self.conv_clamp, name='conv0')(x))
    return x, img


class DiscriminatorEpilogue(nn.Module):
  features: int
  out_features: int = 1
  architecture: str = 'resnet'
  mbstd_group_size: int = 4
  mbstd_num_channels: int = 1
  conv_clamp: float | None = 256

  @nn.compact
  def __call__(self, x, img):
    if self.architecture == 'skip':
      y = Conv(self.features, 1, name='fromrgb')(img.astype(jnp.float32))
      x = y if x is None else x.astype(jnp.float32) + y
    x = x.astype(jnp.float32)
    if self.mbstd_num_channels:
      x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_channels)
    x = Conv(self.features, 3, conv_clamp=self.conv_clamp, name='conv')(x)
    x = Dense(self.features, lrelu=True, name='fc')(x.reshape(x.shape[0], -1))
    return Dense(self.out_features, name='out')(x)


class Discriminator(nn.Module):
  resolution: int
  img_channels: int = 3
  num_classes: int = 0
  architecture: str = 'resnet'      # 'resnet', 'orig' or 'skip'
  channel_base: int = 32768
  channel_max: int = 512
  mbstd_group_size: int = 4
  mbstd_num_channels: int = 1
  cmap_dim: int = 0                 # 0: the 4x4 channels (official default)
  mapping_layers: int = 8
  conv_clamp: float | None = 256
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool = False):
    del train  # no batch statistics
    _check_resolution(self.resolution)
    if self.architecture not in ARCHITECTURES:
      raise ValueError(f'unknown discriminator architecture {self.architecture!r}; choose one '
                       f'of {list(ARCHITECTURES)}')
    ch = lambda res: channels(res, self.channel_base, self.channel_max)
    img, h = x.astype(jnp.float32), None
    for i in range(int(math.log2(self.resolution)), 2, -1):
      res = 2 ** i
      h, img = DiscriminatorBlock(ch(res), ch(res // 2), self.architecture,
                                  is_first=res == self.resolution, conv_clamp=self.conv_clamp,
                                  dtype=self.dtype, name=f'b{res}')(h, img)
    if h is None and self.architecture != 'skip':  # 4x4 images: no block reads them
      h = Conv(ch(4), 1, conv_clamp=self.conv_clamp, name='fromrgb')(img.astype(self.dtype))
    cmap_dim = (self.cmap_dim or ch(4)) if self.num_classes else 0
    out = DiscriminatorEpilogue(ch(4), cmap_dim or 1, self.architecture, self.mbstd_group_size,
                                self.mbstd_num_channels, self.conv_clamp, name='b4')(h, img)
    if not cmap_dim:
      return out[:, 0]
    cmap = MappingNetwork(0, self.num_classes, cmap_dim, self.mapping_layers,
                          name='mapping')(None, labels)
    return jnp.sum(out * cmap, axis=-1) / math.sqrt(cmap_dim)


def _check_resolution(resolution: int) -> None:
  if resolution < 4 or resolution & (resolution - 1):
    raise ValueError(f'StyleGAN2 needs a resolution that is a power of two, at least 4, got '
                     f'{resolution}: resize the images (e.g. to {_nearest_power(resolution)})')


def _nearest_power(n: int) -> int:
  return max(4, 2 ** round(math.log2(max(n, 1))))


def build(model_config, out_shape, dtype, num_classes: int = 0):
  if len(out_shape) != 3 or out_shape[0] != out_shape[1]:
    raise ValueError(f'StyleGAN2 needs square images (H, W, C), got data shape '
                     f'{tuple(out_shape)}: crop or resize the data to a square')
  resolution, _, img_channels = out_shape
  _check_resolution(resolution)
  if img_channels not in (1, 3):
    raise ValueError(f'StyleGAN2 here makes images of 1 or 3 channels, got {img_channels}')
  architecture = model_config.get('d_architecture', 'resnet')
  if architecture not in ARCHITECTURES:
    raise ValueError(f'unknown model.d_architecture {architecture!r}; choose one of '
                     f'{list(ARCHITECTURES)}')
  if model_config.mbstd_group < 1:
    raise ValueError(f'model.mbstd_group={model_config.mbstd_group}: the minibatch standard '
                     'deviation groups need at least 1 example (official: 4, cifar: 32)')
  conv_clamp = model_config.get('conv_clamp', 256) or None
  common = dict(channel_base=model_config.channel_base, channel_max=model_config.channel_max,
                conv_clamp=conv_clamp, dtype=dtype)
  g = Generator(resolution, img_channels, z_dim=model_config.z_dim, w_dim=model_config.w_dim,
                num_classes=num_classes, mapping_layers=model_config.mapping_layers, **common)
  d = Discriminator(resolution, img_channels, num_classes=num_classes, architecture=architecture,
                    mbstd_group_size=model_config.mbstd_group,
                    mbstd_num_channels=model_config.get('mbstd_channels', 1),
                    cmap_dim=model_config.get('cmap_dim', 0), **common)
  return g, d


def defaults(c) -> None:
  """StyleGAN2's fields of `config.model`, with their defaults (the official code's; its `cifar`
  configuration changes mapping_layers to 2, d_architecture to 'orig', mbstd_group to 32)."""
  c.name = 'stylegan2'
  c.z_dim = 512               # latent z
  c.w_dim = 512               # intermediate latent w (and the styles' source)
  c.mapping_layers = 8        # G's mapping network depth (official cifar and auto: 2)
  c.channel_base = 32768      # channels at resolution r: min(channel_base // r, channel_max)
  c.channel_max = 512         # ... (official fmaps 0.5 configurations: channel_base 16384)
  c.d_architecture = 'resnet'  # D: 'resnet' (residual), 'orig' (plain; cifar) or 'skip'
  c.mbstd_group = 4           # minibatch stddev group (official auto: min(batch per GPU, 4))
  c.mbstd_channels = 1        # minibatch stddev features appended (0: no such layer)
  c.cmap_dim = 0              # conditional D's projection width; 0: D's 4x4 channels
  c.conv_clamp = 256          # clamp conv outputs at +-this (official configs: 256); 0: none
