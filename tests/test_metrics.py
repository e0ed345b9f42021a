"""Metric maths on inputs with known answers: Fréchet distance in closed form and against
scipy, KID unbiasedness, Inception Score extremes, precision/recall of a set against itself,
mode metrics on hand-built samples, and a translation against its target (L1, PSNR, SSIM)."""

import numpy as np
import pytest
import scipy.linalg

from gan_jax.evaluators import metrics, modes


def test_frechet_distance_of_gaussians_in_closed_form():
  # Diagonal covariances: FD = |mu1 - mu2|^2 + sum (s1 + s2 - 2 sqrt(s1 s2)).
  mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
  s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([4.0, 1.0, 0.25])
  expected = 5.0 + np.sum(s1 + s2 - 2.0 * np.sqrt(s1 * s2))
  value = metrics.frechet_distance_from_fits(mu1, np.diag(s1), mu2, np.diag(s2))
  assert value == pytest.approx(expected, rel=1e-12)
  # Large samples of those Gaussians approach it.
  rng = np.random.default_rng(0)
  x = mu1 + np.sqrt(s1) * rng.standard_normal((200_000, 3))
  y = mu2 + np.sqrt(s2) * rng.standard_normal((200_000, 3))
  assert metrics.frechet_distance(x, y) == pytest.approx(expected, rel=0.01)
  assert metrics.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_matches_scipy_on_full_covariances():
  rng = np.random.default_rng(1)
  a = rng.standard_normal((500, 20)) @ rng.standard_normal((20, 20))
  b = rng.standard_normal((500, 20)) @ rng.standard_normal((20, 20)) + 0.5
  mu1, s1 = metrics.gaussian_fit(a)
  mu2, s2 = metrics.gaussian_fit(b)
  root = scipy.linalg.sqrtm(s1 @ s2).real
  reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2.0 * root)
  assert metrics.frechet_distance(a, b) == pytest.approx(reference, rel=1e-8)


def test_frechet_distance_stays_real_with_fewer_samples_than_dimensions():
  rng = np.random.default_rng(2)
  a, b = rng.standard_normal((30, 64)), rng.standard_normal((30, 64))
  value = metrics.frechet_distance(a, b)
  assert np.isfinite(value) and value > 0
  assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_kid_is_unbiased_on_equal_distributions_and_positive_on_different_ones():
  rng = np.random.default_rng(3)
  estimates = [metrics.kernel_distance(rng.standard_normal((200, 8)),
                                       rng.standard_normal((200, 8)),
                                       num_subsets=5, subset_size=100, seed=i)[0]
               for i in range(200)]
  mean, sem = np.mean(estimates), np.std(estimates) / np.sqrt(len(estimates))
  assert abs(mean) < 3 * sem  # an unbiased estimate of 0: negative values occur
  assert min(estimates) < 0
  shifted, std = metrics.kernel_distance(rng.standard_normal((500, 8)),
                                         rng.standard_normal((500, 8)) + 0.5,
                                         num_subsets=20, subset_size=200)
  assert shifted > 5 * std > 0


def test_inception_score_extremes():
  uniform = np.full((100, 10), 0.1)
  assert metrics.inception_score(uniform, num_splits=5) == pytest.approx((1.0, 0.0))
  confident = np.eye(10)[np.arange(100) % 10]  # one-hot, balanced classes in every split
  mean, std = metrics.inception_score(confident, num_splits=5)
  assert mean == pytest.approx(10.0) and std == pytest.approx(0.0, abs=1e-12)
  one_class = np.eye(10)[np.zeros(100, int)]  # confident but all the same: no diversity
  assert metrics.inception_score(one_class, num_splits=5)[0] == pytest.approx(1.0)


def test_precision_recall_of_a_set_against_itself_and_a_far_set():
  rng = np.random.default_rng(4)
  x = rng.standard_normal((300, 5))
  assert metrics.precision_recall(x, x) == (1.0, 1.0)
  far = x + 100.0
  assert metrics.precision_recall(x, far) == (0.0, 0.0)
  # Generated points covering half the real support: precision stays high, recall drops.
  half = x[x[:, 0] > 0]
  precision, recall = metrics.precision_recall(x, half, k=3)
  assert precision == 1.0 and 0.3 < recall < 0.75


