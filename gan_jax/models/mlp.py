"""Multilayer-perceptron GAN (Goodfellow et al. 2014), also the PacGAN mixture architecture.

The generator maps noise through ReLU layers (optionally batch-normalised) to the data shape;
the discriminator uses ReLU, LeakyReLU or maxout units and returns one logit per example.
"""

from __future__ import annotations

import math

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import layers


class Generator(nn.Module):
  out_shape: tuple[int, ...]
  hidden: Sequence[int] = (128, 128)
  norm: str = 'none'           # 'batch' | 'layer' | 'none' after each hidden layer
  output: str = 'none'         # 'tanh' for images in [-1, 1], 'none' for points
  weight_init: str = 'default'  # 'default' (Flax) or 'torch' (see layers.dense)
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, z, *, train: bool):
    x = z.astype(self.dtype)
    for width in self.hidden:
      # No bias before batch norm: it would be removed by the normalisation anyway, and its
      # near-zero gradient would only feed optimizer noise.
      x = layers.dense(width, in_features=x.shape[-1], init=self.weight_init,
                       use_bias=self.norm != 'batch', dtype=self.dtype)(x)
      x = layers.norm_layer(self.norm, train=train, axis_name=self.axis_name, dtype=self.dtype)(x)
      x = nn.relu(x)
    x = layers.dense(math.prod(self.out_shape), in_features=x.shape[-1], init=self.weight_init,
                     dtype=self.dtype)(x)
    if self.output == 'tanh':
      x = jnp.tanh(x)
    elif self.output != 'none':
      raise ValueError(f"unknown output activation {self.output!r}; choose 'tanh' or 'none'")
    return x.reshape(x.shape[0], *self.out_shape).astype(jnp.float32)


class Discriminator(nn.Module):
  hidden: Sequence[int] = (128, 128)
  activation: str = 'relu'     # 'relu' | 'leaky_relu' | 'tanh' | 'maxout'
  maxout_pieces: int = 5
  input_dropout: float = 0.0   # dropout rate on the input (train only)
  dropout: float = 0.0         # dropout rate after each hidden layer (train only)
  weight_init: str = 'default'
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool):
    x = x.reshape(x.shape[0], -1).astype(self.dtype)
    x = layers.ExampleDropout(self.input_dropout, self.axis_name)(x, train=train)
    for width in self.hidden:
      x = self._hidden(x, width)
      x = layers.ExampleDropout(self.dropout, self.axis_name)(x, train=train)
    x = layers.dense(1, in_features=x.shape[-1], init=self.weight_init, dtype=self.dtype)(x)
    return x[:, 0].astype(jnp.float32)

  def _hidden(self, x, width):
    if self.activation == 'maxout':
      return layers.Maxout(width, self.maxout_pieces, weight_init=self.weight_init,
                           dtype=self.dtype)(x)
    x = layers.dense(width, in_features=x.shape[-1], init=self.weight_init,
                     dtype=self.dtype)(x)
    if self.activation == 'relu':
      return nn.relu(x)
    if self.activation == 'leaky_relu':
      return nn.leaky_relu(x, 0.2)
    if self.activation == 'tanh':
      return jnp.tanh(x)
    raise ValueError(f"unknown activation {self.activation!r}; "
                     "choose 'relu', 'leaky_relu', 'tanh' or 'maxout'")


def build(model_config, out_shape, dtype):
  """Returns (generator, discriminator) for `model_config`."""
  g = Generator(out_shape=tuple(out_shape), hidden=tuple(model_config.g_hidden),
                norm=model_config.g_norm, output=model_config.g_output,
                weight_init=model_config.weight_init, dtype=dtype)
  d = Discriminator(hidden=tuple(model_config.d_hidden), activation=model_config.d_activation,
                    maxout_pieces=model_config.maxout_pieces,
                    input_dropout=model_config.get('d_input_dropout', 0.0),
                    dropout=model_config.get('d_dropout', 0.0),
                    weight_init=model_config.weight_init, dtype=dtype)
  return g, d
