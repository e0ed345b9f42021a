"""The image-translation families (Pix2Pix, CycleGAN): their losses against hand-computed
values, the image pool, the jitter, 1 vs 8 devices, exact resume, the translate command, the
evaluation of a translation run and the start-up errors."""

import functools
import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P
from PIL import Image

from conftest import (ONE_VS_EIGHT_ADAM_EPS, StandInClassifier, assert_trees_close,
                      load_experiment, run_steps)
from gan_jax import configs, parallel, runs, sample, train, translate
from gan_jax.evaluators import evaluator as evaluator_lib
from gan_jax.families import cyclegan
from gan_jax.families import translation as tr


def _settings(**kwargs):
  base = dict(gan_loss='mse', image_size=4, load_size=4, flip=False, paired=False,
              cycle_weight=10.0, identity_weight=0.5)
  return tr.Settings(**{**base, **kwargs})


# ---- Losses ----
def test_cycle_and_identity_losses_against_hand_computed_values():
  a = jnp.full((2, 4, 4, 1), 0.2)
  b = jnp.full((2, 4, 4, 1), -0.4)
  ab = lambda x, purpose: x + 0.25
  ba = lambda x, purpose: x * 0.5
  judge = lambda x: jnp.mean(x, axis=(1, 2, 3), keepdims=True)  # one patch: the image's mean
  loss, scalars, fake_a, fake_b = cyclegan.generator_objective(ab, ba, judge, judge, a, b,
                                                               _settings())
  np.testing.assert_allclose(fake_b, 0.45, rtol=1e-6)
  np.testing.assert_allclose(fake_a, -0.2, rtol=1e-6)
  # cycle: |ba(ab(a)) - a| = |0.225 - 0.2| = 0.025; |ab(ba(b)) - b| = |0.05 + 0.4| = 0.45.
  np.testing.assert_allclose(scalars['cycle_loss'], 0.475, rtol=1e-6)
  # identity: |ab(b) - b| = 0.25; |ba(a) - a| = 0.1.
  np.testing.assert_allclose(scalars['identity_loss'], 0.35, rtol=1e-6)
  # least squares against 1: (0.45 - 1)^2 + (-0.2 - 1)^2.
  np.testing.assert_allclose(scalars['g_gan_loss'], 0.3025 + 1.44, rtol=1e-6)
  np.testing.assert_allclose(loss, 1.7425 + 10 * 0.475 + 0.5 * 10 * 0.35, rtol=1e-6)
  no_identity, scalars, _, _ = cyclegan.generator_objective(
      ab, ba, judge, judge, a, b, _settings(identity_weight=0.0))
  np.testing.assert_allclose(no_identity, 1.7425 + 4.75, rtol=1e-6)
  assert float(scalars['identity_loss']) == 0.0


def test_gan_terms_are_the_official_vanilla_and_lsgan_losses():
  real, fake = jnp.array([[2.0, -1.0]]), jnp.array([[0.5, 3.0]])
  softplus = lambda x: np.log1p(np.exp(x))
  # vanilla: BCE with logits; D's loss is half the sum of its terms.
  expected = 0.5 * (np.mean(softplus(-np.array([2.0, -1.0])))
                    + np.mean(softplus(np.array([0.5, 3.0]))))
  np.testing.assert_allclose(tr.d_loss(real, fake, 'bce'), expected, rtol=1e-6)
  np.testing.assert_allclose(tr.gan_term(fake, 1.0, 'bce'),
                             np.mean(softplus(-np.array([0.5, 3.0]))), rtol=1e-6)
  # LSGAN: mean squared error against 1 and 0 (no extra half on G's term).
  np.testing.assert_allclose(tr.d_loss(real, fake, 'mse'),
                             0.5 * ((1 + 4) / 2 + (0.25 + 9) / 2), rtol=1e-6)
  np.testing.assert_allclose(tr.gan_term(fake, 1.0, 'mse'), (0.25 + 4) / 2, rtol=1e-6)


