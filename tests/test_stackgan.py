"""StackGAN: the reference's parameter counts, conditioning augmentation, matching-aware
discriminators with rolled descriptions, both stages on 1 and 8 devices, exact resume across
the change of stage, stage II from a stage I run, described data and its bad input."""

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from conftest import (ONE_VS_EIGHT_ADAM_EPS, assert_metrics_close, assert_trees_close,
                      load_experiment, run_steps, write_image_folder)
from gan_jax import configs, parallel, sample, train
from gan_jax import data as data_lib
from gan_jax.data import attributes, descriptions
from gan_jax.families import stackgan as family_lib
from gan_jax.models import stackgan
from gan_jax.sweeps import points


def _count(module, *args):
  shapes = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), *args, train=False))
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes['params']))


def test_parameter_counts_match_the_reference():
  # StackGAN-Pytorch code/model.py at its defaults (code/miscc/config.py: TEXT.DIMENSION 1024,
  # GAN.CONDITION_DIM 128, Z_DIM 100, GF_DIM 128, DF_DIM 64, R_NUM 4), stage I at 64x64 and
  # stage II at 256x256, RGB; trainable parameters, counted layer by layer from the reference
  # modules (STAGE2_G's frozen STAGE1_G excluded): STAGE1_G 10,301,248 (its CA_NET 262,400),
  # STAGE1_D 5,715,713, STAGE2_G 26,290,080, STAGE2_D 71,269,122.
  c = ml_collections.ConfigDict()
  stackgan.defaults(c)
  (g1, d1), (g2, d2) = stackgan.build(c, (256, 256, 3), jnp.float32)
  e, z, eps = jnp.zeros((1, 1024)), jnp.zeros((1, 100)), jnp.zeros((1, 128))
  assert _count(g1, e, z, eps) == 10_301_248
  assert _count(d1, jnp.zeros((1, 64, 64, 3)), [eps]) == 5_715_713
  assert _count(g2, e, jnp.zeros((1, 64, 64, 3)), eps) == 26_290_080
  assert _count(d2, jnp.zeros((1, 256, 256, 3)), [eps]) == 71_269_122
  ca = stackgan.ConditioningAugmentation(128)
  assert sum(x.size for x in jax.tree.leaves(ca.init(jax.random.PRNGKey(0), e, eps))) == 262_400


def test_conditioning_augmentation_samples_its_gaussian_and_the_kl_is_the_closed_form():
  ca = stackgan.ConditioningAugmentation(4, activation='none')
  e = jnp.ones((1, 6))
  variables = ca.init(jax.random.PRNGKey(1), e, jnp.zeros((1, 4)))
  eps = jax.random.normal(jax.random.PRNGKey(2), (20_000, 4))
  c, mu, logvar = ca.apply(variables, jnp.broadcast_to(e, (20_000, 6)), eps)
  np.testing.assert_allclose(c.mean(0), mu[0], atol=0.05)
  np.testing.assert_allclose(c.std(0), jnp.exp(0.5 * logvar[0]), rtol=0.05)
  mu, logvar = jnp.array([[0.5, -1.0]]), jnp.array([[0.2, -0.4]])
  m, lv = np.asarray(mu), np.asarray(logvar)
  expected = float(np.mean(0.5 * (np.exp(lv) + m ** 2 - 1 - lv)))
  assert float(family_lib.kl_loss(mu, logvar)) == pytest.approx(expected, rel=1e-6)
  assert float(family_lib.kl_loss(jnp.zeros((3, 2)), jnp.zeros((3, 2)))) == 0.0


@pytest.mark.parametrize('n', [1, 8])
def test_mismatched_descriptions_roll_the_global_batch_on_any_device_count(n):
  mesh = parallel.make_mesh(jax.devices()[:n])
  x = jnp.arange(16 * 3, dtype=jnp.float32).reshape(16, 3)
  fn = jax.jit(jax.shard_map(lambda v: family_lib.rolled(v, parallel.AXIS), mesh=mesh,
                             in_specs=P(parallel.AXIS), out_specs=P(parallel.AXIS)))
  np.testing.assert_array_equal(np.asarray(fn(x)), np.roll(np.asarray(x), -1, axis=0))


def _both_config(stage1_steps=1):
  config = load_experiment('stackgan_digits')
  config.train.stage1_steps = stage1_steps
  return config


