"""Sample-quality metrics over features from any extractor, in float64 numpy.

- `frechet_distance`: between Gaussian fits of two feature sets (FID with Inception features;
  a domain Fréchet distance with a dataset classifier's). The matrix square root goes through
  symmetric eigendecompositions, which stay real and accurate for the singular covariances of
  fewer samples than dimensions, where `scipy.linalg.sqrtm` returns complex noise.
- `kernel_distance`: KID, the unbiased MMD^2 with the cubic polynomial kernel
  k(x, y) = (x.y / d + 1)^3, averaged over random subsets, with its standard deviation.
- `inception_score`: exp(E_x KL(p(y|x) || p(y))) over splits, mean and standard deviation.
- `precision_recall`: Kynkäänniemi et al. 2019: each set's manifold is the union of balls
  around its points reaching their k-th nearest neighbour; precision is the fraction of
  generated points inside the real manifold, recall the fraction of real points inside the
  generated one.
- `mean_l1`, `psnr`, `ssim`: a translation against its target, on images in [0, 1] (SSIM with
  Wang et al.'s Gaussian window).
"""

from __future__ import annotations

import numpy as np


def gaussian_fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(mean, covariance) of (N, D) features, in float64."""
  f = np.asarray(features, np.float64)
  if f.ndim != 2 or len(f) < 2:
    raise ValueError(f'need (N >= 2, D) features, got shape {f.shape}')
  return f.mean(axis=0), np.cov(f, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
  values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
  return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
  """tr sqrt(sigma1 sigma2) for covariance matrices, as tr sqrt(s1^1/2 sigma2 s1^1/2)."""
  root1 = _psd_sqrt(sigma1)
  inner = root1 @ sigma2 @ root1
  values = np.linalg.eigvalsh((inner + inner.T) / 2.0)
  return float(np.sqrt(np.clip(values, 0.0, None)).sum())


def frechet_distance_from_fits(mu1, sigma1, mu2, sigma2) -> float:
  """||mu1 - mu2||^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^1/2)."""
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
    raise ValueError(f'fits of different dimensions: {mu1.shape} and {mu2.shape}')
  diff = mu1 - mu2
  value = (diff @ diff + np.trace(sigma1) + np.trace(sigma2)
           - 2.0 * trace_sqrt_product(sigma1, sigma2))
  return max(float(value), 0.0)  # rounding can take an exact 0 a hair below


def frechet_distance(features1: np.ndarray, features2: np.ndarray) -> float:
  return frechet_distance_from_fits(*gaussian_fit(features1), *gaussian_fit(features2))


def intra_class_fd(real_features: np.ndarray, real_labels: np.ndarray,
                   fake_features: np.ndarray, fake_labels: np.ndarray) -> float:
  """The Fréchet distance within each class (real examples of the class against samples
  generated for it), averaged over the classes present in both; each needs 2 examples."""
  real_labels, fake_labels = np.asarray(real_labels), np.asarray(fake_labels)
  classes = [c for c in np.unique(fake_labels)
             if (real_labels == c).sum() >= 2 and (fake_labels == c).sum() >= 2]
  if not classes:
    raise ValueError('intra-class FD needs at least 2 real and 2 generated examples of a class')
  return float(np.mean([frechet_distance(real_features[real_labels == c],
                                         fake_features[fake_labels == c]) for c in classes]))


def class_spread(features: np.ndarray, labels: np.ndarray) -> float:
  """The spread within each class: the mean squared distance of a class's feature vectors to
  their class mean (the trace of the class's covariance), averaged over the classes with at
  least 2 examples."""
  features, labels = np.asarray(features, np.float64), np.asarray(labels)
  spreads = [np.mean(np.sum((features[labels == c] - features[labels == c].mean(0)) ** 2, 1))
             for c in np.unique(labels) if (labels == c).sum() >= 2]
  if not spreads:
    raise ValueError('the class spread needs at least 2 examples of a class')
  return float(np.mean(spreads))


def _polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3 (diagonals left out of the within terms)."""
  d = x.shape[1]
  kxx = (x @ x.T / d + 1.0) ** 3
  kyy = (y @ y.T / d + 1.0) ** 3
  kxy = (x @ y.T / d + 1.0) ** 3
  m, n = len(x), len(y)
  within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
  within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
  return float(within_x + within_y - 2.0 * kxy.mean())


def kernel_distance(features1: np.ndarray, features2: np.ndarray, *, num_subsets: int = 100,
                    subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
  """KID: (mean, std) of the unbiased MMD^2 over `num_subsets` random subsets of each set."""
  x = np.asarray(features1, np.float64)
  y = np.asarray(features2, np.float64)
  size = min(subset_size, len(x), len(y))
  if size < 2:
    raise ValueError('KID needs at least 2 examples in each set')
  rng = np.random.default_rng(seed)
  values = [_polynomial_mmd2(x[rng.choice(len(x), size, replace=False)],
                             y[rng.choice(len(y), size, replace=False)])
            for _ in range(num_subsets)]
  return float(np.mean(values)), float(np.std(values))


def inception_score(probabilities: np.ndarray, *, num_splits: int = 10) -> tuple[float, float]:
  """(mean, std) over splits of exp(mean KL(p(y|x) || p(y))); rows of `probabilities` are
  class distributions."""
  p = np.asarray(probabilities, np.float64)
  if len(p) < num_splits:
    raise ValueError(f'{len(p)} examples cannot make {num_splits} splits')
  scores = []
  for part in np.array_split(p, num_splits):
    marginal = part.mean(axis=0, keepdims=True)
    with np.errstate(divide='ignore', invalid='ignore'):
      kl = np.where(part > 0, part * (np.log(part) - np.log(marginal)), 0.0).sum(axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
  return np.maximum(d, 0.0)


def _kth_neighbour_radii(x: np.ndarray, k: int, block: int) -> np.ndarray:
  """Squared distance from each point to its k-th nearest other point."""
  radii = np.empty(len(x))
  for start in range(0, len(x), block):
    d = _squared_distances(x[start:start + block], x)
    radii[start:start + block] = np.partition(d, k, axis=1)[:, k]  # column 0 is the point itself
  return radii


def _coverage(manifold: np.ndarray, radii: np.ndarray, queries: np.ndarray, block: int) -> float:
  inside = np.empty(len(queries), bool)
  for start in range(0, len(queries), block):
    d = _squared_distances(queries[start:start + block], manifold)
    inside[start:start + block] = (d <= radii[None, :]).any(axis=1)
  return float(inside.mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, *, k: int = 3,
                     block: int = 1000) -> tuple[float, float]:
  """(precision, recall) of `fake` features against `real` ones, k-nearest-neighbour balls."""
  real = np.asarray(real, np.float64)
  fake = np.asarray(fake, np.float64)
  if min(len(real), len(fake)) <= k:
    raise ValueError(f'precision/recall with k={k} needs more than {k} examples in each set')
  precision = _coverage(real, _kth_neighbour_radii(real, k, block), fake, block)
  recall = _coverage(fake, _kth_neighbour_radii(fake, k, block), real, block)
  return precision, recall


# ---- Paired images: translations against their targets ----
# Each takes float images in [0, 1], (N, H, W, C), and returns the mean over images.

def mean_l1(x: np.ndarray, y: np.ndarray) -> float:
  """Mean absolute difference per pixel."""
  return float(np.mean(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))


def psnr(x: np.ndarray, y: np.ndarray, *, data_range: float = 1.0) -> float:
  """Peak signal-to-noise ratio in dB, 10 log10(range^2 / MSE) per image, averaged over images
  (an identical image counts as 100 dB rather than infinity)."""
  diff = np.asarray(x, np.float64) - np.asarray(y, np.float64)
  mse = np.mean(diff.reshape(len(diff), -1) ** 2, axis=1)
  values = np.where(mse > 0, 10.0 * np.log10(data_range ** 2 / np.maximum(mse, 1e-30)), 100.0)
  return float(np.mean(values))


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
  x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
  w = np.exp(-x ** 2 / (2.0 * sigma ** 2))
  return w / w.sum()


def _filter_valid(x: np.ndarray, window: np.ndarray) -> np.ndarray:
  """Separable weighted means over every full window of (N, H, W, C) images: (N, H-k+1,
  W-k+1, C)."""
  k = len(window)
  h, w = x.shape[1] - k + 1, x.shape[2] - k + 1
  rows = sum(window[i] * x[:, i:i + h] for i in range(k))
  return sum(window[j] * rows[:, :, j:j + w] for j in range(k))


def ssim(x: np.ndarray, y: np.ndarray, *, data_range: float = 1.0, window_size: int = 11,
         sigma: float = 1.5) -> float:
  """Structural similarity (Wang et al. 2004) with its Gaussian window (11 x 11, sigma 1.5),
  K1 = 0.01 and K2 = 0.03, over every full window of each channel, averaged over windows,
  channels and images. Images smaller than the window use a window of their size."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  size = min(window_size, x.shape[1], x.shape[2])
  window = gaussian_window(size, sigma)
  c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
  mu_x, mu_y = _filter_valid(x, window), _filter_valid(y, window)
  var_x = _filter_valid(x * x, window) - mu_x ** 2
  var_y = _filter_valid(y * y, window) - mu_y ** 2
  cov = _filter_valid(x * y, window) - mu_x * mu_y
  index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)
           / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)))
  return float(np.mean(index))