# ---- The image pool ----
@functools.lru_cache(maxsize=None)
def _pool_fn(num_devices):
  mesh = parallel.make_mesh(jax.devices()[:num_devices])
  return jax.jit(jax.shard_map(lambda p, x, k: tr.pool_query(p, x, k, parallel.AXIS),
                               mesh=mesh, in_specs=(P(), P(parallel.AXIS), P()),
                               out_specs=(P(), P(parallel.AXIS)), check_vma=False))


def _query(pool, images, key, devices):
  return jax.device_get(_pool_fn(len(devices))(pool, images, key))


def _as_set(images):
  return sorted(float(x) for x in np.asarray(images).reshape(len(images), -1)[:, 0])


def test_image_pool_fills_in_order_then_swaps_half_and_loses_nothing():
  devices = jax.devices()[:8]
  pool = tr.pool_init(12, (1, 1, 1))
  stream = iter(np.arange(1, 1001, dtype=np.float32).reshape(-1, 8, 1, 1, 1))
  # While it has room, every image is stored in order and shown as it is.
  for i in range(1, 2):
    batch = next(stream)
    pool, shown = _query(pool, batch, jax.random.PRNGKey(i), devices)
    np.testing.assert_array_equal(shown, batch)
  batch = next(stream)  # 8 more: 4 fill the pool, then the pool is full for the last 4
  pool, shown = _query(pool, batch, jax.random.PRNGKey(2), devices)
  np.testing.assert_array_equal(shown[:4], batch[:4])
  assert int(pool['count']) == 12
  swapped = 0
  for i in range(3, 60):
    before = np.asarray(pool['images'])
    batch = next(stream)
    pool, shown = _query(pool, batch, jax.random.PRNGKey(i), devices)
    # Nothing is lost or duplicated: what was held plus what came in is what is held plus what
    # was shown.
    assert _as_set(np.concatenate([before, batch])) == _as_set(
        np.concatenate([pool['images'], shown]))
    swapped += int(np.sum(shown != batch))
  assert 0.35 < swapped / (57 * 8) < 0.65  # about half the images are swapped for old ones


def test_image_pool_is_the_same_on_one_and_eight_devices_and_size_zero_is_off():
  images = np.random.default_rng(0).normal(size=(16, 2, 2, 3)).astype(np.float32)
  pool = tr.pool_init(5, (2, 2, 3))
  pool = _query(pool, images, jax.random.PRNGKey(0), jax.devices()[:8])[0]  # full
  one = _query(pool, images[::-1].copy(), jax.random.PRNGKey(1), jax.devices()[:1])
  eight = _query(pool, images[::-1].copy(), jax.random.PRNGKey(1), jax.devices()[:8])
  for x, y in zip(jax.tree.leaves(one), jax.tree.leaves(eight)):
    np.testing.assert_array_equal(x, y)
  off, shown = _query(tr.pool_init(0, (2, 2, 3)), images, jax.random.PRNGKey(0),
                      jax.devices()[:8])
  np.testing.assert_array_equal(shown, images)


# ---- Jitter ----
def test_jitter_crops_a_pair_alike_and_each_example_its_own_way():
  mesh = parallel.make_mesh(jax.devices()[:1])
  x = np.arange(16 * 12 * 12, dtype=np.float32).reshape(16, 12, 12, 1)
  settings = _settings(image_size=8, load_size=12, flip=True, paired=True)
  fn = jax.jit(jax.shard_map(
      lambda a, b: tr.jitter(a, b, jax.random.PRNGKey(3), settings, parallel.AXIS), mesh=mesh,
      in_specs=(P(parallel.AXIS), P(parallel.AXIS)), out_specs=P(parallel.AXIS),
      check_vma=False))
  a, b = fn(x, x + 0.5)
  assert a.shape == (16, 8, 8, 1)
  np.testing.assert_array_equal(b, a + 0.5)  # same crop and flip for the pair
  corners = {float(v) for v in np.asarray(a)[:, 0, 0, 0] % 144}
  assert len(corners) > 4  # examples are cropped in different places
  unpaired = _settings(image_size=8, load_size=12, flip=True, paired=False)
  fn = jax.jit(jax.shard_map(
      lambda a, b: tr.jitter(a, b, jax.random.PRNGKey(3), unpaired, parallel.AXIS), mesh=mesh,
      in_specs=(P(parallel.AXIS), P(parallel.AXIS)), out_specs=P(parallel.AXIS),
      check_vma=False))
  a, b = fn(x, x)
  assert not np.array_equal(a, b)