def _run(config, devices, num_steps):
  b = config.train.batch_size
  states, history, step = run_steps(config, devices, num_steps, lambda spec, rng: {
      'image': rng.integers(0, 256, (1, b, *spec.shape), dtype=np.uint8),
      'label': rng.integers(0, 10, (1, b), dtype=np.int32),
      # three descriptions per image: the step picks one per example
      'condition': rng.normal(size=(1, b, 3, spec.condition_shape[-1])).astype(np.float32)})
  return states[-1], history, step


def test_both_stages_give_the_same_result_on_one_and_eight_devices():
  config = _both_config(stage1_steps=1)   # step 0: stage I; step 1: stage II
  # A kernel entry whose gradient cancels to near zero was off by 0.8 lr on one processor type.
  config.optim.eps = ONE_VS_EIGHT_ADAM_EPS
  state_1, metrics_1, step = _run(config, jax.devices()[:1], 2)
  state_8, metrics_8, _ = _run(config, jax.devices()[:8], 2)
  assert set(step.programs) == {'stage1', 'stage2'}
  assert 'stage1/d_loss' in metrics_1[0] and 'stage2/d_loss' in metrics_1[1]
  assert_metrics_close(metrics_1, metrics_8)
  assert_trees_close(state_1, state_8)
  # Stage II's step leaves stage I alone, and stage I's left stage II alone.
  init = jax.device_get(train.abstract_state(train.build(config)[1],
                                             parallel.make_mesh(jax.devices()[:1]))[1](
      jax.random.PRNGKey(config.seed)))
  for name, changed in (('g1', True), ('d1', True), ('g2', True), ('d2', True)):
    moved = any(not np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(init.players[name].params), jax.tree.leaves(state_8.players[name].params)))
    assert moved == changed, name


def test_each_stage_s_ema_warms_up_from_that_stage_s_first_step():
  config = _both_config(stage1_steps=1)   # step 0: stage I; step 1: stage II
  config.train.ema_decay = 0.999
  state, _, _ = _run(config, jax.devices()[:2], 2)
  init = jax.device_get(train.abstract_state(train.build(config)[1],
                                             parallel.make_mesh(jax.devices()[:1]))[1](
      jax.random.PRNGKey(config.seed)))
  # Warm-up decay min(0.999, (1 + t) / (10 + t)) at t = 0 of each stage: 0.1 for both, though
  # stage II's first step is the run's step 1 (there it would be 2 / 11).
  for stage, player in (('stage1', 'g1'), ('stage2', 'g2')):
    for e, p0, p in zip(jax.tree.leaves(state.ema['g'].params[stage]),
                        jax.tree.leaves(init.players[player].params),
                        jax.tree.leaves(state.players[player].params)):
      np.testing.assert_allclose(np.asarray(e), 0.1 * np.asarray(p0) + 0.9 * np.asarray(p),
                                 rtol=1e-5, atol=1e-7, err_msg=stage)


def test_stage_two_steps_do_not_change_stage_one():
  config = _both_config(stage1_steps=1)
  state, _, _ = _run(config, jax.devices()[:2], 1)
  after, _, _ = _run(config, jax.devices()[:2], 3)
  for a, b in zip(jax.tree.leaves(state.players['g1']), jax.tree.leaves(after.players['g1'])):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_resume_is_exact_across_the_change_of_stage(tmp_path):
  config = load_experiment('stackgan_digits')   # stage I for 2 steps, stage II for 2
  whole = train.train_and_evaluate(config, str(tmp_path / 'whole'))
  config.train.steps = 3
  config.train.checkpoint_every = 3
  train.train_and_evaluate(config, str(tmp_path / 'split'))
  config.train.steps = 4
  resumed = train.train_and_evaluate(config, str(tmp_path / 'split'))
  for (path, x), (_, y) in zip(jax.tree_util.tree_leaves_with_path(jax.device_get(whole)),
                               jax.tree_util.tree_leaves_with_path(jax.device_get(resumed))):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=jax.tree_util.keystr(path))


def test_described_digits_carry_their_class_and_measured_attributes():
  config = load_experiment('stackgan_digits')
  source = data_lib.open_source(config.data, 0)
  batch = source.read(np.arange(5))
  assert batch['condition'].shape == (5, 1, 13)
  classes, values = attributes.from_description(batch['condition'][:, 0], 32)
  assert classes.tolist() == batch['label'].tolist()
  measured = attributes.stack(attributes.measure(batch['image']))
  np.testing.assert_allclose(values, measured, rtol=1e-4, atol=1e-4)


