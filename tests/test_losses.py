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


def test_r2_penalty_is_r1_on_generated_data():
  d_fn = lambda x: 0.5 * jnp.sum(x ** 2, axis=-1)
  fake = jnp.array([[1.0, 1.0], [2.0, 0.0]])
  assert float(penalties.r2_penalty(d_fn, fake=fake)) == pytest.approx(3.0)  # mean of [2, 4]


def _packed(d_fn, pack):
  """A packed D in the Packed wrapper's layout: consecutive examples concatenated."""
  return lambda x: d_fn(x.reshape(x.shape[0] // pack, -1))


def test_packed_penalties_take_one_norm_per_pack():
  # A linear critic of packs of 2 two-vectors, weights w (4 numbers): each pack's gradient is w,
  # norm 5, split over its two examples ([3, 0] and [0, 4]); per example the norms would be 3
  # and 4.
  w = jnp.array([3.0, 0.0, 0.0, 4.0])
  d_fn = _packed(lambda packs: packs @ w, 2)
  real, fake = jnp.ones((4, 2)), jnp.zeros((4, 2))
  eps = jnp.array([0.1, 0.7, 0.3, 0.9])
  gp = penalties.gradient_penalty(d_fn, real=real, fake=fake, epsilon=eps, pack=2)
  assert float(gp) == pytest.approx((5.0 - 1.0) ** 2, rel=1e-5)
  assert float(penalties.r1_penalty(d_fn, real=real, pack=2)) == pytest.approx(25.0)
  assert float(penalties.r2_penalty(d_fn, fake=fake, pack=2)) == pytest.approx(25.0)
  # Per example instead: (3 - 1)^2 and (4 - 1)^2 averaged, which is not the pack's.
  assert float(penalties.r1_penalty(d_fn, real=real)) == pytest.approx(12.5)


def test_packed_gradient_penalty_interpolates_whole_packs():
  # D(pack) = sum(pack^2) / 2 has gradient the pack itself: at eps r + (1 - eps) f with r = 1,
  # f = 0, a pack of 2 two-vectors has norm 2 eps, where eps is the pack's first example's.
  d_fn = _packed(lambda packs: 0.5 * jnp.sum(packs ** 2, axis=-1), 2)
  eps = jnp.array([0.25, 0.9, 0.75, 0.1])
  gp = penalties.gradient_penalty(d_fn, real=jnp.ones((4, 2)), fake=jnp.zeros((4, 2)),
                                  epsilon=eps, pack=2)
  expected = np.mean((2 * np.array([0.25, 0.75]) - 1) ** 2)
  assert float(gp) == pytest.approx(expected, rel=1e-4)


def test_dragan_penalty_at_perturbed_real_points():
  # D(x) = sum(x^2)/2: gradient x at x_hat = x + alpha * 0.5 std(x) u. Real x = [[0, 2]]
  # (std over elements 1), u = [1, 0], alpha 1: x_hat = [0.5, 2], norm sqrt(4.25).
  d_fn = lambda x: 0.5 * jnp.sum(x ** 2, axis=-1)
  real = jnp.array([[0.0, 2.0]])
  dragan = penalties.dragan_penalty(d_fn, real=real, noise=jnp.array([[1.0, 0.0]]),
                                    alpha=jnp.array([1.0]), axis_name=None)
  assert float(dragan) == pytest.approx((np.sqrt(4.25) - 1.0) ** 2, rel=1e-5)
  # alpha 0: the real point itself, norm 2.
  dragan = penalties.dragan_penalty(d_fn, real=real, noise=jnp.array([[1.0, 0.0]]),
                                    alpha=jnp.array([0.0]), axis_name=None)
  assert float(dragan) == pytest.approx(1.0, rel=1e-5)


def test_every_use_of_randomness_in_the_step_has_its_own_purpose():
  # The step folds a purpose into its key for each use; two uses with one purpose would share
  # random numbers (as the gradient penalty and R1 once shared their dropout masks).
  from gan_jax.families import gan
  purposes = {name: value for name, value in vars(gan).items()
              if name.startswith(('_D_', '_G_', '_DROPOUT', '_DRAGAN'))}
  assert len(purposes) >= 14
  assert len(set(purposes.values())) == len(purposes), purposes
