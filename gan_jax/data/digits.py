"""The 1,797 handwritten digits bundled with scikit-learn (8x8, values 0..16), resized to
`data.image_size` and scaled to [-1, 1]. Needs no download: the embedded default dataset."""

from __future__ import annotations

import numpy as np
from PIL import Image


def load(data_config, seed: int):
  del seed  # the whole set, in its bundled order; the pipeline shuffles
  from sklearn.datasets import load_digits  # lazy: scikit-learn is slow to import
  bunch = load_digits()
  images = bunch.images.astype(np.float32) / 16.0  # [0, 1]
  size = data_config.image_size
  resized = np.stack([
      np.asarray(Image.fromarray(img, mode='F').resize((size, size), Image.BILINEAR))
      for img in images])
  resized = np.clip(resized, 0.0, 1.0) * 2.0 - 1.0
  return resized[..., None].astype(np.float32), bunch.target.astype(np.int32)
