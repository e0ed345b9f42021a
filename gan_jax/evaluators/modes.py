"""Mode coverage: low-dimensional mixtures (VEEGAN's and PacGAN's definitions) and stacked
digits (1,000 modes).

Mixtures (REFERENCES.md): a sample is high quality if it lies within 3 standard deviations of
its nearest mode's mean; a mode is captured if at least one high-quality sample has it as its
nearest mode. The reverse KL is KL(p || uniform) for p the histogram of the high-quality
samples over the modes (samples far from every mode belong to none). When no sample is near
any mode the histogram is empty; its reverse KL is then defined as log(M), the KL of a
histogram with all its mass on one of the M modes: the worst value a histogram can have, so
that no coverage never scores better than any coverage.

Stacked digits: each generated image's three channels are classified separately; its mode is
the triple of classes. Modes covered = distinct triples seen; KL(p || uniform over the 1,000).
"""

from __future__ import annotations

import numpy as np


def kl_to_uniform(counts: np.ndarray) -> float:
  """KL(p || uniform) of the histogram `counts` (over every possible mode); for an empty
  histogram log(len(counts)), the worst value (see the module doc)."""
  counts = np.asarray(counts, np.float64)
  total = counts.sum()
  if total == 0:
    return float(np.log(len(counts)))
  p = counts[counts > 0] / total
  return float(np.sum(p * np.log(p * len(counts))))


def mixture_modes(samples: np.ndarray, means: np.ndarray, std: float,
                  num_std: float = 3.0) -> dict:
  """Mode metrics of (N, dim) samples against a mixture's (M, dim) means."""
  samples = np.asarray(samples, np.float64).reshape(len(samples), -1)
  means = np.asarray(means, np.float64).reshape(len(means), -1)
  distances = np.linalg.norm(samples[:, None, :] - means[None, :, :], axis=-1)
  nearest = distances.argmin(axis=1)
  high_quality = distances[np.arange(len(samples)), nearest] <= num_std * std
  counts = np.bincount(nearest[high_quality], minlength=len(means))
  return {'modes': int((counts > 0).sum()),
          'high_quality': 100.0 * float(high_quality.mean()),  # percent, as the papers
          'reverse_kl': kl_to_uniform(counts),
          'counts': counts.tolist()}


def stacked_modes(channel_classes: np.ndarray, num_classes: int = 10) -> dict:
  """Mode metrics of (N, 3) per-channel classes of stacked-digit images."""
  classes = np.asarray(channel_classes, np.int64)
  if classes.ndim != 2 or classes.shape[1] != 3:
    raise ValueError(f'need (N, 3) channel classes, got shape {classes.shape}')
  modes = (classes[:, 0] * num_classes + classes[:, 1]) * num_classes + classes[:, 2]
  counts = np.bincount(modes, minlength=num_classes ** 3)
  return {'modes': int((counts > 0).sum()), 'kl': kl_to_uniform(counts)}