# ---- The step on 1 and 8 devices ----
def _translation_run(config, devices, num_steps=2):
  load = config.data.load_size or config.data.image_size

  def make_batch(spec, rng):
    shape = (1, config.train.batch_size, load, load, spec.shape[-1])
    return {'a': rng.integers(0, 256, shape, dtype=np.uint8),
            'b': rng.integers(0, 256, shape, dtype=np.uint8),
            'label': np.zeros(shape[:2], np.int32), 'label_b': np.zeros(shape[:2], np.int32)}
  states, history, _ = run_steps(config, devices, num_steps, make_batch)
  return states[-1], history


@pytest.mark.parametrize('name', ['pix2pix_facades', 'cyclegan_printed2handwritten'])
def test_one_device_equals_eight(name):
  # Pix2Pix: batch norm over the global batch, per-example dropout and jitter (crop and flip).
  # CycleGAN: instance norm, both image pools, jitter of unpaired images.
  config = load_experiment(name)
  config.data.load_size = 36
  config.data.flip = True
  config.data.image_size = 32
  if name.startswith('cyclegan'):
    config.train.pool_size = 20
    # Its convolutions have biases right before instance norm (as the official ones), whose
    # gradient is zero up to rounding.
    config.optim.eps = ONE_VS_EIGHT_ADAM_EPS
  config.train.batch_size = 16
  state_1, metrics_1 = _translation_run(config, jax.devices()[:1])
  state_8, metrics_8 = _translation_run(config, jax.devices()[:8])
  for m1, m8 in zip(metrics_1, metrics_8):
    for key in m1:
      np.testing.assert_allclose(m1[key], m8[key], rtol=2e-4, atol=1e-5, err_msg=key)
  # Parameters to within a quarter of one update at the learning rate (2e-4): a device-count
  # bug (other keys, other statistics) moves them by whole updates.
  # Adam's moments are the gradients, sums over the batch and the pixels computed in another
  # order on 8 devices: where terms cancel, their rounding (about 1e-3 of the leaf's largest
  # entry on this CPU) shows; a device-count bug changes gradients by far more. Everything
  # else (parameters, statistics, EMA, pools) within a quarter of one update.
  moments = lambda s: {k: p.opt_state for k, p in s.players.items()}
  rest = lambda s: s.replace(players={k: p.replace(opt_state=()) for k, p in s.players.items()})
  assert_trees_close(rest(state_1), rest(state_8), rtol=1e-3, atol=5e-5)
  assert_trees_close(moments(state_1), moments(state_8), rtol=1e-3, atol=5e-5, leaf_scale=5e-3)
  if name.startswith('cyclegan'):
    assert int(state_8.extra['pool_a']['count']) == 20  # the pools filled: 2 steps of 16
  initial = jax.device_get(jax.jit(train.build(config)[1].init)(jax.random.PRNGKey(0)))
  moved = jax.tree.map(lambda a, b: float(np.abs(a - b).max()), initial.players['g'].params,
                       state_8.players['g'].params)
  assert max(jax.tree.leaves(moved)) > 1e-4


# ---- Resume, commands, evaluation ----
def _assert_same_tree(a, b):
  for (path, x), (_, y) in zip(jax.tree_util.tree_leaves_with_path(a),
                               jax.tree_util.tree_leaves_with_path(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y),
                                  err_msg=jax.tree_util.keystr(path))


class _StopAtStep2(train.StopRequest):
  """A stop request (as SIGTERM would make) that arrives at step 2."""

  def should_stop(self, step):
    if step == 2:
      self.agreed = signal.SIGTERM
    return self.agreed is not None


def _whole_and_resumed(config, tmp_path, monkeypatch):
  """4 steps in one go, and stopped at step 2 then resumed: (whole, resumed). The run is
  stopped rather than shortened, since the learning rate's decay depends on train.steps."""
  whole = train.train_and_evaluate(config, str(tmp_path / 'whole'))
  with monkeypatch.context() as patch:
    patch.setattr(train, 'StopRequest', _StopAtStep2)
    with pytest.raises(SystemExit):
      train.train_and_evaluate(config, str(tmp_path / 'split'))
  return whole, train.train_and_evaluate(config, str(tmp_path / 'split'))


