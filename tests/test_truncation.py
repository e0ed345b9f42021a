"""The truncation trick (BigGAN, Brock et al. 2019): latents resampled entry by entry into
[-t, t], checked by hand; the sample command's --truncation on small trained runs; the evaluate
command's sweep over thresholds with a stand-in classifier; and the refusal of a family without
a latent, through the check the commands run before reading a checkpoint."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import REPO, StandInClassifier, load_experiment
from gan_jax import runs, sample, train, truncation
from gan_jax.evaluators import evaluator as evaluator_lib


def _first_inside(key, shape, threshold, rounds=400):
  """By hand: each entry is the first of its draws (the normal of `key`, then one fresh normal
  per round) that lies in [-t, t]."""
  z = np.asarray(jax.random.normal(key, shape))
  done = np.abs(z) <= threshold
  redraws = jax.random.fold_in(key, truncation._RESAMPLE)
  for r in range(rounds):
    if done.all():
      break
    fresh = np.asarray(jax.random.normal(jax.random.fold_in(redraws, r), shape))
    z = np.where(done, z, fresh)
    done = np.abs(z) <= threshold
  assert done.all()
  return z


def test_entries_beyond_the_threshold_are_resampled_and_the_others_kept():
  key = jax.random.PRNGKey(7)
  shape = (300, 16)
  plain = np.asarray(jax.random.normal(key, shape))
  for t in (0.25, 0.5, 1.0, 2.0):
    z = np.asarray(truncation.truncate_latents(key, shape, t))
    assert z.shape == shape and np.abs(z).max() <= t
    inside = np.abs(plain) <= t
    assert 0 < inside.sum() < inside.size
    np.testing.assert_array_equal(z[inside], plain[inside])      # kept, bit for bit
    assert np.all(z[~inside] != plain[~inside])                   # only these replaced
    np.testing.assert_array_equal(z, _first_inside(key, shape, t))
    # Redrawn, not clipped: no mass piles up at +-t.
    assert np.mean(np.isclose(np.abs(z[~inside]), t)) < 0.01
  # A threshold no entry exceeds changes nothing.
  np.testing.assert_array_equal(truncation.truncate_latents(key, shape, 10.0), plain)
  np.testing.assert_array_equal(truncation.truncate_latents(key, shape, None), plain)


def test_truncated_entries_follow_the_truncated_normal():
  # Var of N(0, 1) truncated to [-t, t]: 1 - 2 t phi(t) / (2 Phi(t) - 1); at t = 1, 0.2912.
  # Clipping instead of resampling would give 0.3994; no truncation 1.
  from math import erf, exp, pi, sqrt
  t = 1.0
  expected = 1 - 2 * t * exp(-t * t / 2) / sqrt(2 * pi) / erf(t / sqrt(2))
  z = np.asarray(truncation.truncate_latents(jax.random.PRNGKey(0), (4000, 16), t))
  assert abs(z.mean()) < 0.01
  assert z.var() == pytest.approx(expected, abs=0.01)


def test_family_latents_truncate_the_same_latents_deterministically():
  _, family = train.build(load_experiment('dcgan_digits'))
  assert family.has_latent
  # No truncation: the latents as they always were (the fixed grids and the tests rely on it).
  key = jax.random.fold_in(jax.random.PRNGKey(3), 0x5A3F)
  plain = np.asarray(family.latents(3, 50))
  np.testing.assert_array_equal(plain, jax.random.normal(key, (50, family.game.z_dim)))
  np.testing.assert_array_equal(family.latents(3, 50, None), plain)
  z = np.asarray(family.latents(3, 50, 0.5))
  assert np.abs(z).max() <= 0.5
  inside = np.abs(plain) <= 0.5
  np.testing.assert_array_equal(z[inside], plain[inside])
  np.testing.assert_array_equal(family.latents(3, 50, 0.5), z)   # deterministic in the seed
  assert np.all(np.asarray(family.latents(4, 50, 0.5)) != z)
  for bad in (0, 0.0, -1.0, float('nan'), float('inf'), 'x'):
    with pytest.raises(ValueError, match='truncation'):
      family.latents(3, 50, bad)


class _NoLatent:
  """A stand-in family whose generator takes no latent."""
  has_latent = False
  conditional = False


def test_a_family_without_a_latent_refuses_truncation():
  with pytest.raises(ValueError, match='has no latent: truncation applies to latent-variable'):
    truncation.check(_NoLatent(), 0.5)
  with pytest.raises(ValueError, match='has no latent'):
    truncation.check(_NoLatent())        # a sweep: no threshold, still refused
  with pytest.raises(ValueError, match='positive'):
    truncation.check(train.build(load_experiment('dcgan_digits'))[1], -0.5)
  truncation.check(train.build(load_experiment('dcgan_digits'))[1], 0.5)  # passes


# ---- The commands, on small trained runs ----

@pytest.fixture(scope='module')
def conditional_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('cdcgan')
  train.train_and_evaluate(load_experiment('cdcgan_digits'), str(workdir))
  return workdir


@pytest.fixture(scope='module')
def ring_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('ring')
  config = load_experiment('gan_ring')
  config.train.steps = 2
  config.evals.every = 0
  train.train_and_evaluate(config, str(workdir))
  return workdir


@pytest.fixture(scope='module')
def restored(conditional_run):
  """(family, EMA generator on the host) of the conditional run's checkpoint."""
  _, _, family, state = runs.restore(str(conditional_run))
  return family, jax.device_get(state.ema['g'])


def _no_restore(monkeypatch):
  def restore(*args, **kwargs):
    raise AssertionError('the checkpoint was read before the check')
  monkeypatch.setattr(runs, 'restore', restore)


