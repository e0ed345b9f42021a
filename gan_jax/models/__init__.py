"""Architectures by name: `MODELS[name]` is a `Model` entry holding its module's `build` and the
`defaults` of its config fields. Adding an architecture is its module plus one entry here.

Each module exports `Generator`, `Discriminator`, `build(model_config, out_shape, dtype,
num_classes=0) -> (generator, discriminator)` and `defaults(model_config)`.

Generators are called as `G(z, labels, train=...)` and return data in the dataset's shape
(images NHWC in [-1, 1]); discriminators as `D(x, labels, train=...)` and return one logit per
example, or with `model.pack = k > 1` (PacGAN) one logit per pack of k consecutive examples.
`labels` is None for unconditional models. An ACGAN discriminator returns (logits, class
logits). StyleGAN2's G has no final tanh (its images are not clipped to [-1, 1]) and is called
through its `map` and `synthesize` methods by its family. The
StackGAN's `build` returns two (G, D) pairs, one per stage (`models/stackgan.py`). The
image-translation models (`translation`) are the exception: G takes an image, not z
(`G(x, train=..., noise=...)`), and D returns a map of patch logits (N, h, w, 1).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import dcgan, mlp, resnet, stackgan, stylegan2, translation


@dataclasses.dataclass(frozen=True)
class Model:
  build: Callable        # (model_config, out_shape, dtype, num_classes) -> (G, D)
  defaults: Callable     # (model_config) -> None: sets the architecture's fields


MODELS = {
    'mlp': Model(mlp.build, mlp.defaults),
    'dcgan': Model(dcgan.build, dcgan.defaults),
    'resnet': Model(resnet.build, resnet.defaults),  # SNGAN, SAGAN, BigGAN
    'translation': Model(translation.build, translation.defaults),  # Pix2Pix and CycleGAN
    'stylegan2': Model(stylegan2.build, stylegan2.defaults),  # StyleGAN2 (mapping, synthesis)
    'stackgan': Model(stackgan.build, stackgan.defaults),  # StackGAN: two (G, D) pairs
}


def get(name: str) -> Model:
  if name not in MODELS:
    raise ValueError(f'unknown model.name {name!r}; choose one of {sorted(MODELS)}')
  return MODELS[name]


class Packed(nn.Module):
  """PacGAN's packing: the discriminator sees `pack` examples at once, concatenated along
  their last axis (channels of images, coordinates of points), and gives one decision for the
  pack. Packs are consecutive examples of a device's share, all real or all generated."""
  discriminator: nn.Module
  pack: int

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool):
    if labels is not None:
      raise ValueError('a packed discriminator takes no labels: PacGAN is unconditional here')
    n = x.shape[0]
    if n % self.pack:
      raise ValueError(f'{n} examples cannot be split into packs of {self.pack}')
    x = x.reshape(n // self.pack, self.pack, *x.shape[1:])
    x = jnp.moveaxis(x, 1, -2)  # (packs, ..., pack, last): the pack joins the last axis
    x = x.reshape(*x.shape[:-2], self.pack * x.shape[-1])
    return self.discriminator(x, train=train)


def build(model_config, out_shape, dtype, num_classes: int = 0):
  generator, discriminator = get(model_config.name).build(model_config, tuple(out_shape), dtype,
                                                          num_classes)
  pack = model_config.get('pack', 1)
  if pack < 1:
    raise ValueError(f'model.pack must be at least 1, got {pack}')
  if pack > 1:
    if num_classes:
      raise ValueError(f'model.pack={pack} (PacGAN) is for unconditional games; set '
                       'model.pack=1 for a conditional one')
    discriminator = Packed(discriminator, pack)
  return generator, discriminator
