"""Datasets by name.

`spec(data_config)` says what a dataset's examples look like without loading anything (so a
workdir can be sampled with no data); `load(data_config, seed)` returns the in-memory
(examples, labels) arrays that `pipeline.Batches` serves.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gan_jax.data import digits, toy


@dataclasses.dataclass(frozen=True)
class DataSpec:
  shape: tuple[int, ...]        # one example, e.g. (32, 32, 1) or (2,)
  kind: str                     # 'image' (NHWC in [-1, 1]) or 'points'
  num_classes: int = 0


def _image_spec(c, channels):
  return DataSpec((c.image_size, c.image_size, channels), 'image', c.get('num_classes', 0))


def _synthetic(c, seed):
  # Random images of the configured shape: for benchmarks and plumbing, not for learning.
  rng = np.random.default_rng(seed)
  x = rng.uniform(-1.0, 1.0, (c.num_train, c.image_size, c.image_size, c.channels))
  return x.astype(np.float32), np.zeros((c.num_train,), np.int32)


def _not_yet(c, seed):
  raise ValueError(
      f'data.name={c.name!r}: TFDS datasets are not available in this version of gan_jax. '
      'Train on --config.data.name=synthetic (random images of the same shape) instead.')


# name -> (spec function, loader)
DATASETS = {
    'digits': (lambda c: _image_spec(c, 1), digits.load),
    'gaussian_1d': (lambda c: DataSpec((1,), 'points'), toy.load),
    'ring': (lambda c: DataSpec((2,), 'points'), toy.load),
    'grid': (lambda c: DataSpec((2,), 'points'), toy.load),
    'synthetic': (lambda c: _image_spec(c, c.channels), _synthetic),
    'celeb_a': (lambda c: _image_spec(c, 3), _not_yet),
}


def _entry(data_config):
  if data_config.name not in DATASETS:
    raise ValueError(f'unknown data.name {data_config.name!r}; choose one of {sorted(DATASETS)}')
  return DATASETS[data_config.name]


def spec(data_config) -> DataSpec:
  return _entry(data_config)[0](data_config)


def load(data_config, seed: int):
  examples, labels = _entry(data_config)[1](data_config, seed)
  expected = spec(data_config).shape
  if examples.shape[1:] != expected:
    raise ValueError(f'data {data_config.name!r} gave examples of shape {examples.shape[1:]}, '
                     f'expected {expected}')
  return examples, labels
