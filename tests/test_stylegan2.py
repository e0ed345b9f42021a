"""The StyleGAN2 family: the path-length term against a hand computation, style mixing, the
lazy optimizers and the EMA's half-life, ADA's p under an overfitting and a blind
discriminator, 1 vs 8 devices, exact resume (p, the path-length mean and the average w
included), sampling with truncation in w and the style-mixing grid, and start-up errors."""

import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import load_experiment, stylegan2_every_part
from gan_jax import configs, parallel, runs, sample, train
from gan_jax import state as state_lib
from gan_jax.families import stylegan2 as sg2


# ---- The terms ----
def test_path_lengths_match_a_hand_computation_on_a_tiny_network():
  # images = sum over layers l of tanh(ws[:, l] @ A_l), reshaped (N, 2, 3, 1): the gradient of
  # sum(images * y) with respect to ws[:, l] is (y * (1 - tanh^2)) @ A_l^T.
  rng = np.random.default_rng(0)
  n, num_ws, w_dim = 3, 2, 4
  a = rng.normal(size=(num_ws, w_dim, 6)).astype(np.float32)
  ws = rng.normal(size=(n, num_ws, w_dim)).astype(np.float32)
  y = rng.normal(size=(n, 2, 3, 1)).astype(np.float32)

  def synthesize(w):
    return jnp.sum(jnp.tanh(jnp.einsum('nlw,lwp->nlp', w, a)), axis=1).reshape(n, 2, 3, 1)
  images, lengths = sg2.path_lengths(synthesize, jnp.asarray(ws), jnp.asarray(y))
  pre = np.einsum('nlw,lwp->nlp', ws, a)
  grads = np.einsum('nlp,lwp->nlw', y.reshape(n, 1, 6) * (1 - np.tanh(pre) ** 2), a)
  expected = np.sqrt(np.mean(np.sum(grads ** 2, axis=2), axis=1))
  np.testing.assert_allclose(np.asarray(lengths), expected, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(images), np.tanh(pre).sum(1).reshape(n, 2, 3, 1),
                             atol=1e-6)
  # And the penalty's gradient flows through the lengths (the regulariser trains G).
  grad = jax.grad(lambda w: jnp.sum(sg2.path_lengths(synthesize, w, jnp.asarray(y))[1]))(
      jnp.asarray(ws))
  assert np.abs(np.asarray(grad)).max() > 1e-3


def test_style_mixing_switches_latents_at_the_drawn_layer():
  w = jnp.arange(3 * 2, dtype=jnp.float32).reshape(3, 2)
  w_mix = -1.0 - w
  mixed = np.asarray(sg2.mix_styles(w, w_mix, jnp.array([1, 3, 5]), 5))
  assert mixed.shape == (3, 5, 2)
  for i, cutoff in enumerate((1, 3, 5)):
    np.testing.assert_array_equal(mixed[i, :cutoff], np.broadcast_to(w[i], (cutoff, 2)))
    np.testing.assert_array_equal(mixed[i, cutoff:], np.broadcast_to(w_mix[i], (5 - cutoff, 2)))


def test_ema_half_life_and_ramp_up_follow_the_official_formula():
  s = sg2.Settings(z_dim=1, w_dim=1, num_ws=2, num_classes=0, batch_size=64, ema_kimg=10.0,
                   ema_rampup=0.05)
  for step in (0, 1, 100, 5000):
    nimg = step * 64
    half = min(10_000, nimg * 0.05)
    expected = 0.5 ** (64 / max(half, 1e-8))
    np.testing.assert_allclose(float(sg2.ema_beta(jnp.int32(step), s)), expected, rtol=1e-5)
  assert float(sg2.ema_beta(jnp.int32(0), s)) == 0.0  # the first step copies G
  flat = sg2.Settings(**{**s.__dict__, 'ema_rampup': 0.0})
  np.testing.assert_allclose(float(sg2.ema_beta(jnp.int32(0), flat)), 0.5 ** (64 / 10_000),
                             rtol=1e-6)


