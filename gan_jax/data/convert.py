"""Stored examples to model inputs and back: uint8 images (as image sources deliver them, a
quarter of the bytes of float32) to float32 in [-1, 1], and model outputs to uint8 pictures.
One formula each way, for NumPy and JAX arrays alike."""

from __future__ import annotations

import numpy as np


def to_unit_range(x):
  """uint8 0..255 -> float32 [-1, 1]; float arrays are taken to be in [-1, 1] and returned
  unchanged (the mixtures' points, the digits already scaled)."""
  if np.issubdtype(x.dtype, np.integer):
    return x.astype(np.float32) * (2.0 / 255.0) - 1.0
  return x


def to_uint8(images) -> np.ndarray:
  """Images in [-1, 1] -> uint8 in [0, 255], rounded to the nearest level."""
  return np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)
