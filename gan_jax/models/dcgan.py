"""DCGAN (Radford et al. 2015) for 32, 64 and 128 pixels, 1 or 3 channels.

Generator: z -> 4x4 x (width * 2^(n-1)) by a dense layer (the same function as the paper's
4x4 transposed convolution on a 1x1 input), then n = log2(size / 4) up-convolutions halving the
width, batch norm and ReLU between them, tanh out. Discriminator: the mirror image with stride-2
4x4 convolutions, LeakyReLU 0.2, batch norm except on the input layer, one logit out. Batch-norm
statistics are taken over the global batch through the named mesh axis.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import layers

SUPPORTED_SIZES = (32, 64, 128)


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
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, z, *, train: bool):
    size, _, channels = self.out_shape
    n = num_resolutions(size)
    norm = lambda: layers.norm_layer(self.norm, train=train, axis_name=self.axis_name,
                                     dtype=self.dtype)
    top = self.width * 2 ** (n - 1)
    x = nn.Dense(4 * 4 * top, use_bias=self.norm == 'none', dtype=self.dtype,
                 kernel_init=layers.dcgan_kernel_init)(z.astype(self.dtype))
    x = nn.relu(norm()(x.reshape(z.shape[0], 4, 4, top)))
    for i in range(1, n):
      x = layers.UpConv2x(self.width * 2 ** (n - 1 - i), use_bias=self.norm == 'none',
                          method=self.upconv, grad=self.upconv_grad, dtype=self.dtype)(x)
      x = nn.relu(norm()(x))
    x = layers.UpConv2x(channels, use_bias=True, method=self.upconv_out,
                        grad=self.upconv_grad, config_key='upconv_out', dtype=self.dtype)(x)
    return jnp.tanh(x).astype(jnp.float32)


class Discriminator(nn.Module):
  width: int = 64             # channels of the first layer; doubles with each halving
  norm: str = 'batch'         # 'layer' or 'none' for gradient-penalty objectives
  downconv: str = 'plain'     # how the strided convolutions compute (layers.DOWNCONV_METHODS)
  downconv_in: str = 'im2col'  # ... and the input layer's, on 1 or 3 channels
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool):
    n = num_resolutions(x.shape[1])
    x = x.astype(self.dtype)
    for i in range(n):
      x = layers.DownConv2x(self.width * 2 ** i, use_bias=i == 0 or self.norm == 'none',
                            method=self.downconv_in if i == 0 else self.downconv,
                            config_key='downconv_in' if i == 0 else 'downconv',
                            dtype=self.dtype)(x)
      if i > 0:  # no normalisation on the input layer
        x = layers.norm_layer(self.norm, train=train, axis_name=self.axis_name,
                              dtype=self.dtype)(x)
      x = nn.leaky_relu(x, 0.2)
    # The paper's final 4x4 valid convolution to one channel is this dense layer.
    x = nn.Dense(1, dtype=self.dtype, kernel_init=layers.dcgan_kernel_init)(
        x.reshape(x.shape[0], -1))
    return x[:, 0].astype(jnp.float32)


def build(model_config, out_shape, dtype):
  if len(out_shape) != 3 or out_shape[0] != out_shape[1]:
    raise ValueError(f'DCGAN needs square images (H, W, C), got data shape {tuple(out_shape)}')
  num_resolutions(out_shape[0])
  g = Generator(out_shape=tuple(out_shape), width=model_config.g_width,
                norm=model_config.g_norm, upconv=model_config.upconv,
                upconv_out=model_config.upconv_out, upconv_grad=model_config.upconv_grad,
                dtype=dtype)
  d = Discriminator(width=model_config.d_width, norm=model_config.d_norm,
                    downconv=model_config.downconv, downconv_in=model_config.downconv_in,
                    dtype=dtype)
  return g, d