def test_lazy_optimizers_scale_rate_and_betas_and_the_mapping_multiplier():
  config = stylegan2_every_part()
  family = train.build(config)[1]
  params = jax.eval_shape(family.init, jax.random.PRNGKey(0)).players['g'].params
  params = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), params)
  tx = family._optimizer('g', params, 4)
  c = 4 / 5
  reference = optax.adam(config.optim.g_lr * c, b1=0.0 ** c, b2=0.99 ** c, eps=1e-8)
  rng = np.random.default_rng(0)
  state, ref_state = tx.init(params), reference.init(params)
  for _ in range(3):  # a few updates, so that beta2 matters
    grads = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape), x.dtype), params)
    updates, state = tx.update(grads, state, params)
    expected, ref_state = reference.update(grads, ref_state, params)
  for (path, u), (_, e) in zip(jax.tree_util.tree_leaves_with_path(updates),
                               jax.tree_util.tree_leaves_with_path(expected)):
    factor = 0.01 if jax.tree_util.keystr(path).startswith("['mapping']") else 1.0
    np.testing.assert_allclose(np.asarray(u), factor * np.asarray(e), rtol=2e-5, atol=1e-9,
                               err_msg=jax.tree_util.keystr(path))


# ---- Steps ----
def _run(config, devices, num_steps, images=None, programs=None, edit=None):
  """`num_steps` steps on `devices` from the config's initial state (changed by `edit`, if
  given); real batches from `images` (N, H, W, C) uint8 cycled, or random. `programs`, a dict,
  receives the step's compiled programs by phase choice."""
  spec, family = train.build(config)
  mesh = parallel.make_mesh(devices)
  _, init = train.abstract_state(family, mesh)
  state = init(jax.random.PRNGKey(config.seed))
  if edit is not None:
    state = edit(state)
  step = train.sharded_step(config, family, mesh)
  rng = np.random.default_rng(0)
  b = config.train.batch_size
  history = []
  for i in range(num_steps):
    if images is None:
      real = rng.integers(0, 256, (1, b, *spec.shape), dtype=np.uint8)
    else:
      real = images[(np.arange(b) + i * b) % len(images)][None]
    batch = {'image': real, 'label': rng.integers(0, 10, (1, b), dtype=np.int32)}
    state, metrics = step(state, parallel.global_batch_array(batch, mesh))
    history.append(jax.device_get(metrics))
  if programs is not None:
    programs.update(step.programs)
  return jax.device_get(state), history


def test_one_device_equals_eight():
  # Conditional (the class embedding, D's projection), path length, style mixing, the residual
  # D with minibatch stddev (groups of 2: a device's share), ADA's p moving every step (the
  # smoke config's), and both regularisers in the first step.
  config = stylegan2_every_part()
  config.model.conditional = True
  config.train.ada_p = 0.2
  state_1, metrics_1 = _run(config, jax.devices()[:1], 2)
  state_8, metrics_8 = _run(config, jax.devices()[:8], 2)
  for m1, m8 in zip(metrics_1, metrics_8):
    for key in m1:
      np.testing.assert_allclose(m1[key], m8[key], rtol=2e-4, atol=1e-5, err_msg=key)
  for (path, x), (_, y) in zip(jax.tree_util.tree_leaves_with_path(state_1),
                               jax.tree_util.tree_leaves_with_path(state_8)):
    np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                               rtol=1e-3, atol=5e-5, err_msg=jax.tree_util.keystr(path))
  extra = state_8.extra
  assert float(extra['ada']['p']) != 0.2            # p moved
  assert np.abs(extra['w_avg']).max() > 0           # the average w tracked
  assert float(extra['pl_mean']) > 0                # the path-length mean moved
  assert 'embed' in state_8.players['g'].params['mapping']


def test_regularisers_run_lazily_and_keep_their_running_values():
  config = stylegan2_every_part()
  config.loss.pl_every = 2        # path length on steps 0 and 2, R1 on step 0 only
  config.loss.penalty_every = 4
  programs = {}
  _, history = _run(config, jax.devices()[:2], 3, programs=programs)
  pl = [float(m['pl_mean']) for m in history]
  r1 = [float(m['r1_penalty']) for m in history]
  assert pl[0] > 0 and r1[0] > 0
  assert pl[1] == pl[0] and r1[1] == r1[0]     # step 1: neither; their last values are kept
  assert pl[2] != pl[0] and r1[2] == r1[0]     # step 2: path length only
  # One program per choice of phases, chosen on the host from the step number.
  assert set(programs) == {(True, True), (False, False), (True, False)}


