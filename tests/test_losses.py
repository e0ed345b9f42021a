"""Each objective and penalty against values worked out by hand."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses, penalties

REAL = jnp.array([2.0, -1.0])
FAKE = jnp.array([0.5, -3.0])


def sp(x):  # softplus
  return math.log1p(math.exp(x))


def test_saturating_d_loss_is_binary_cross_entropy():
  loss, _ = losses.get('minimax').d_loss(real_logits=REAL, fake_logits=FAKE)
  # -log sigmoid(r) = softplus(-r);  -log(1 - sigmoid(f)) = softplus(f)
  expected = (sp(-2.0) + sp(1.0)) / 2 + (sp(0.5) + sp(-3.0)) / 2
  assert float(loss) == pytest.approx(expected, rel=1e-6)
  same, _ = losses.get('non_saturating').d_loss(real_logits=REAL, fake_logits=FAKE)
  assert float(same) == pytest.approx(expected, rel=1e-6)


def test_minimax_generator_minimises_log_one_minus_d():
  loss, _ = losses.get('minimax').g_loss(fake_logits=FAKE)
  d = 1 / (1 + np.exp(-np.array([0.5, -3.0])))
  assert float(loss) == pytest.approx(np.mean(np.log(1 - d)), rel=1e-6)


def test_non_saturating_generator_maximises_log_d():
  loss, _ = losses.get('non_saturating').g_loss(fake_logits=FAKE)
  d = 1 / (1 + np.exp(-np.array([0.5, -3.0])))
  assert float(loss) == pytest.approx(-np.mean(np.log(d)), rel=1e-6)


def test_least_squares():
  d_loss, _ = losses.get('least_squares').d_loss(real_logits=REAL, fake_logits=FAKE)
  # 0.5 mean((r - 1)^2) + 0.5 mean(f^2) = 0.5 (1 + 4)/2 + 0.5 (0.25 + 9)/2
  assert float(d_loss) == pytest.approx(1.25 + 2.3125)
  g_loss, _ = losses.get('least_squares').g_loss(fake_logits=FAKE)
  assert float(g_loss) == pytest.approx(0.5 * (0.25 + 16.0) / 2)


def test_wasserstein():
  d_loss, scalars = losses.get('wasserstein').d_loss(real_logits=REAL, fake_logits=FAKE)
  # mean(f) - mean(r) = -1.25 - 0.5
  assert float(d_loss) == pytest.approx(-1.75)
  assert float(scalars['wasserstein_estimate']) == pytest.approx(1.75)
  g_loss, _ = losses.get('wasserstein').g_loss(fake_logits=FAKE)
  assert float(g_loss) == pytest.approx(1.25)
  assert losses.get('wasserstein').weight_clipping
  assert losses.get('wasserstein_gp').gradient_penalty


def test_hinge():
  d_loss, _ = losses.get('hinge').d_loss(real_logits=REAL, fake_logits=FAKE)
  # relu(1 - r) = [0, 2] -> 1;  relu(1 + f) = [1.5, 0] -> 0.75
  assert float(d_loss) == pytest.approx(1.75)
  g_loss, _ = losses.get('hinge').g_loss(fake_logits=FAKE)
  assert float(g_loss) == pytest.approx(1.25)


def test_unknown_objective_lists_choices():
  with pytest.raises(ValueError, match='hinge.*least_squares.*minimax'):
    losses.get('vanilla')


def test_gradient_penalty_of_linear_critic():
  # D(x) = w . x has gradient w everywhere: penalty (|w| - 1)^2 whatever the interpolates.
  w = jnp.array([3.0, 4.0])
  d_fn = lambda x: x @ w
  real = jnp.ones((5, 2))
  fake = jnp.zeros((5, 2))
  gp = penalties.gradient_penalty(d_fn, real=real, fake=fake, epsilon=jnp.linspace(0, 1, 5))
  assert float(gp) == pytest.approx((5.0 - 1.0) ** 2, rel=1e-5)


def test_gradient_penalty_uses_interpolates():
  # D(x) = sum(x^2)/2 has gradient x: at eps r + (1 - eps) f with r = 1, f = 0 the norm is
  # eps * sqrt(2), so the penalty is mean((eps sqrt 2 - 1)^2).
  d_fn = lambda x: 0.5 * jnp.sum(x ** 2, axis=-1)
  eps = jnp.array([0.0, 0.5, 1.0])
  gp = penalties.gradient_penalty(d_fn, real=jnp.ones((3, 2)), fake=jnp.zeros((3, 2)),
                                  epsilon=eps)
  expected = np.mean((np.array([0.0, 0.5, 1.0]) * np.sqrt(2) - 1) ** 2)
  assert float(gp) == pytest.approx(expected, rel=1e-4)


def test_r1_penalty():
  d_fn = lambda x: 0.5 * jnp.sum(x ** 2, axis=-1)
  real = jnp.array([[1.0, 2.0], [0.0, 3.0]])
  # ||grad||^2 = ||x||^2 = [5, 9] -> mean 7
  assert float(penalties.r1_penalty(d_fn, real=real)) == pytest.approx(7.0)


def test_losses_are_differentiable_and_finite_for_large_logits():
  big = jnp.array([80.0, -80.0])
  for name, objective in losses.OBJECTIVES.items():
    grads = jax.grad(lambda r: objective.d_loss(real_logits=r, fake_logits=-r)[0])(big)
    assert np.all(np.isfinite(np.asarray(grads))), name
