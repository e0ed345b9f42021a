"""Attributes of a handwritten digit measured from its image: stroke thickness, slant and size.

They describe how a digit is written rather than which digit it is, so they serve as a
description beside the class (StackGAN's bundled condition, `description`) and as what a
re-attributed digit should keep of its writer (Age-cGAN's measurements).

On an image of ink (bright) on a dark background, in [-1, 1] or [0, 1] (`unit=False`):
- the ink is the pixels above half the range;
- thickness: the ink's area over the length of its skeleton (Zhang-Suen thinning to strokes one
  pixel wide), in pixels: the mean width of the strokes. Thinning shortens a stroke by about
  its width, so the skeleton is counted with that width added back (w solves
  area = w (length + w));
- slant: the angle, in degrees, of the principal axis of the ink's intensity-weighted second
  moments from the vertical; positive when the top leans right;
- size: the root-mean-square distance of the ink from its centroid, over the image's side.

An image without ink has thickness 0, slant 0 and size 0.
"""

from __future__ import annotations

import functools

import numpy as np

NAMES = ('thickness', 'slant', 'size')
# The description vector of a digit: its class one-hot, then its attributes, each standardised
# with the bundled digits' mean and standard deviation at the description's image size.
DESCRIPTION_CLASSES = 10


def _neighbours(ink: np.ndarray) -> list[np.ndarray]:
  """The 8 neighbours P2..P9 of every pixel of a (n, h, w) boolean batch, clockwise from north
  (outside the image counts as background)."""
  p = np.pad(ink, ((0, 0), (1, 1), (1, 1)))
  h, w = ink.shape[1:]
  at = lambda dy, dx: p[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
  return [at(-1, 0), at(-1, 1), at(0, 1), at(1, 1), at(1, 0), at(1, -1), at(0, -1), at(-1, -1)]


def skeleton(ink: np.ndarray, max_iterations: int = 100) -> np.ndarray:
  """Zhang-Suen thinning of a (n, h, w) boolean batch: each stroke reduced to a line one pixel
  wide along its middle."""
  ink = np.array(ink, bool)
  for _ in range(max_iterations):
    changed = False
    for step in (0, 1):
      n = _neighbours(ink)
      count = sum(x.astype(np.int32) for x in n)
      ring = n + [n[0]]
      transitions = sum((~ring[i] & ring[i + 1]).astype(np.int32) for i in range(8))
      p2, p4, p6, p8 = n[0], n[2], n[4], n[6]
      if step == 0:
        side = ~(p2 & p4 & p6) & ~(p4 & p6 & p8)
      else:
        side = ~(p2 & p4 & p8) & ~(p2 & p6 & p8)
      remove = ink & (count >= 2) & (count <= 6) & (transitions == 1) & side
      if remove.any():
        ink = ink & ~remove
        changed = True
    if not changed:
      break
  return ink


def measure(images: np.ndarray, *, unit: bool = False) -> dict[str, np.ndarray]:
  """{'thickness', 'slant', 'size'}: float64 arrays (n,) of images (n, h, w) or (n, h, w, 1),
  in [-1, 1] (or [0, 1] with `unit`)."""
  x = np.asarray(images, np.float64)
  if x.ndim == 4:
    if x.shape[-1] != 1:
      raise ValueError(f'digit attributes are measured on grayscale images, got shape {x.shape}')
    x = x[..., 0]
  if x.ndim != 3:
    raise ValueError(f'expected images (n, h, w[, 1]), got shape {x.shape}')
  intensity = np.clip(x if unit else (x + 1.0) / 2.0, 0.0, 1.0)
  n, h, w = intensity.shape
  ink = intensity > 0.5
  area = ink.sum(axis=(1, 2)).astype(np.float64)
  length = skeleton(ink).sum(axis=(1, 2)).astype(np.float64)
  # Thinning shortens a stroke by about its width (half at each end): with area = w (len + w),
  # w is the positive root.
  thickness = np.where(length > 0, (np.sqrt(length * length + 4.0 * area) - length) / 2.0, 0.0)

  weight = intensity * ink
  mass = weight.sum(axis=(1, 2))
  safe = np.maximum(mass, 1e-12)
  ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
  cy = (weight * ys).sum(axis=(1, 2)) / safe
  cx = (weight * xs).sum(axis=(1, 2)) / safe
  dy, dx = ys[None] - cy[:, None, None], xs[None] - cx[:, None, None]
  mu20 = (weight * dx * dx).sum(axis=(1, 2)) / safe   # horizontal spread
  mu02 = (weight * dy * dy).sum(axis=(1, 2)) / safe   # vertical spread
  mu11 = (weight * dx * dy).sum(axis=(1, 2)) / safe
  # Rows grow downwards: a stroke whose top leans right has x falling as y grows (mu11 < 0).
  slant = np.degrees(-0.5 * np.arctan2(2.0 * mu11, mu02 - mu20))
  size = np.sqrt(mu20 + mu02) / max(h, w)
  empty = mass <= 1e-12
  return {'thickness': thickness, 'slant': np.where(empty, 0.0, slant),
          'size': np.where(empty, 0.0, size)}


def stack(attributes: dict[str, np.ndarray]) -> np.ndarray:
  """(n, 3) float64: thickness, slant, size as columns."""
  return np.stack([attributes[k] for k in NAMES], axis=1)


@functools.lru_cache(maxsize=4)
def digits_statistics(image_size: int) -> tuple[np.ndarray, np.ndarray]:
  """(mean, std) of the attributes (thickness, slant, size) over all 1,797 bundled digits at
  `image_size` pixels: what descriptions are standardised with."""
  from gan_jax.data import digits
  import ml_collections
  images, _ = digits.load(ml_collections.ConfigDict({'image_size': image_size}), 0)
  values = stack(measure(images))
  return values.mean(axis=0), values.std(axis=0)


def description(labels: np.ndarray, attributes: np.ndarray, image_size: int) -> np.ndarray:
  """Description vectors (n, 13) float32: the class one-hot (10), then thickness, slant and size
  ((n, 3), in `measure`'s units) standardised by the bundled digits' statistics at
  `image_size`."""
  labels = np.asarray(labels, np.int64)
  attributes = np.asarray(attributes, np.float64).reshape(len(labels), len(NAMES))
  mean, std = digits_statistics(image_size)
  one_hot = np.eye(DESCRIPTION_CLASSES)[labels]
  return np.concatenate([one_hot, (attributes - mean) / std], axis=1).astype(np.float32)


def from_description(vectors: np.ndarray, image_size: int) -> tuple[np.ndarray, np.ndarray]:
  """(classes (n,), attributes (n, 3) in `measure`'s units) of description vectors."""
  vectors = np.asarray(vectors, np.float64)
  mean, std = digits_statistics(image_size)
  return (np.argmax(vectors[:, :DESCRIPTION_CLASSES], axis=1),
          vectors[:, DESCRIPTION_CLASSES:] * std + mean)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
  """Pearson's correlation of two 1-D arrays (0 where either is constant)."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  a, b = a - a.mean(), b - b.mean()
  denominator = np.sqrt(np.sum(a * a) * np.sum(b * b))
  return float(np.sum(a * b) / denominator) if denominator > 0 else 0.0