def test_sample_truncation_reaches_the_generator(conditional_run, restored, ring_run, tmp_path):
  family, ema = restored
  out = str(tmp_path / 'cut.npy')
  path, samples, labels = sample.draw(str(conditional_run), labels=[3, 7], num=4, out=out,
                                      truncation=0.5)
  np.testing.assert_array_equal(labels, [3] * 4 + [7] * 4)
  np.testing.assert_array_equal(np.load(out), samples)
  z = family.latents(0, 8, 0.5)
  assert np.abs(np.asarray(z)).max() <= 0.5
  np.testing.assert_allclose(samples, family.generate(ema, z, labels), atol=1e-6)
  expected, _ = family.sample(ema, seed=0, num=8, labels=labels, truncation=0.5)
  np.testing.assert_allclose(samples, expected, atol=1e-6)
  _, plain, _ = sample.draw(str(conditional_run), labels=[3, 7], num=4,
                            out=str(tmp_path / 'plain.npy'))
  assert np.abs(plain - samples).max() > 1e-4
  # An unconditional run: the plain path; the default picture is named by its threshold.
  _, _, ring, ring_state = runs.restore(str(ring_run))
  path, points, _ = sample.draw(str(ring_run), num=100, truncation=0.25)
  assert path.endswith(os.path.join('samples', 'sample_2_truncation_0.25.png'))
  assert os.path.exists(path) and points.shape == (100, 2)
  np.testing.assert_allclose(
      points, ring.sample(jax.device_get(ring_state.ema['g']), seed=0, num=100,
                          truncation=0.25)[0], atol=1e-6)
  _, ring_plain, _ = sample.draw(str(ring_run), num=100, out=str(tmp_path / 'ring.npy'))
  assert np.abs(ring_plain - points).max() > 1e-4


def test_invalid_truncation_fails_before_the_checkpoint_is_read(conditional_run, monkeypatch):
  _no_restore(monkeypatch)
  for bad in (0, -0.5, float('nan')):
    with pytest.raises(ValueError, match='truncation threshold must be a positive'):
      sample.draw(str(conditional_run), truncation=bad)
  with pytest.raises(ValueError, match='does not apply to --interpolate'):
    sample.draw(str(conditional_run), truncation=0.5, interpolate=True)
  with pytest.raises(ValueError, match='positive'):
    runs.evaluate_run(str(conditional_run), truncation=-1.0)
  # A family without a latent, as built from the config: refused by both commands.
  monkeypatch.setattr(train, 'build', lambda config: (None, _NoLatent()))
  with pytest.raises(ValueError, match='--truncation: .*has no latent'):
    sample.draw(str(conditional_run), truncation=0.5)
  with pytest.raises(ValueError, match='--truncation_sweep: .*has no latent'):
    runs.evaluate_run(str(conditional_run), sweep=True)


def test_sample_command_line_takes_truncation(conditional_run, restored, tmp_path):
  env = dict(os.environ, XLA_FLAGS='')
  out = tmp_path / 'cli.npy'
  result = subprocess.run([sys.executable, '-m', 'gan_jax.sample',
                           f'--workdir={conditional_run}', '--labels=5', '--num=3',
                           '--truncation=0.75', f'--out={out}'], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  family, ema = restored
  expected, _ = family.sample(ema, seed=0, num=3, labels=[5, 5, 5], truncation=0.75)
  np.testing.assert_allclose(np.load(out), expected, atol=1e-5)
  result = subprocess.run([sys.executable, '-m', 'gan_jax.evaluate',
                           f'--workdir={conditional_run}', '--truncation=0'], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode != 0
  assert 'truncation threshold must be a positive' in result.stderr


def test_truncation_sweep_writes_the_table_and_the_curve(conditional_run, restored,
                                                         monkeypatch):
  monkeypatch.setattr(evaluator_lib, '_classifier', lambda name, directory: StandInClassifier())
  path, result = runs.evaluate_run(str(conditional_run), num_samples=200, num_real=500,
                                   sweep=True)
  assert path == str(conditional_run / 'eval_4.json')
  saved = json.loads((conditional_run / 'eval_4.json').read_text())
  rows = saved['truncation_sweep']
  assert [r['truncation'] for r in rows] == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, None]
  for r in rows:
    assert set(r) == {'truncation', 'domain_fd', 'class_accuracy', 'intra_fd'}
    assert all(np.isfinite(v) for k, v in r.items() if k != 'truncation')
  # The untruncated row is the evaluation itself; the thresholds change the samples.
  assert rows[-1] == {'truncation': None, **{k.removeprefix('eval/'): v
                                             for k, v in saved['values'].items()}}
  assert len({r['domain_fd'] for r in rows}) == len(rows)
  # Each row is the evaluator's numbers at its threshold.
  config = runs.load_config(str(conditional_run))
  config.evals.metrics = ('domain_fd', 'class_accuracy', 'intra_fd')
  config.evals.num_samples, config.evals.num_real = 200, 500
  family, ema = restored
  again = evaluator_lib.Evaluator(config, family)(ema, seed=0, truncation=0.5)
  assert again['eval/domain_fd'] == pytest.approx(rows[1]['domain_fd'], rel=1e-6)
  assert again['eval/class_accuracy'] == rows[1]['class_accuracy']
  plot = conditional_run / 'truncation_4.png'
  assert saved['truncation_plot'] == str(plot)
  with open(plot, 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  from PIL import Image
  with Image.open(plot) as im:
    im.verify()
  # The trade-off's axes: class accuracy against the domain FD.
  from gan_jax import plots
  assert plots.truncation_axes(rows) == ('class_accuracy', 'domain_fd')
  assert plots.truncation_axes([{'truncation': 0.5, 'modes': 8.0}]) == ('truncation', 'modes')