def test_pix2pix_resume_is_exact(tmp_path, monkeypatch):
  config = load_experiment('pix2pix_edges2digits')
  whole, resumed = _whole_and_resumed(config, tmp_path, monkeypatch)
  _assert_same_tree(whole, resumed)
  assert jax.tree.leaves(resumed.players['g'].batch_stats)  # batch norm's statistics resumed


def test_cyclegan_resume_is_exact_pool_included(tmp_path, monkeypatch):
  config = load_experiment('cyclegan_printed2handwritten')
  config.train.pool_size = 40  # not full after 2 steps of 16: the count must resume too
  whole, resumed = _whole_and_resumed(config, tmp_path, monkeypatch)
  _assert_same_tree(whole, resumed)
  assert int(resumed.extra['pool_b']['count']) == 40
  assert np.abs(np.asarray(resumed.extra['pool_b']['images'])).sum() > 0


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """Smoke runs of both families on the bundled tasks."""
  out = {}
  for name in ('pix2pix_edges2digits', 'cyclegan_printed2handwritten'):
    workdir = str(tmp_path_factory.mktemp(name))
    config = load_experiment(name)
    config.train.steps = 2
    train.train_and_evaluate(config, workdir)
    out[name] = workdir
  return out


def _write_images(folder, count, size=32, mode='L'):
  os.makedirs(folder, exist_ok=True)
  rng = np.random.default_rng(0)
  for i in range(count):
    shape = (size, size) if mode == 'L' else (size, size, 3)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(
        os.path.join(folder, f'img_{i}.png'))


def test_translate_command_writes_every_image_skips_unreadable_ones_and_resizes(trained,
                                                                             tmp_path):
  inputs = tmp_path / 'in'
  _write_images(inputs, 3)
  _write_images(inputs / 'sub', 1, size=48, mode='RGB')  # another size and colour
  (inputs / 'broken.png').write_bytes(b'not an image')
  result = translate.translate_folder(trained['pix2pix_edges2digits'], str(inputs),
                                      str(tmp_path / 'out'))
  written = sorted(os.path.relpath(p, tmp_path / 'out') for p in result['written'])
  assert written == ['img_0.png', 'img_1.png', 'img_2.png', os.path.join('sub', 'img_0.png')]
  assert result['skipped'] == [str(inputs / 'broken.png')]
  assert result['resized'] == 1
  out = np.asarray(Image.open(tmp_path / 'out' / 'sub' / 'img_0.png'))
  assert out.shape == (32, 32)
  again = translate.translate_folder(trained['pix2pix_edges2digits'], str(inputs),
                                     str(tmp_path / 'again'), batch_size=1)
  assert len(again['written']) == 4
  read = lambda folder, path: np.asarray(Image.open(tmp_path / folder / path), np.int32)
  for path in written:  # up to a grey level of rounding
    assert np.abs(read('out', path) - read('again', path)).max() <= 1


def test_translations_keep_dropout_at_test_time_and_do_not_depend_on_the_batch(trained):
  _, _, family, state = runs.restore(trained['pix2pix_edges2digits'])
  ema = jax.device_get(state.ema['g'])
  images = np.random.default_rng(0).uniform(-1, 1, (6, 32, 32, 1)).astype(np.float32)
  whole = family.translate(ema, images, seed=0)
  one_by_one = family.translate(ema, images, seed=0, batch_size=1)
  np.testing.assert_allclose(whole, one_by_one, atol=1e-5)
  other = family.translate(ema, images, seed=1)
  assert np.abs(other - whole).max() > 1e-4  # other dropout masks: the paper's test-time noise
  np.testing.assert_allclose(family.translate(ema, images[3:], seed=0, first_index=3),
                             whole[3:], atol=1e-5)