def test_mixture_modes_on_hand_built_samples():
  means = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
  std = 0.01
  samples = np.array([[0.0, 0.0], [0.02, 0.0],     # mode 0, high quality (2 sigma)
                      [1.0, 0.025],                  # mode 1, high quality (2.5 sigma)
                      [0.0, 0.95],                   # nearest mode 2, 5 sigma: low quality
                      [0.5, 0.5]])                   # between modes: low quality
  result = modes.mixture_modes(samples, means, std)
  assert result['modes'] == 2
  assert result['high_quality'] == pytest.approx(60.0)
  assert result['counts'] == [2, 1, 0, 0]
  p = np.array([2 / 3, 1 / 3])
  assert result['reverse_kl'] == pytest.approx(np.sum(p * np.log(p * 4)))
  even = modes.mixture_modes(np.repeat(means, 5, axis=0), means, std)
  assert even == {'modes': 4, 'high_quality': 100.0, 'reverse_kl': 0.0, 'counts': [5] * 4}


def test_stacked_modes_count_triples():
  classes = np.array([[1, 2, 3], [1, 2, 3], [3, 2, 1], [0, 0, 0]])
  result = modes.stacked_modes(classes)
  assert result['modes'] == 3
  p = np.array([0.5, 0.25, 0.25])
  assert result['kl'] == pytest.approx(np.sum(p * np.log(p * 1000)))
  every = np.stack(np.unravel_index(np.arange(1000), (10, 10, 10)), axis=1)
  assert modes.stacked_modes(every) == {'modes': 1000, 'kl': 0.0}
  with pytest.raises(ValueError, match=r'\(N, 3\)'):
    modes.stacked_modes(classes[:, :2])


def test_psnr_and_l1_against_hand_computed_values():
  x = np.full((2, 4, 4, 1), 0.5)
  y = x + 0.1  # MSE 0.01 in every image: 10 log10(1 / 0.01) = 20 dB
  assert metrics.psnr(x, y) == pytest.approx(20.0)
  assert metrics.mean_l1(x, y) == pytest.approx(0.1)
  assert metrics.psnr(x, x) == 100.0  # identical images: capped, not infinite
  y[1] = x[1] + 0.01  # per image, then averaged: (20 + 40) / 2
  assert metrics.psnr(x, y) == pytest.approx(30.0)


def test_ssim_equals_the_windowed_definition_computed_window_by_window():
  rng = np.random.default_rng(0)
  x = rng.uniform(0, 1, (2, 14, 13, 2))
  y = np.clip(x + rng.normal(0, 0.2, x.shape), 0, 1)
  g = metrics.gaussian_window(11, 1.5)
  w = np.outer(g, g)
  c1, c2 = 0.01 ** 2, 0.03 ** 2
  values = []
  for n in range(2):
    for c in range(2):
      for i in range(14 - 10):
        for j in range(13 - 10):
          a, b = x[n, i:i + 11, j:j + 11, c], y[n, i:i + 11, j:j + 11, c]
          mu_a, mu_b = np.sum(w * a), np.sum(w * b)
          var_a, var_b = np.sum(w * (a - mu_a) ** 2), np.sum(w * (b - mu_b) ** 2)
          cov = np.sum(w * (a - mu_a) * (b - mu_b))
          values.append((2 * mu_a * mu_b + c1) * (2 * cov + c2)
                        / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)))
  assert metrics.ssim(x, y) == pytest.approx(np.mean(values), rel=1e-9)
  assert metrics.ssim(x, x) == pytest.approx(1.0)
  assert metrics.ssim(x, 1 - x) < 0.1  # inverted structure


def test_class_spread_is_the_mean_within_class_trace_of_covariance():
  features = np.array([[0.0, 0.0], [2.0, 0.0],                 # class 0: mean (1, 0), spread 1
                       [0.0, 0.0], [0.0, 3.0], [0.0, 6.0],     # class 1: mean (0, 3), spread 6
                       [5.0, 5.0]])                            # class 2: one example, left out
  labels = np.array([0, 0, 1, 1, 1, 2])
  assert metrics.class_spread(features, labels) == pytest.approx((1.0 + 6.0) / 2)
  # Samples collapsed onto their class means have no spread.
  assert metrics.class_spread(np.repeat(features[:1], 4, 0), np.array([0, 0, 1, 1])) == 0.0
  with pytest.raises(ValueError, match='at least 2'):
    metrics.class_spread(features[:2], np.array([0, 1]))
