"""Layers shared by the architectures: initialisers, maxout, dense layers, the DCGAN's
stride-2 convolutions, and the image-translation networks' normalisations, paddings and
PatchGAN discriminators.

`UpConv2x` is the generator's transposed convolution (kernel 4, stride 2, padding 1, PyTorch's
`ConvTranspose2d(c_in, c_out, 4, 2, 1)`) and `DownConv2x` the discriminator's strided
convolution. Both keep the 4x4 kernel as their parameter, so weights, initialisation and
parameter counts do not depend on how they compute, and both offer exact reformulations
(sub-pixel, phase-wise, block-wise) that avoid XLA:CPU's slow gradients of strided convolutions.
`tests/test_layers.py` checks every formulation's outputs and gradients against the plain op.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import flax.linen as nn
import numpy as np

# DCGAN initialisation (Radford et al. 2015): weights N(0, 0.02), batch-norm scale N(1, 0.02).
dcgan_kernel_init = nn.initializers.normal(stddev=0.02)


def dcgan_scale_init(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


# For output phase r (0 = even row, 1 = odd row) and tap t of a 3-wide window centred on the
# input pixel, which row of the 4-tall transposed-convolution kernel contributes (-1: none).
# Derived from out[o] = sum_i x[i] W[o + 1 - 2 i] (stride 2, padding 1):
#   out[2m]   = x[m] W[1] + x[m-1] W[3];   out[2m+1] = x[m+1] W[0] + x[m] W[2].
_PHASE_TAP_TO_ROW = np.array([[3, 1, -1], [-1, 2, 0]])


def subpixel_kernel(kernel: jax.Array) -> jax.Array:
  """Rearranges a (4, 4, c_in, c_out) transposed-conv kernel into (3, 3, c_in, 4 c_out).

  Output channels are ordered (row phase, column phase, c_out), matching `depth_to_space`.
  """
  kh, kw, c_in, c_out = kernel.shape
  if (kh, kw) != (4, 4):
    raise ValueError(f'subpixel_kernel expects a 4x4 kernel, got {kh}x{kw}')
  padded = jnp.concatenate([kernel, jnp.zeros((1, 4, c_in, c_out), kernel.dtype)], axis=0)
  padded = jnp.concatenate([padded, jnp.zeros((5, 1, c_in, c_out), kernel.dtype)], axis=1)
  rows = _PHASE_TAP_TO_ROW  # index -1 selects the zero row/column appended above
  # gathered[ry, ty, rx, tx] = padded[rows[ry, ty], rows[rx, tx]]
  gathered = padded[rows[:, :, None, None], rows[None, None, :, :]]
  # -> (ty, tx, c_in, ry, rx, c_out) -> (3, 3, c_in, 4 c_out)
  gathered = jnp.transpose(gathered, (1, 3, 4, 0, 2, 5))
  return gathered.reshape(3, 3, c_in, 4 * c_out)


def depth_to_space(x: jax.Array, block: int = 2) -> jax.Array:
  n, h, w, c = x.shape
  c_out = c // (block * block)
  x = x.reshape(n, h, w, block, block, c_out)
  x = jnp.transpose(x, (0, 1, 3, 2, 4, 5))
  return x.reshape(n, h * block, w * block, c_out)


def conv_transpose_4x2(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The plain transposed convolution (kernel 4, stride 2, padding 1), PyTorch semantics."""
  return jax.lax.conv_general_dilated(
      x, kernel[::-1, ::-1], window_strides=(1, 1), padding=((2, 2), (2, 2)),
      lhs_dilation=(2, 2), dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def conv_transpose_4x2_subpixel(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Exactly `conv_transpose_4x2`, as a stride-1 3x3 convolution plus depth-to-space."""
  y = jax.lax.conv_general_dilated(
      x, subpixel_kernel(kernel), window_strides=(1, 1), padding=((1, 1), (1, 1)),
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  return depth_to_space(y, 2)


# The same derivation with the window shifted per phase: phase r of out[2m + r] reads input rows
# m - 1 + r and m + r through kernel rows _PHASE_TAP_TO_ROW_2[r].
_PHASE_TAP_TO_ROW_2 = np.array([[3, 1], [2, 0]])


def phase_kernel(kernel: jax.Array) -> jax.Array:
  """Rearranges a (4, 4, c_in, c_out) transposed-conv kernel into (2, 2, c_in, 4 c_out)."""
  kh, kw, c_in, c_out = kernel.shape
  if (kh, kw) != (4, 4):
    raise ValueError(f'phase_kernel expects a 4x4 kernel, got {kh}x{kw}')
  rows = _PHASE_TAP_TO_ROW_2
  gathered = kernel[rows[:, :, None, None], rows[None, None, :, :]]  # (ry, ty, rx, tx, i, o)
  return jnp.transpose(gathered, (1, 3, 4, 0, 2, 5)).reshape(2, 2, c_in, 4 * c_out)


def conv_transpose_4x2_phases(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Exactly `conv_transpose_4x2`, as one 2x2 convolution computing all four output phases.

  A 2x2 window over the input padded by one gives, at window position p, every phase's value
  for the output pixels whose taps lie in that window; phase (ry, rx) is the crop starting at
  (ry, rx). It does the transposed convolution's useful multiply-adds only: 4/9 of those of
  the 3x3 sub-pixel form.
  """
  n, h, w, _ = x.shape
  # The 2x2 convolution as four shifted matrix products: XLA:CPU's own 2x2 convolution has a
  # very slow weight gradient, while matrix products and their gradients are fast everywhere.
  k2 = phase_kernel(kernel)
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  y = sum(jnp.einsum('nhwi,io->nhwo', xp[:, ty:ty + h + 1, tx:tx + w + 1], k2[ty, tx])
          for ty in range(2) for tx in range(2))          # (n, h + 1, w + 1, 4 c_out)
  y = y.reshape(n, h + 1, w + 1, 2, 2, -1)
  rows = [jnp.stack([y[:, ry:ry + h, rx:rx + w, ry, rx] for rx in range(2)], axis=3)
          for ry in range(2)]                                  # each (n, h, w, rx, c)
  out = jnp.stack(rows, axis=2)                                # (n, h, ry, w, rx, c)
  return out.reshape(n, 2 * h, 2 * w, -1)


UPCONV_METHODS = {
    'plain': conv_transpose_4x2,
    'subpixel': conv_transpose_4x2_subpixel,
    'phases': conv_transpose_4x2_phases,
}


def conv_4x2(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The plain strided convolution (kernel 4, stride 2, padding 1) of the DCGAN discriminator."""
  return jax.lax.conv_general_dilated(
      x, kernel, window_strides=(2, 2), padding=((1, 1), (1, 1)),
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def _space_to_depth_padded(x: jax.Array):
  """x padded by one and cut into 2x2 blocks: (n, h/2 + 1, w/2 + 1, 4 c_in), channels
  ordered (ry, rx, c_in)."""
  n, h, w, c_in = x.shape
  if h % 2 or w % 2:
    raise ValueError(f'this strided convolution needs even height and width, got {h}x{w}')
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  hb, wb = h // 2 + 1, w // 2 + 1
  blocks = xp.reshape(n, hb, 2, wb, 2, c_in).transpose(0, 1, 3, 2, 4, 5)
  return blocks.reshape(n, hb, wb, 4 * c_in)


def _block_kernel(kernel: jax.Array) -> jax.Array:
  """(4, 4, c_in, c_out) -> (ty, tx, 4 c_in, c_out): kernel row 2t + r is row r of block t."""
  c_in = kernel.shape[2]
  k = kernel.reshape(2, 2, 2, 2, c_in, -1).transpose(0, 2, 1, 3, 4, 5)  # (ty, tx, ry, rx, i, o)
  return k.reshape(2, 2, 4 * c_in, -1)


def conv_4x2_blocks(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Exactly `conv_4x2`, as space-to-depth and four shifted matrix products.

  With the input padded by one and cut into 2x2 blocks, output pixel o reads blocks o and o + 1
  (in each axis), and kernel row 2t + r meets row r of block o + t.
  """
  _, h, w, _ = x.shape
  blocks, k = _space_to_depth_padded(x), _block_kernel(kernel)
  return sum(jnp.einsum('nhwi,io->nhwo', blocks[:, ty:ty + h // 2, tx:tx + w // 2], k[ty, tx])
             for ty in range(2) for tx in range(2))


def conv_4x2_im2col(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Exactly `conv_4x2`, as one matrix product over every output pixel's 4x4 patch.

  The blocks of `conv_4x2_blocks` side by side give each output pixel its 16 c_in inputs. It
  copies the input four times, so it pays where c_in is small: on the image itself (1 or 3
  channels), where a convolution reading so few channels per tap runs far below the machine's
  matrix rate.
  """
  _, h, w, _ = x.shape
  blocks = _space_to_depth_padded(x)
  patches = jnp.concatenate([blocks[:, ty:ty + h // 2, tx:tx + w // 2]
                             for ty in range(2) for tx in range(2)], axis=-1)
  k = _block_kernel(kernel)
  return jnp.einsum('nhwi,io->nhwo', patches, k.reshape(-1, k.shape[-1]))


DOWNCONV_METHODS = {'plain': conv_4x2, 'blocks': conv_4x2_blocks, 'im2col': conv_4x2_im2col}


def with_adjoint_gradients(upconv):
  """`upconv`, a formulation of the transposed convolution, with its gradients taken through
  its adjoint rather than by differentiating the formulation.

  The transposed convolution is the adjoint of the strided convolution `conv_4x2`, so its
  gradient in x is `conv_4x2` of the output's cotangent with the kernel's channels swapped,
  and its kernel gradient is that convolution's kernel gradient against x. Both are XLA's own
  strided convolution, which XLA:CPU differentiates fast, while the gradients of the
  reformulations cost several times their forward pass (docs/PERFORMANCE.md). Exact: tests
  compare both gradients with the plain layer's. Like any custom VJP it supports reverse mode
  only; forward-mode differentiation (`jax.jvp`) needs `model.upconv_grad='autodiff'`.
  """

  @jax.custom_vjp
  def apply(x, kernel):
    return upconv(x, kernel)

  def forward(x, kernel):
    return upconv(x, kernel), (x, kernel)

  def backward(residuals, dy):
    x, kernel = residuals
    dx, kernel_pullback = jax.vjp(lambda k: conv_4x2(dy, k), kernel.transpose(0, 1, 3, 2))
    (dk,) = kernel_pullback(x)
    return dx, dk.transpose(0, 1, 3, 2)

  apply.defvjp(forward, backward)
  return apply


# How the up-convolutions' gradients are computed: through the adjoint, or by differentiating
# the method's own formulation.
UPCONV_GRADS = ('adjoint', 'autodiff')
_ADJOINT_UPCONV_METHODS = {name: with_adjoint_gradients(fn) for name, fn in UPCONV_METHODS.items()}


def upconv_function(method: str, grad: str = 'adjoint'):
  """The transposed convolution computed by `method` (UPCONV_METHODS), with gradients by
  `grad` (UPCONV_GRADS)."""
  if grad not in UPCONV_GRADS:
    raise ValueError(f'unknown model.upconv_grad {grad!r}; choose one of {UPCONV_GRADS}')
  return (_ADJOINT_UPCONV_METHODS if grad == 'adjoint' else UPCONV_METHODS)[method]


class _Conv4x2(nn.Module):
  """A 4x4, stride-2, padding-1 (transposed) convolution whose 4x4 kernel is the parameter,
  computed by one of the exactly equivalent `methods`, so checkpoints do not depend on it."""
  features: int
  use_bias: bool = True
  method: str = ''
  dtype: jnp.dtype = jnp.float32
  methods = {}           # method name -> function(x, kernel); set by subclasses
  config_key: str = ''   # the config field that chose the method, for error messages

  @nn.compact
  def __call__(self, x):
    if self.method not in self.methods:
      raise ValueError(f'unknown model.{self.config_key} {self.method!r}; '
                       f'choose one of {sorted(self.methods)}')
    kernel = self.param('kernel', dcgan_kernel_init, (4, 4, x.shape[-1], self.features))
    y = self._function()(x.astype(self.dtype), kernel.astype(self.dtype))
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,)).astype(self.dtype)
    return y

  def _function(self):
    return self.methods[self.method]


class UpConv2x(_Conv4x2):
  """Doubles height and width: the transposed convolution of PyTorch's
  ConvTranspose2d(c_in, c_out, 4, 2, 1), by a method of UPCONV_METHODS."""
  method: str = 'plain'
  grad: str = 'adjoint'   # gradients through the adjoint or by autodiff (UPCONV_GRADS)
  methods = UPCONV_METHODS
  config_key: str = 'upconv'

  def _function(self):
    return upconv_function(self.method, self.grad)


class DownConv2x(_Conv4x2):
  """Halves height and width: a 4x4 convolution with stride 2 and padding 1, by a method of
  DOWNCONV_METHODS."""
  method: str = 'plain'
  methods = DOWNCONV_METHODS
  config_key: str = 'downconv'


class Maxout(nn.Module):
  """A dense layer with `pieces` linear pieces per unit, keeping the maximum (Goodfellow 2013)."""
  features: int
  pieces: int
  weight_init: str = 'default'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    y = dense(self.features * self.pieces, in_features=x.shape[-1], init=self.weight_init,
              dtype=self.dtype, name='Dense_0')(x)
    return y.reshape(*y.shape[:-1], self.features, self.pieces).max(axis=-1)


class ExampleDropout(nn.Module):
  """Dropout whose mask for each example depends on its index in the global batch.

  Flax's `nn.Dropout` draws one mask for a device's whole share, so the same global batch split
  over another number of devices would see other masks. Here example i's mask comes from
  fold_in(key, i), with i offset by the device's position on `axis_name`, so training does not
  depend on the device count. Needs a 'dropout' RNG when `train` is set.
  """
  rate: float
  axis_name: str | None = 'batch'

  @nn.compact
  def __call__(self, x, *, train: bool):
    if not train or self.rate == 0.0:
      return x
    key = self.make_rng('dropout')
    first = jax.lax.axis_index(self.axis_name) * x.shape[0] if self.axis_name else 0
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(first + jnp.arange(x.shape[0]))
    keep = jax.vmap(lambda k: jax.random.bernoulli(k, 1.0 - self.rate, x.shape[1:]))(keys)
    return jnp.where(keep, x / (1.0 - self.rate), jnp.zeros_like(x))


def norm_layer(kind: str, *, train: bool, axis_name: str | None, dtype):
  """'batch' (statistics over the global batch through `axis_name`), 'layer' or 'none'."""
  if kind == 'batch':
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        axis_name=axis_name if train else None, scale_init=dcgan_scale_init,
                        dtype=dtype)
  if kind == 'layer':
    # Over all of an example's features (H, W and C for feature maps), as the WGAN-GP critic
    # uses it; scale and offset per channel.
    return lambda x: nn.LayerNorm(reduction_axes=tuple(range(1, x.ndim)), feature_axes=-1,
                                  dtype=dtype)(x)
  if kind == 'none':
    return lambda x: x
  raise ValueError(f"unknown normalisation {kind!r}; choose one of 'batch', 'layer', 'none'")


class ConditionalBatchNorm(nn.Module):
  """Batch norm with one scale and one shift per class (de Vries et al. 2017; the projection
  discriminator's generator): normalised as `norm_layer('batch')`, without its own affine
  parameters, then x * scale[y] + shift[y]. Scales start at 1 and shifts at 0."""
  num_classes: int
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, labels, *, train: bool):
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                     axis_name=self.axis_name if train else None, use_scale=False,
                     use_bias=False, dtype=self.dtype)(x)
    channels = x.shape[-1]
    scale = self.param('scale', nn.initializers.ones, (self.num_classes, channels))
    shift = self.param('shift', nn.initializers.zeros, (self.num_classes, channels))
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (channels,)
    return (x * scale[labels].reshape(shape).astype(self.dtype)
            + shift[labels].reshape(shape).astype(self.dtype))


def one_hot_channels(labels, num_classes: int, like):
  """One-hot labels as constant feature maps (or features) beside `like`'s last axis."""
  y = jax.nn.one_hot(labels, num_classes, dtype=like.dtype)
  y = y.reshape((like.shape[0],) + (1,) * (like.ndim - 2) + (num_classes,))
  return jnp.broadcast_to(y, like.shape[:-1] + (num_classes,))


def torch_linear_init(bound: float):
  """U(-bound, bound), PyTorch's default for nn.Linear weights and biases (bound 1/sqrt(fan_in))."""
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


def dense(features: int, *, in_features: int, init: str, use_bias: bool = True, dtype=jnp.float32,
          name: str | None = None):
  """A dense layer with 'default' (Flax: LeCun normal weights, zero biases), 'torch'
  (PyTorch's nn.Linear: weights and biases uniform in +-1/sqrt(fan_in)) or 'normal'
  initialisation (weights N(0, 0.02^2) whatever the fan-in, zero biases: DCGAN's and the
  PacGAN code's).

  Random biases matter for low-dimensional inputs far from the origin: with zero biases every
  ReLU kink starts at x = 0, so a discriminator fed data around x = 4 starts linear over the
  data and can only learn to match means.
  """
  if init == 'default':
    return nn.Dense(features, use_bias=use_bias, dtype=dtype, name=name)
  if init == 'torch':
    bound = 1.0 / np.sqrt(in_features)
    return nn.Dense(features, use_bias=use_bias, dtype=dtype, name=name,
                    kernel_init=torch_linear_init(bound), bias_init=torch_linear_init(bound))
  if init == 'normal':
    return nn.Dense(features, use_bias=use_bias, dtype=dtype, name=name,
                    kernel_init=dcgan_kernel_init)
  raise ValueError(f"unknown model.weight_init {init!r}; choose 'default', 'torch' or 'normal'")


# ---- Spectral normalisation (Miyato et al. 2018) and self-attention (Zhang et al. 2019) ----

SPECTRAL_VECTOR = 'sn_u'  # the leaf name of a layer's power-iteration vector in 'batch_stats'


def _l2_normalize(v, eps: float = 1e-12):
  return v * jax.lax.rsqrt(jnp.maximum(jnp.sum(v * v), eps * eps))


def power_iteration(w: jax.Array, u: jax.Array, eps: float = 1e-12):
  """One power iteration for the largest singular value of the matrix `w` (rows: inputs,
  columns: outputs) from the output-side vector `u`. Returns (sigma, new u), both without
  gradient through the vectors: sigma = v^T w u' with v = w u / |w u|, u' = w^T v / |w^T v|."""
  v = jax.lax.stop_gradient(_l2_normalize(w @ u, eps))
  u = jax.lax.stop_gradient(_l2_normalize(w.T @ v, eps))
  return v @ w @ u, u


def spectral_normalize(module: nn.Module, kernel: jax.Array, *, update: bool) -> jax.Array:
  """`kernel` divided by its largest singular value, estimated by one power iteration from the
  vector that `module` keeps in its 'batch_stats' collection (leaf `sn_u`). A kernel of any
  rank is read as a matrix (fan-in, outputs). `update` stores the iterated vector (training
  passes that update statistics); otherwise the iteration runs and is forgotten. The vector is
  a function of the replicated weights alone, so it is the same on every device."""
  w = kernel.reshape(-1, kernel.shape[-1]).astype(jnp.float32)
  u_var = module.variable('batch_stats', SPECTRAL_VECTOR, lambda: _l2_normalize(
      jax.random.normal(module.make_rng('params'), (w.shape[-1],), jnp.float32)))
  sigma, u = power_iteration(w, u_var.value)
  if update and not module.is_initializing():
    u_var.value = u
  return kernel / sigma.astype(kernel.dtype)


def _weights(module: nn.Module, shape, *, spectral: bool, update: bool, use_bias: bool):
  """(kernel, bias or None) of a layer: the kernel spectrally normalised when `spectral`."""
  kernel = module.param('kernel', module.kernel_init, shape, jnp.float32)
  if spectral:
    kernel = spectral_normalize(module, kernel, update=update)
  bias = None
  if use_bias:
    bias = module.param('bias', nn.initializers.zeros, (shape[-1],), jnp.float32)
  return kernel, bias


class SNDense(nn.Module):
  """A dense layer whose kernel is spectrally normalised when `spectral` is set."""
  features: int
  use_bias: bool = True
  spectral: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, update: bool = False):
    kernel, bias = _weights(self, (x.shape[-1], self.features), spectral=self.spectral,
                            update=update, use_bias=self.use_bias)
    y = jnp.dot(x.astype(self.dtype), kernel.astype(self.dtype))
    return y if bias is None else y + bias.astype(self.dtype)


class SNConv(nn.Module):
  """A stride-1 'SAME' convolution whose kernel is spectrally normalised when `spectral` is
  set."""
  features: int
  kernel_size: int = 3
  use_bias: bool = True
  spectral: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, update: bool = False):
    k = self.kernel_size
    kernel, bias = _weights(self, (k, k, x.shape[-1], self.features), spectral=self.spectral,
                            update=update, use_bias=self.use_bias)
    y = jax.lax.conv_general_dilated(x.astype(self.dtype), kernel.astype(self.dtype), (1, 1),
                                     'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    return y if bias is None else y + bias.astype(self.dtype)


class SNEmbed(nn.Module):
  """A class embedding (num_classes, features), spectrally normalised when `spectral` is set
  (the projection discriminator's)."""
  num_classes: int
  features: int
  spectral: bool = True
  embedding_init: nn.initializers.Initializer = nn.initializers.normal(stddev=1.0)

  @nn.compact
  def __call__(self, labels, *, update: bool = False):
    table = self.param('embedding', self.embedding_init, (self.num_classes, self.features),
                       jnp.float32)
    if self.spectral:
      table = spectral_normalize(self, table, update=update)
    return table[labels]


class SelfAttention(nn.Module):
  """SAGAN's self-attention block as BigGAN uses it: 1x1 convolutions theta, phi (C/8
  channels), g (C/2) and o (back to C), all without bias; phi and g max-pooled 2x2; attention
  softmax(theta phi^T) over the pooled positions; y = x + gamma * o(attention g). The gate gamma
  starts at 0, so the block starts as the identity."""
  spectral: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, update: bool = False):
    n, h, w, c = x.shape
    if c % 8 or h % 2 or w % 2:
      raise ValueError(f'self-attention needs channels divisible by 8 and an even size; got '
                       f'{h}x{w}x{c}')
    conv = lambda f, name: SNConv(f, 1, use_bias=False, spectral=self.spectral,
                                  kernel_init=self.kernel_init, dtype=self.dtype, name=name)
    theta = conv(c // 8, 'theta')(x, update=update).reshape(n, h * w, c // 8)
    pool = lambda y: nn.max_pool(y, (2, 2), (2, 2))
    phi = pool(conv(c // 8, 'phi')(x, update=update)).reshape(n, h * w // 4, c // 8)
    g = pool(conv(c // 2, 'g')(x, update=update)).reshape(n, h * w // 4, c // 2)
    beta = jax.nn.softmax(jnp.einsum('nqc,nkc->nqk', theta, phi).astype(jnp.float32), axis=-1)
    o = jnp.einsum('nqk,nkc->nqc', beta.astype(self.dtype), g).reshape(n, h, w, c // 2)
    o = conv(c, 'o')(o, update=update)
    gamma = self.param('gamma', nn.initializers.zeros, (), jnp.float32)
    return x + gamma.astype(self.dtype) * o


# ---- The image-translation networks' layers (Pix2Pix, CycleGAN; `translation.py`) ----
# As the official PyTorch implementation (pytorch-CycleGAN-and-pix2pix, `models/networks.py`)
# builds them: convolutions with PyTorch's explicit zero padding, weights N(0, 0.02), biases 0,
# batch-norm scales N(1, 0.02).

NORMS_2D = ('batch', 'instance', 'none')
PADDINGS = ('reflect', 'zero', 'replicate')


def norm2d(kind: str, *, train: bool, axis_name: str | None, dtype, name: str | None = None):
  """A feature-map normalisation: 'batch' (as `norm_layer`: statistics over the global batch
  through `axis_name` when training, running averages otherwise; scale N(1, 0.02), offset 0),
  'instance' (each example's and channel's own mean and variance over H and W, in training and
  in inference alike; no parameters, no running statistics: PyTorch's InstanceNorm2d without
  affine parameters) or 'none'."""
  if kind == 'batch':
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        axis_name=axis_name if train else None, scale_init=dcgan_scale_init,
                        dtype=dtype, name=name)
  if kind == 'instance':
    # The two-pass variance, as PyTorch computes it: E[x^2] - E[x]^2 loses digits on feature
    # maps whose mean is large against their spread.
    return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False,
                           use_fast_variance=False, dtype=dtype, name=name)
  if kind == 'none':
    return lambda x: x
  raise ValueError(f'unknown normalisation {kind!r}; choose one of {list(NORMS_2D)}')


def conv_bias(norm: str) -> bool:
  """Whether a convolution followed by normalisation `norm` has a bias. The official rule is
  "only before instance norm": batch norm's offset makes a bias redundant, and instance norm
  without affine parameters removes it again, but the official code keeps it there. Without
  normalisation the official code drops the bias too (its rule tests for instance norm); here
  the convolution keeps it, since nothing after it could stand in for it."""
  if norm not in NORMS_2D:
    raise ValueError(f'unknown normalisation {norm!r}; choose one of {list(NORMS_2D)}')
  return norm != 'batch'


def reflect_pad(x: jax.Array, p: int) -> jax.Array:
  """Pads H and W of an NHWC batch by `p` with their mirror image, the edge row itself not
  repeated: PyTorch's ReflectionPad2d(p). Needs H and W larger than p."""
  return jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode='reflect')


def pad(x: jax.Array, p: int, mode: str) -> jax.Array:
  """Pads H and W of an NHWC batch by `p`: 'reflect' (ReflectionPad2d), 'replicate' (the edge
  repeated: ReplicationPad2d) or 'zero'."""
  if mode == 'reflect':
    return reflect_pad(x, p)
  widths = ((0, 0), (p, p), (p, p), (0, 0))
  if mode == 'replicate':
    return jnp.pad(x, widths, mode='edge')
  if mode == 'zero':
    return jnp.pad(x, widths)
  raise ValueError(f'unknown padding {mode!r}; choose one of {list(PADDINGS)}')


def conv2d(features: int, kernel: int, *, stride: int = 1, padding: int = 0,
           use_bias: bool = True, dtype=jnp.float32, name: str | None = None) -> nn.Conv:
  """PyTorch's Conv2d(c_in, features, kernel, stride, padding): zero padding of `padding` on
  every side (not Flax's 'SAME', which pads strided convolutions asymmetrically), weights
  N(0, 0.02), bias 0."""
  return nn.Conv(features, (kernel, kernel), strides=(stride, stride),
                 padding=((padding, padding), (padding, padding)), use_bias=use_bias,
                 kernel_init=dcgan_kernel_init, dtype=dtype, name=name)


def patch_output_size(size: int, n_layers: int) -> int:
  """The side of `PatchDiscriminator`'s logit map for an input side `size`: `n_layers`
  4x4 stride-2 convolutions, then two 4x4 stride-1 ones, all padded by 1 (30 for 256 and 3
  layers). Below 1 when the input is too small for that depth."""
  for stride in (2,) * n_layers + (1, 1):
    if size < 1:
      return size
    size = (size + 2 - 4) // stride + 1
  return size


class PatchDiscriminator(nn.Module):
  """The PatchGAN discriminator (the official NLayerDiscriminator; 'basic' is n_layers 3): a
  map of logits, each judging one patch of the input. 4x4 convolutions, padding 1: one to
  `ndf` with stride 2 (bias, no normalisation), n_layers - 1 more with stride 2 doubling the
  width up to 8 ndf, one with stride 1 (width ndf min(2^n_layers, 8)), each normalised, all
  followed by LeakyReLU 0.2; then one with stride 1 to a single channel (bias). With 3 layers
  each logit sees a 70x70 patch and a 256x256 input gives 30x30 logits; no sigmoid."""
  ndf: int = 64
  n_layers: int = 3
  norm: str = 'batch'          # 'batch' (Pix2Pix), 'instance' (CycleGAN) or 'none'
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool):
    use_bias = conv_bias(self.norm)
    norm = lambda i: norm2d(self.norm, train=train, axis_name=self.axis_name,
                            dtype=self.dtype, name=f'norm{i}')
    x = x.astype(self.dtype)
    x = nn.leaky_relu(conv2d(self.ndf, 4, stride=2, padding=1, dtype=self.dtype,
                             name='conv0')(x), 0.2)
    for i in range(1, self.n_layers + 1):
      stride = 2 if i < self.n_layers else 1
      x = conv2d(self.ndf * min(2 ** i, 8), 4, stride=stride, padding=1, use_bias=use_bias,
                 dtype=self.dtype, name=f'conv{i}')(x)
      x = nn.leaky_relu(norm(i)(x), 0.2)
    x = conv2d(1, 4, stride=1, padding=1, dtype=self.dtype, name='logits')(x)
    return x.astype(jnp.float32)


class PixelDiscriminator(nn.Module):
  """The 1x1 PatchGAN (the official PixelDiscriminator): one logit per pixel from 1x1
  convolutions, to `ndf` (bias) and LeakyReLU 0.2, to 2 ndf, normalised, LeakyReLU 0.2, to one
  channel. As in the official code the last convolution has a bias only where the hidden one
  has (`conv_bias`: not with batch norm)."""
  ndf: int = 64
  norm: str = 'batch'
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool):
    use_bias = conv_bias(self.norm)
    x = x.astype(self.dtype)
    x = nn.leaky_relu(conv2d(self.ndf, 1, dtype=self.dtype, name='conv0')(x), 0.2)
    x = conv2d(2 * self.ndf, 1, use_bias=use_bias, dtype=self.dtype, name='conv1')(x)
    x = nn.leaky_relu(norm2d(self.norm, train=train, axis_name=self.axis_name,
                             dtype=self.dtype, name='norm1')(x), 0.2)
    x = conv2d(1, 1, use_bias=use_bias, dtype=self.dtype, name='logits')(x)
    return x.astype(jnp.float32)