# ---- The published setting: a folder with embeddings, stage II from stage I ----
def _cub(tmp_path, arg='smoke', *, rows=None, per_image=3, dim=16):
  config = load_experiment('stackgan_cub', arg)
  config.data.path = write_image_folder(tmp_path / 'images', num=20, size=24)
  rng = np.random.default_rng(0)
  path = tmp_path / 'embeddings.npy'
  np.save(path, rng.normal(size=(rows or 20, per_image, dim)).astype(np.float32))
  config.data.embeddings = str(path)
  return config


def test_stage_two_trains_on_a_frozen_stage_one_from_its_workdir_and_samples(tmp_path):
  stage1 = _cub(tmp_path)
  first = train.train_and_evaluate(stage1, str(tmp_path / 'stage1'))
  config = _cub(tmp_path, 'stage2_smoke')
  config.stage1_workdir = str(tmp_path / 'stage1')
  state = train.train_and_evaluate(config, str(tmp_path / 'stage2'), devices=jax.devices()[:2])
  assert set(state.players) == {'g2', 'd2'}
  for a, b in zip(jax.tree.leaves(jax.device_get(first.ema['g'].params['stage1'])),
                  jax.tree.leaves(jax.device_get(state.ema['g'].params['stage1']))):
    np.testing.assert_array_equal(a, b)     # stage I as trained, unchanged by stage II
  vectors = np.random.default_rng(1).normal(size=(5, 3, 16)).astype(np.float32)
  np.save(tmp_path / 'cond.npy', vectors)
  out, images, labels = sample.draw(str(tmp_path / 'stage2'), condition=str(tmp_path / 'cond.npy'),
                                    out=str(tmp_path / 'samples.npy'))
  assert images.shape == (5, 32, 32, 3) and labels is None
  np.testing.assert_array_equal(np.load(out), images)
  with pytest.raises(ValueError, match=r'\(n, 16\)'):
    np.save(tmp_path / 'bad.npy', vectors[..., :5])
    sample.draw(str(tmp_path / 'stage2'), condition=str(tmp_path / 'bad.npy'))
  with pytest.raises(ValueError, match='not a file'):
    sample.draw(str(tmp_path / 'stage2'), condition=str(tmp_path / 'missing.npy'))


def test_stage_two_without_a_stage_one_checkpoint_fails_at_once(tmp_path):
  config = _cub(tmp_path, 'stage2_smoke')
  with pytest.raises(ValueError, match='stage1_workdir'):
    configs.validate(config, 1)
  config.stage1_workdir = str(tmp_path / 'nothing')
  with pytest.raises(FileNotFoundError, match='holds no checkpoint'):
    configs.validate(config, 1)


@pytest.mark.parametrize('problem,match', [
    ('count', 'has 19 rows but'),
    ('missing', 'is not a file'),
    ('shape', 'expected floats of shape'),
    ('dim', 'set them to 3 and 12'),
])
def test_embeddings_that_do_not_fit_fail_at_start_up(tmp_path, problem, match):
  config = _cub(tmp_path, rows=19 if problem == 'count' else None,
                dim=12 if problem == 'dim' else 16)
  if problem == 'missing':
    config.data.embeddings = str(tmp_path / 'none.npy')
  if problem == 'shape':
    np.save(tmp_path / 'flat.npy', np.zeros(20, np.float32))
    config.data.embeddings = str(tmp_path / 'flat.npy')
  with pytest.raises((ValueError, FileNotFoundError), match=match):
    configs.validate(config, 1)


def test_an_unreadable_image_with_embeddings_stops_naming_it(tmp_path):
  config = _cub(tmp_path)
  first = sorted(os.listdir(config.data.path))[0]
  with open(os.path.join(config.data.path, first), 'wb') as f:
    f.write(b'not an image')
  source = descriptions.described_folder(config.data)
  with pytest.raises(OSError, match=first):
    source.read(np.arange(3))


@pytest.mark.parametrize('overrides, message', [
    ({'data.name': 'digits'}, 'generates from descriptions'),
    ({'model.stage1_size': 12, 'data.image_size': 24}, 'power of two'),
    ({'train.stage1_steps': 4}, 'stage1_steps'),
    ({'stage': 'stage3'}, 'unknown stage'),
])
def test_start_up_errors(overrides, message):
  config = load_experiment('stackgan_digits')
  points.apply_overrides(config, overrides)
  with pytest.raises(ValueError, match=message):
    configs.validate(config, 1)