def test_translate_command_errors(trained, tmp_path):
  empty = tmp_path / 'empty'
  empty.mkdir()
  (empty / 'notes.txt').write_text('no images')
  with pytest.raises(FileNotFoundError, match='no PNG or JPEG images'):
    translate.translate_folder(trained['cyclegan_printed2handwritten'], str(empty),
                               str(tmp_path / 'out'))
  _write_images(tmp_path / 'in', 1)
  with pytest.raises(ValueError, match='one way only'):
    translate.translate_folder(trained['pix2pix_edges2digits'], str(tmp_path / 'in'),
                               str(tmp_path / 'out'), direction='b2a')
  with pytest.raises(ValueError, match="direction 'sideways'"):
    translate.translate_folder(trained['cyclegan_printed2handwritten'], str(tmp_path / 'in'),
                               str(tmp_path / 'out'), direction='sideways')
  both = [translate.translate_folder(trained['cyclegan_printed2handwritten'],
                                     str(tmp_path / 'in'), str(tmp_path / d), direction=d)
          for d in ('a2b', 'b2a')]
  images = [np.asarray(Image.open(r['written'][0])) for r in both]
  assert not np.array_equal(images[0], images[1])  # two generators


def test_sample_command_shows_held_out_sources_beside_translations(trained, tmp_path):
  out, images, labels = sample.draw(trained['pix2pix_edges2digits'], num=5,
                                    out=str(tmp_path / 'grid.npy'))
  assert images.shape == (15, 32, 32, 1) and labels is None  # source, translation, target
  held = runs.load_config(trained['pix2pix_edges2digits'])
  examples = tr.heldout(held, 5)
  np.testing.assert_allclose(images[0::3], examples['a'], atol=1e-6)
  np.testing.assert_allclose(images[2::3], examples['b'], atol=1e-6)
  _, images, _ = sample.draw(trained['cyclegan_printed2handwritten'], num=2,
                             out=str(tmp_path / 'cycle.npy'))
  assert images.shape == (8, 32, 32, 1)  # a, ab(a), b, ba(b)
  with pytest.raises(ValueError, match='takes no labels|no latent|unconditional'):
    sample.draw(trained['pix2pix_edges2digits'], labels=[3])


def test_evaluation_of_translation_runs(trained, monkeypatch):
  monkeypatch.setattr(evaluator_lib, '_classifier', lambda name, directory: StandInClassifier())
  _, paired = runs.evaluate_run(trained['pix2pix_edges2digits'], num_samples=40)
  values = paired['values']
  assert set(values) == {'eval/l1', 'eval/psnr', 'eval/ssim', 'eval/source_l1',
                         'eval/source_psnr', 'eval/source_ssim', 'eval/class_preserved'}
  assert 0 <= values['eval/class_preserved'] <= 1 and 0 < values['eval/l1'] < 1
  _, unpaired = runs.evaluate_run(trained['cyclegan_printed2handwritten'], num_samples=40)
  assert set(unpaired['values']) == {'eval/translation_fd', 'eval/source_fd',
                                     'eval/class_preserved'}
  assert unpaired['values']['eval/source_fd'] > 0
  with pytest.raises(ValueError, match='measures translations|measures generated samples'):
    runs.evaluate_run(trained['pix2pix_edges2digits'], metrics=['fid'])


def test_start_up_errors():
  config = load_experiment('pix2pix_edges2digits')
  config.data.name = 'printed2handwritten'
  with pytest.raises(ValueError, match='trains on pairs'):
    configs.validate(config, 1)
  config = load_experiment('cyclegan_printed2handwritten')
  config.data.name = 'digits'
  with pytest.raises(ValueError, match='two image domains'):
    configs.validate(config, 1)
  config = load_experiment('pix2pix_edges2digits')
  config.loss.name = 'hinge'
  with pytest.raises(ValueError, match='vanilla'):
    configs.validate(config, 1)
  config = load_experiment('pix2pix_edges2digits')
  config.train.d_steps = 2
  with pytest.raises(ValueError, match='d_steps=1'):
    configs.validate(config, 1)
  config = load_experiment('pix2pix_edges2digits')
  config.data.load_size = 16
  with pytest.raises(ValueError, match='load_size'):
    configs.validate(config, 1)
