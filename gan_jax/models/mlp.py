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
  num_classes: int = 0         # > 0: a one-hot label joined to z (conditioning 'concat')
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool):
    x = z.astype(self.dtype)
    if self.num_classes:
      x = jnp.concatenate([x, layers.one_hot_channels(labels, self.num_classes, x)], axis=-1)
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
  num_classes: int = 0         # > 0: a one-hot label joined to the input ('concat')
  axis_name: str | None = 'batch'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool):
    x = x.reshape(x.shape[0], -1).astype(self.dtype)
    if self.num_classes:
      x = jnp.concatenate([x, layers.one_hot_channels(labels, self.num_classes, x)], axis=-1)
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


def build(model_config, out_shape, dtype, num_classes: int = 0):
  """Returns (generator, discriminator) for `model_config`."""
  if num_classes and model_config.get('conditioning', 'concat') != 'concat':
    raise ValueError(f"the mlp model takes labels by model.conditioning='concat' only, not "
                     f'{model_config.conditioning!r}')
  g = Generator(out_shape=tuple(out_shape), hidden=tuple(model_config.g_hidden),
                norm=model_config.g_norm, output=model_config.g_output,
                weight_init=model_config.weight_init, num_classes=num_classes, dtype=dtype)
  d = Discriminator(hidden=tuple(model_config.d_hidden), activation=model_config.d_activation,
                    maxout_pieces=model_config.maxout_pieces,
                    input_dropout=model_config.get('d_input_dropout', 0.0),
                    dropout=model_config.get('d_dropout', 0.0),
                    weight_init=model_config.weight_init, num_classes=num_classes,
                    dtype=dtype)
  return g, d


def defaults(c) -> None:
  """The MLP architecture's fields of `config.model`, with their defaults."""
  c.name = 'mlp'
  c.g_hidden = (128, 128)     # generator hidden widths
  c.d_hidden = (128, 128)     # discriminator hidden widths
  c.g_norm = 'none'           # 'batch' | 'layer' | 'none' after generator layers
  c.g_output = 'none'         # 'tanh' for images in [-1, 1], 'none' for points
  c.d_activation = 'relu'     # 'relu' | 'leaky_relu' | 'tanh' | 'maxout'
  c.maxout_pieces = 5         # pieces per maxout unit
  c.d_input_dropout = 0.0     # D dropout rate on its input (masks per example)
  c.d_dropout = 0.0           # D dropout rate after each hidden layer
  c.weight_init = 'default'   # 'default' (Flax), 'torch' (uniform weights and biases) or
                              # 'normal' (N(0, 0.02^2) weights, zero biases)