def test_phased_step_reads_the_step_of_a_state_it_did_not_return():
  calls = []
  step = train.PhasedStep(lambda n: n % 2 == 0,
                          lambda phases: lambda state, batch: (calls.append(phases) or (
                              state.replace(step=state.step + 1), None)))
  zero = state_lib.GANState(step=jnp.int32(0), players={}, ema={}, rng=None, extra={})
  one, _ = step(zero, None)
  two, _ = step(one, None)
  step(zero, None)                      # an older state: its step is read again
  step(two, None)
  assert calls == [True, False, True, True]
  assert set(step.programs) == {True, False}


def test_ada_p_rises_when_d_overfits_a_tiny_set_and_falls_when_it_cannot():
  config = stylegan2_every_part()
  config.train.ada_kimg = 0.32    # p moves by 16 * 1 / 320 = 0.05 per step
  rng = np.random.default_rng(1)
  tiny = rng.integers(0, 256, (16, 8, 8, 1), dtype=np.uint8)  # the same 16 images each step
  config.optim.d_lr = 0.01        # a D that memorises them (both runs: one compiled program)
  state, history = _run(config, jax.devices()[:2], 8, images=tiny)
  signs = [float(m['d_real_sign']) for m in history]
  assert signs[-1] > 0.6
  ps = [float(m['ada_p']) for m in history]
  # While D is sure of every real image, p climbs by its full step; as augmentation grows, D
  # overfits less and p settles (the controller's feedback).
  np.testing.assert_allclose(ps[:4], [0.05, 0.1, 0.15, 0.2], atol=1e-6)
  assert ps[-1] > 0.1
  # A D that judges every image fake (its output bias -100, which 6 Adam steps of 0.01 cannot
  # undo) does not overfit at all: r_t = -1, below the target, and p falls by its full step.
  def judge_all_fake(state):
    d = state.players['d']
    params = jax.tree.map(lambda x: x, d.params)
    params['b4']['out']['bias'] = jnp.full_like(params['b4']['out']['bias'], -100.0)
    return state.replace(players={**state.players, 'd': d.replace(params=params)})
  config.train.ada_p = 0.5
  state, history = _run(config, jax.devices()[:2], 6, images=tiny, edit=judge_all_fake)
  np.testing.assert_allclose([float(m['ada_rt']) for m in history], -1.0)
  np.testing.assert_allclose([float(m['ada_p']) for m in history],
                             [0.5 - 0.05 * (i + 1) for i in range(6)], atol=1e-6)


class _StopAtStep2(train.StopRequest):
  def should_stop(self, step):
    if step == 2:
      self.agreed = signal.SIGTERM
    return self.agreed is not None


def test_resume_is_exact_including_p_path_length_mean_and_average_w(tmp_path, monkeypatch):
  config = stylegan2_every_part()     # ADA's p moves every step
  whole = train.train_and_evaluate(config, str(tmp_path / 'whole'))
  with monkeypatch.context() as patch:
    patch.setattr(train, 'StopRequest', _StopAtStep2)
    with pytest.raises(SystemExit):
      train.train_and_evaluate(config, str(tmp_path / 'split'))
  resumed = train.train_and_evaluate(config, str(tmp_path / 'split'))
  for (path, x), (_, y) in zip(jax.tree_util.tree_leaves_with_path(whole),
                               jax.tree_util.tree_leaves_with_path(resumed)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=jax.tree_util.keystr(path))
  assert float(resumed.extra['ada']['p']) > 0 and float(resumed.extra['pl_mean']) > 0


# ---- Sampling ----
@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('stylegan2'))
  config = stylegan2_every_part()
  config.train.steps = 2
  train.train_and_evaluate(config, workdir)
  return workdir


