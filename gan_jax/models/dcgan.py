"""DCGAN (Radford et al. 2015) for 32, 64 and 128 pixels, 1 or 3 channels, unconditional or
class-conditional.

Generator: z -> 4x4 x (width * 2^(n-1)) by a dense layer (the same function as the paper's
4x4 transposed convolution on a 1x1 input), then n = log2(size / 4) up-convolutions halving the
width, batch norm and ReLU between them, tanh out. Discriminator: the mirror image with stride-2
4x4 convolutions, LeakyReLU 0.2, batch norm except on the input layer, one logit out. Batch-norm
statistics are taken over the global batch through the named mesh axis.

`z_skip` (off by default, not in the paper): z also scales and shifts the batch-normed
features of every layer after the first, per channel, x (1 + gamma(z)) + beta(z), from z alone
and never from the label (BigGAN passes z to every block in the same spirit). The dense layers
start at zero, so an initialised generator draws as the plain one. With the label joined to z
at the input only, the latent's effect can differ from class to class; this path gives the
latent a way to change every class alike, which Age-cGAN's re-attribution relies on
(experiments/agecgan_digits.py, docs/RESULTS.md).

Class-conditional (`num_classes` > 0), by `conditioning`:
- `concat` (Mirza & Osindero 2014): a one-hot label joined to z, and to D's input as constant
  channels;
- `projection` (Miyato & Koyama 2018): conditional batch norm in G (one scale and shift per
  class, `layers.ConditionalBatchNorm`); D(x, y) = psi(phi(x)) + embed(y) . phi(x), phi(x) D's
  last feature map, flattened (the features the unconditional D's final layer reads, which
  DCGAN's D has in place of a pooled vector), psi the unconditional D's final layer;
- `acgan` (Odena et al. 2017): G as for projection; D with a second head, class logits from
  the same features, and returns (logit, class logits).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import layers

SUPPORTED_SIZES = (32, 64, 128)
CONDITIONINGS = ('concat', 'projection', 'acgan')


def num_resolutions(size: int) -> int:
  if size not in SUPPORTED_SIZES:
    raise ValueError(f'DCGAN supports image sizes {SUPPORTED_SIZES}, got {size}')
  return int(math.log2(size // 4))


class Generator(nn.Module):
  out_shape: tuple[int, int, int]
  width: int = 64             # channels of the last hidden layer; doubles towards the input
  norm: str = 'batch'
  upconv: str = 'plain'       # how the up-convolutions compute (layers.UPCONV_METHODS)
  upconv_out: str = 'plain'   # ... and the output layer's, to 1 or 3 channels
  upconv_grad: str = 'adjoint'  # their gradients: 'adjoint' or 'autodiff' (layers.UPCONV_GRADS)
  num_classes: int = 0        # 0: unconditional
  conditioning: str = 'projection'  # with classes: 'concat', or conditional batch norm
  z_skip: bool = False        # z also scales and shifts the features of every later layer
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool):
    size, _, channels = self.out_shape
    n = num_resolutions(size)
    conditional_norm = self.num_classes > 0 and self.conditioning != 'concat'

    def norm(x):
      if conditional_norm:
        return layers.ConditionalBatchNorm(self.num_classes, axis_name=self.axis_name,
                                           dtype=self.dtype)(x, labels, train=train)
      return layers.norm_layer(self.norm, train=train, axis_name=self.axis_name,
                               dtype=self.dtype)(x)
    latent = z = z.astype(self.dtype)
    if self.num_classes and self.conditioning == 'concat':
      z = jnp.concatenate([z, layers.one_hot_channels(labels, self.num_classes, z)], axis=-1)
    top = self.width * 2 ** (n - 1)
    x = nn.Dense(4 * 4 * top, use_bias=self.norm == 'none', dtype=self.dtype,
                 kernel_init=layers.dcgan_kernel_init)(z)
    x = nn.relu(norm(x.reshape(z.shape[0], 4, 4, top)))
    for i in range(1, n):
      x = layers.UpConv2x(self.width * 2 ** (n - 1 - i), use_bias=self.norm == 'none',
                          method=self.upconv, grad=self.upconv_grad, dtype=self.dtype)(x)
      x = norm(x)
      if self.z_skip:  # from z alone, never the label: x (1 + gamma(z)) + beta(z), 0 at init
        film = nn.Dense(2 * x.shape[-1], dtype=self.dtype, kernel_init=nn.initializers.zeros,
                        name=f'z_skip_{i}')(latent)
        gamma, beta = jnp.split(film[:, None, None, :], 2, axis=-1)
        x = x * (1 + gamma) + beta
      x = nn.relu(x)
    x = layers.UpConv2x(channels, use_bias=True, method=self.upconv_out,
                        grad=self.upconv_grad, config_key='upconv_out', dtype=self.dtype)(x)
    return jnp.tanh(x).astype(jnp.float32)


class Discriminator(nn.Module):
  width: int = 64             # channels of the first layer; doubles with each halving
  norm: str = 'batch'         # 'layer' or 'none' for gradient-penalty objectives
  downconv: str = 'plain'     # how the strided convolutions compute (layers.DOWNCONV_METHODS)
  downconv_in: str = 'im2col'  # ... and the input layer's, on 1 or 3 channels
  num_classes: int = 0        # 0: unconditional
  conditioning: str = 'projection'  # with classes: 'concat', 'projection' or 'acgan'
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool):
    n = num_resolutions(x.shape[1])
    x = x.astype(self.dtype)
    if self.num_classes and self.conditioning == 'concat':
      x = jnp.concatenate([x, layers.one_hot_channels(labels, self.num_classes, x)], axis=-1)
    for i in range(n):
      x = layers.DownConv2x(self.width * 2 ** i, use_bias=i == 0 or self.norm == 'none',
                            method=self.downconv_in if i == 0 else self.downconv,
                            config_key='downconv_in' if i == 0 else 'downconv',
                            dtype=self.dtype)(x)
      if i > 0:  # no normalisation on the input layer
        x = layers.norm_layer(self.norm, train=train, axis_name=self.axis_name,
                              dtype=self.dtype)(x)
      x = nn.leaky_relu(x, 0.2)
    features = x.reshape(x.shape[0], -1)
    # The paper's final 4x4 valid convolution to one channel is this dense layer.
    logit = nn.Dense(1, dtype=self.dtype, kernel_init=layers.dcgan_kernel_init)(features)[:, 0]
    if self.num_classes and self.conditioning == 'projection':
      # phi(x): the features the unconditional head reads, the flattened last feature map
      # (summed over positions instead, the class signal stayed too weak to condition G on
      # the digits: docs/RESULTS.md).
      embed = nn.Embed(self.num_classes, features.shape[-1], dtype=self.dtype,
                       embedding_init=layers.dcgan_kernel_init, name='class_embedding')
      logit = logit + jnp.sum(embed(labels) * features, axis=-1)
    if self.num_classes and self.conditioning == 'acgan':
      class_logits = nn.Dense(self.num_classes, dtype=self.dtype,
                              kernel_init=layers.dcgan_kernel_init, name='classifier')(features)
      return logit.astype(jnp.float32), class_logits.astype(jnp.float32)
    return logit.astype(jnp.float32)


def build(model_config, out_shape, dtype, num_classes: int = 0):
  if len(out_shape) != 3 or out_shape[0] != out_shape[1]:
    raise ValueError(f'DCGAN needs square images (H, W, C), got data shape {tuple(out_shape)}')
  num_resolutions(out_shape[0])
  conditioning = model_config.get('conditioning', 'projection')
  if num_classes:
    if conditioning not in CONDITIONINGS:
      raise ValueError(f'unknown model.conditioning {conditioning!r}; choose one of '
                       f'{list(CONDITIONINGS)}')
    if conditioning != 'concat' and model_config.g_norm != 'batch':
      raise ValueError(f"model.conditioning={conditioning!r} conditions G's batch norm on the "
                       f"class; it needs model.g_norm='batch', not {model_config.g_norm!r}")
  g = Generator(out_shape=tuple(out_shape), width=model_config.g_width,
                norm=model_config.g_norm, upconv=model_config.upconv,
                upconv_out=model_config.upconv_out, upconv_grad=model_config.upconv_grad,
                num_classes=num_classes, conditioning=conditioning,
                z_skip=bool(model_config.get('z_skip', False)), dtype=dtype)
  d = Discriminator(width=model_config.d_width, norm=model_config.d_norm,
                    downconv=model_config.downconv, downconv_in=model_config.downconv_in,
                    num_classes=num_classes, conditioning=conditioning, dtype=dtype)
  return g, d


def defaults(c) -> None:
  """The DCGAN architecture's fields of `config.model`, with their defaults."""
  c.name = 'dcgan'
  c.g_width = 64              # generator channels at the last hidden layer
  c.d_width = 64              # discriminator channels at the first layer
  c.g_norm = 'batch'          # 'batch' | 'layer' | 'none'
  c.d_norm = 'batch'          # use 'layer' or 'none' with gradient penalties
  # How the strided convolutions compute. Every method is the same function of the same 4x4
  # kernel (tested), so checkpoints do not depend on them; they differ only in speed
  # (docs/PERFORMANCE.md). The image-side layers, with 1 or 3 channels, have their own.
  c.upconv = 'plain'          # G's transposed convs: 'plain', 'phases' or 'subpixel'
  c.upconv_out = 'plain'      # G's output layer: the same choices
  c.upconv_grad = 'adjoint'   # their gradients: through the adjoint strided convolution
                              # (fast) or 'autodiff' of the method's formulation
  c.downconv = 'plain'        # D's strided convs: 'plain', 'blocks' or 'im2col'
  c.downconv_in = 'im2col'    # D's input layer: the same choices
  c.z_skip = False            # G: z also scales and shifts the features of every layer after
                              # the first (per channel, from z alone, zero at init)


class Encoder(nn.Module):
  """Age-cGAN's encoder E: an image back to a latent z. The discriminator's body (stride-2 4x4
  convolutions doubling the channels from `width`, batch norm except on the input layer,
  LeakyReLU 0.2) and a dense layer to `z_dim`."""
  z_dim: int
  width: int = 64
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool):
    n = num_resolutions(x.shape[1])
    x = x.astype(self.dtype)
    for i in range(n):
      x = layers.DownConv2x(self.width * 2 ** i, use_bias=i == 0, method='plain',
                            dtype=self.dtype)(x)
      if i > 0:
        x = layers.norm_layer('batch', train=train, axis_name=self.axis_name,
                              dtype=self.dtype)(x)
      x = nn.leaky_relu(x, 0.2)
    z = nn.Dense(self.z_dim, dtype=self.dtype, kernel_init=layers.dcgan_kernel_init)(
        x.reshape(x.shape[0], -1))
    return z.astype(jnp.float32)
