"""The 1,797 handwritten digits bundled with scikit-learn (8x8, values 0..16), resized to
`data.image_size` and scaled to [-1, 1]. Needs no download: the embedded default dataset.

The bundled set has no split. Whatever needs one (the digits classifier, the translation tasks
built on the digits) takes the same one from `split_indices`: a stratified 75/25 split made
with `train_test_split(test_size=0.25, stratify=labels, random_state=0)`, 1,347 train and 450
test images, 45 of each class in the test part.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SPLITS = ('train', 'test')


def upscale(images: np.ndarray, size: int) -> np.ndarray:
  """Float images (n, h, w) in [0, 1] resized bilinearly to (n, size, size), kept in [0, 1]:
  how the 8x8 digits become `size` x `size` ones (and the printed digits of translation.py,
  which go through the same 8x8 grid to look alike)."""
  resized = np.stack([
      np.asarray(Image.fromarray(np.asarray(img, np.float32), mode='F').resize(
          (size, size), Image.BILINEAR)) for img in images])
  return np.clip(resized, 0.0, 1.0)


def load(data_config, seed: int):
  """(images, labels): the whole set in its bundled order (the pipeline shuffles), or with
  `data.digits_split` 'train' or 'test' that part of `split_indices`' split."""
  del seed
  from sklearn.datasets import load_digits  # lazy: scikit-learn is slow to import
  bunch = load_digits()
  images = bunch.images.astype(np.float32) / 16.0  # [0, 1]
  resized = upscale(images, data_config.image_size) * 2.0 - 1.0
  images, labels = resized[..., None].astype(np.float32), bunch.target.astype(np.int32)
  part = getattr(data_config, 'digits_split', '')
  return split(images, labels, part) if part else (images, labels)


def split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(train indices, test indices) of the bundled digits: the stratified 75/25 split above,
  in `train_test_split`'s order. The same whatever the run's seed."""
  from sklearn.model_selection import train_test_split  # lazy, as in `load`
  train, test = train_test_split(np.arange(len(labels)), test_size=0.25, stratify=labels,
                                 random_state=0)
  return train, test


def split(images: np.ndarray, labels: np.ndarray, name: str):
  """(images, labels) of split `name`, 'train' or 'test' (see `split_indices`)."""
  if name not in SPLITS:
    raise ValueError(f'the bundled digits have the splits {SPLITS}, not {name!r} (data.split)')
  indices = split_indices(labels)[SPLITS.index(name)]
  return images[indices], labels[indices]