def test_truncation_psi_moves_samples_toward_the_average_w_image(trained, tmp_path):
  _, plain, _ = sample.draw(trained, num=4, out=str(tmp_path / 'a.npy'))
  _, same, _ = sample.draw(trained, num=4, out=str(tmp_path / 'b.npy'), psi=1.0)
  np.testing.assert_allclose(plain, same, atol=1e-6)
  _, zero, _ = sample.draw(trained, num=4, out=str(tmp_path / 'c.npy'), psi=0.0)
  # psi 0: every sample is the average w's image.
  np.testing.assert_allclose(zero, np.broadcast_to(zero[:1], zero.shape), atol=1e-5)
  _, half, _ = sample.draw(trained, num=4, out=str(tmp_path / 'd.npy'), psi=0.5)
  assert np.abs(half - zero).mean() < np.abs(plain - zero).mean()
  path, _, _ = sample.draw(trained, num=4, psi=0.7, psi_cutoff=2)
  assert path.endswith('_psi_0.7.png') and os.path.exists(path)
  # The strip: each row one latent at psi 1, 0.75, 0.5, 0.25, 0.
  path, strip, _ = sample.draw(trained, num=4, truncation_strip=True)
  assert os.path.basename(path).startswith('truncation_strip_') and strip.shape[0] == 20
  strip = strip.reshape(4, 5, *strip.shape[1:])
  np.testing.assert_allclose(strip[:, 0], plain, atol=1e-5)
  np.testing.assert_allclose(strip[:, 2], half, atol=1e-5)
  np.testing.assert_allclose(strip[:, 4], zero, atol=1e-5)


def test_style_mixing_grid_takes_coarse_styles_from_rows_and_fine_from_columns(trained):
  config, spec, family, state = runs.restore(trained)
  ema = jax.device_get(state.ema['g'])
  grid, columns = family.style_mix(ema, seed=3, rows=2, columns=3, cutoff=2)
  assert columns == 4 and grid.shape[0] == 3 * 4
  ws = family.styles(ema, family.latents(3, 5))
  # Latents: rows 0, 1, then columns 0, 1, 2. Cell (row r, column c) is grid[(r + 1) * 4 + 1 + c].
  expected = family.synthesize(ema, np.concatenate([ws[1:2, :2], ws[4:5, 2:]], 1))
  np.testing.assert_allclose(grid[2 * 4 + 1 + 2], expected[0], atol=1e-5)  # row 1, column 2
  np.testing.assert_allclose(grid[1], family.synthesize(ema, ws[2:3])[0], atol=1e-5)  # top row
  path, _, _ = sample.draw(trained, num=3, style_mix=True)
  assert os.path.basename(path).startswith('style_mix_') and os.path.exists(path)


def test_sample_command_errors(trained, tmp_path):
  with pytest.raises(ValueError, match=r'outside \[0, 1\]'):
    sample.draw(trained, psi=1.5)
  with pytest.raises(ValueError, match='unconditional'):
    sample.draw(trained, labels=[3])
  with pytest.raises(ValueError, match='w inputs'):
    sample.draw(trained, style_mix=True, style_cutoff=99)
  with pytest.raises(ValueError, match='choose one'):
    sample.draw(trained, style_mix=True, truncation_strip=True)
  # A run of another family (its config is all the check reads).
  workdir = tmp_path / 'dcgan'
  workdir.mkdir()
  (workdir / 'config.json').write_text(load_experiment('dcgan_digits').to_json_best_effort())
  with pytest.raises(ValueError, match='style-based'):
    sample.draw(str(workdir), psi=0.7)


def test_start_up_errors():
  config = stylegan2_every_part()
  config.data.image_size = 24
  with pytest.raises(ValueError, match='power of two'):
    configs.validate(config, 8)
  config = stylegan2_every_part()
  config.train.batch_size = 64
  config.model.mbstd_group = 3    # 8 examples per device
  with pytest.raises(ValueError, match='mbstd_group=3 does not divide'):
    configs.validate(config, 8)
  config = stylegan2_every_part()
  config.train.augment = 'translation'
  with pytest.raises(ValueError, match='ADA'):
    configs.validate(config, 8)
  config = stylegan2_every_part()
  config.train.ada_pipeline = 'xyz'
  with pytest.raises(ValueError, match='xyz'):
    configs.validate(config, 8)
  config = stylegan2_every_part()
  config.loss.name = 'hinge'
  with pytest.raises(ValueError, match='non_saturating'):
    configs.validate(config, 8)
