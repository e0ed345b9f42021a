"""Low-dimensional data with known densities: the 1-D Gaussian of Goodfellow et al. 2014, and
the ring of 8 and grid of 25 Gaussians used by Unrolled GAN, VEEGAN and PacGAN.

Each dataset is a fixed training set of `data.num_train` points drawn from the seed (PacGAN
trains on 100,000), so batches, epochs and resume behave as for any finite dataset.
"""

from __future__ import annotations

import numpy as np


def ring_means(num_modes: int = 8, radius: float = 1.0) -> np.ndarray:
  # endpoint=False: linspace(0, 2pi, 8) would repeat the first mode and leave only 7.
  angles = np.linspace(0.0, 2.0 * np.pi, num_modes, endpoint=False)
  return radius * np.stack([np.cos(angles), np.sin(angles)], axis=-1)


def grid_means(side: int = 5, spacing: float = 2.0) -> np.ndarray:
  coords = (np.arange(side) - (side - 1) / 2.0) * spacing
  xx, yy = np.meshgrid(coords, coords, indexing='ij')
  return np.stack([xx.ravel(), yy.ravel()], axis=-1)


def mixture_means(data_config) -> np.ndarray:
  """The component means of a mixture dataset (shape (modes, dim))."""
  if data_config.name == 'gaussian_1d':
    return np.array([[data_config.mean]])
  if data_config.name == 'ring':
    return ring_means(data_config.num_modes, data_config.radius)
  if data_config.name == 'grid':
    return grid_means(data_config.side, data_config.spacing)
  raise ValueError(f'{data_config.name!r} is not a mixture dataset')


def sample_mixture(means: np.ndarray, std: float, num: int,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
  """`num` points from the equal-weight mixture; returns (points float32, component labels)."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, len(means), size=num)
  points = means[labels] + std * rng.standard_normal((num, means.shape[1]))
  return points.astype(np.float32), labels.astype(np.int32)


def load(data_config, seed: int):
  means = mixture_means(data_config)
  return sample_mixture(means, data_config.std, data_config.num_train, seed)
