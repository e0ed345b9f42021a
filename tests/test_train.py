"""The training loop end to end: exact resume, a different device count, SIGTERM, the NaN stop,
the files a run writes, and the sample command on such a run."""

import json
import logging
import os
import signal
import subprocess
import sys
import time

from absl import logging as absl_logging
import jax
import numpy as np
import pytest
from PIL import Image

from conftest import REPO, load_experiment
from gan_jax import checkpointing, runs, sample, train, writers
from gan_jax.data import pipeline
from gan_jax.models import layers


def _leaves(tree):
  return {jax.tree_util.keystr(path): np.asarray(leaf)
          for path, leaf in jax.tree_util.tree_leaves_with_path(jax.device_get(tree))}


def _assert_same_tree(a, b):
  leaves_a, leaves_b = _leaves(a), _leaves(b)
  assert leaves_a.keys() == leaves_b.keys()
  for key in leaves_a:
    np.testing.assert_array_equal(leaves_a[key], leaves_b[key], err_msg=key)


def _ring_config(steps):
  config = load_experiment('gan_ring')
  config.train.steps = steps
  config.train.batch_size = 16
  config.train.log_every = 2
  config.train.sample_every = 100
  config.train.checkpoint_every = 100
  return config


def test_resume_is_exact(tmp_path):
  n = 3
  whole = train.train_and_evaluate(_ring_config(2 * n), str(tmp_path / 'whole'))
  first = train.train_and_evaluate(_ring_config(n), str(tmp_path / 'split'))
  assert int(first.step) == n
  resumed = train.train_and_evaluate(_ring_config(2 * n), str(tmp_path / 'split'))
  assert int(resumed.step) == int(whole.step) == 2 * n
  _assert_same_tree(whole, resumed)
  # The data stream resumed too: the checkpoints record the same position.
  ckpt = checkpointing.Checkpointer(str(tmp_path / 'split'), read_only=True)
  template = jax.tree.map(np.asarray, jax.device_get(whole))
  _, data_state, _ = ckpt.restore(template)
  ckpt.close()
  assert data_state['next_batch'] == 2 * n * 1  # d_steps = 1


def test_dcgan_resume_is_exact_and_restores_on_another_device_count(tmp_path):
  config = load_experiment('dcgan_digits')  # smoke: 4 steps, checkpoints at 2 and 4
  whole = train.train_and_evaluate(config, str(tmp_path / 'whole'))
  config.train.steps = 2
  train.train_and_evaluate(config, str(tmp_path / 'split'), devices=jax.devices()[:8])
  config.train.steps = 4
  # Written on 8 devices, resumed on 2: the same global batch gives the same result.
  resumed = train.train_and_evaluate(config, str(tmp_path / 'split'), devices=jax.devices()[:2])
  assert int(resumed.step) == 4
  for a, b in zip(jax.tree.leaves(jax.device_get(whole.players['g'].params)),
                  jax.tree.leaves(jax.device_get(resumed.players['g'].params))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _whole_and_resumed(config, tmp_path):
  """A smoke config's 4 steps in one go, and as 2 then resumed to 4: (whole, resumed)."""
  whole = train.train_and_evaluate(config, str(tmp_path / 'whole'))
  config.train.steps = 2
  train.train_and_evaluate(config, str(tmp_path / 'split'))
  config.train.steps = 4
  return whole, train.train_and_evaluate(config, str(tmp_path / 'split'))


def test_conditional_resume_is_exact(tmp_path):
  # Labels in the batches and in G's and D's inputs: a resumed run sees the same ones.
  config = load_experiment('cdcgan_digits')
  config.model.conditioning = 'acgan'
  _assert_same_tree(*_whole_and_resumed(config, tmp_path))


def test_biggan_resume_is_exact(tmp_path):
  # Spectral-norm vectors, DiffAugment's draws and the EMA's standing statistics: a resumed run
  # continues exactly.
  whole, resumed = _whole_and_resumed(load_experiment('biggan_digits'), tmp_path)
  _assert_same_tree(whole, resumed)
  assert any(layers.SPECTRAL_VECTOR in jax.tree_util.keystr(p)
             for p, _ in jax.tree_util.tree_leaves_with_path(resumed.players['d'].batch_stats))


def test_finished_run_says_so_and_does_not_train(tmp_path, caplog, monkeypatch):
  config = _ring_config(2)
  state = train.train_and_evaluate(config, str(tmp_path))
  mtime = os.path.getmtime(tmp_path / 'metrics.jsonl')
  absl_logging.set_verbosity(absl_logging.INFO)

  def no_data(*args, **kwargs):
    raise AssertionError('a finished run opened its dataset')
  from gan_jax import data as data_lib
  from gan_jax.evaluators import evaluator
  monkeypatch.setattr(data_lib, 'open_source', no_data)
  monkeypatch.setattr(evaluator, 'Evaluator', no_data)
  config.evals.update(metrics=('modes',), every=1)  # a finished run evaluates nothing
  with caplog.at_level(logging.INFO):
    again = train.train_and_evaluate(config, str(tmp_path))
  _assert_same_tree(state, again)
  assert os.path.getmtime(tmp_path / 'metrics.jsonl') == mtime
  assert any('already finished' in r.getMessage() for r in caplog.records)


def test_nan_loss_stops_naming_the_step_and_keeps_good_checkpoints(tmp_path, monkeypatch):
  config = _ring_config(10)
  config.train.checkpoint_every = 2
  config.train.log_every = 5
  real_next = pipeline.Batches.next

  def poisoned_next(self, num_batches=1):
    batch = real_next(self, num_batches)
    if self.next_batch > 3:  # the 4th batch onwards holds NaN
      batch = {**batch, 'points': batch['points'] * np.nan}
    return batch

  monkeypatch.setattr(pipeline.Batches, 'next', poisoned_next)
  with pytest.raises(train.NonFiniteLossError, match=r'non-finite loss at step 4.*step 2'):
    train.train_and_evaluate(config, str(tmp_path))
  ckpt = checkpointing.Checkpointer(str(tmp_path), read_only=True)
  assert ckpt.all_steps() == [2]
  _, family = train.build(config)
  template, _ = train.abstract_state(family, train.parallel.make_mesh())
  state, _, _ = ckpt.restore(template)
  ckpt.close()
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(jax.device_get(state)))


def _save_legacy_checkpoint(config, workdir, step=2):
  """A checkpoint in the layout before families: GANState(step, g, d, ema_params, rng)."""
  import flax
  from typing import Any
  from gan_jax import parallel

  @flax.struct.dataclass
  class OldState:
    step: Any
    g: Any
    d: Any
    ema_params: Any
    rng: Any

  _, family = train.build(config)
  _, init = train.abstract_state(family, parallel.make_mesh(jax.devices()[:1]))
  new = jax.device_get(init(jax.random.PRNGKey(0)))
  ema = jax.tree.map(lambda x: x + 0.01, new.players['g'].params)
  old = OldState(step=np.int32(step), g=new.players['g'], d=new.players['d'], ema_params=ema,
                 rng=new.rng)
  ckpt = checkpointing.Checkpointer(str(workdir))
  ckpt.save(step, old, {'next_batch': step, 'seed': config.seed,
                        'global_batch': config.train.batch_size, 'num_examples': 1797})
  ckpt.close()
  saved = config.to_dict()
  for section, field in (('train', 'ema_stats'), ('optim', 'schedule'), ('loss', 'r2_gamma')):
    del saved[section][field]   # fields this version added
  del saved['family']
  (workdir / 'config.json').write_text(json.dumps(saved))
  return ema


def test_a_checkpoint_from_before_families_still_samples_and_resumes(tmp_path, caplog):
  config = load_experiment('dcgan_digits')
  ema = _save_legacy_checkpoint(config, tmp_path)
  absl_logging.set_verbosity(absl_logging.INFO)
  with caplog.at_level(logging.WARNING):
    _, _, _, state = runs.restore(str(tmp_path))
  assert any('predates families' in r.getMessage() for r in caplog.records)
  assert int(state.step) == 2
  _assert_same_tree(state.ema['g'].params, ema)
  _, samples, _ = sample.draw(str(tmp_path), num=4)
  assert samples.shape == (4, 32, 32, 1) and np.isfinite(samples).all()
  # Training resumes from it into the new layout.
  resumed = train.train_and_evaluate(config, str(tmp_path))
  assert int(resumed.step) == 4 and set(resumed.players) == {'g', 'd'}


def _run_main(args, **kwargs):
  env = dict(os.environ, PYTHONUNBUFFERED='1',
             XLA_FLAGS='--xla_force_host_platform_device_count=2')
  return subprocess.Popen([sys.executable, '-m', 'gan_jax.main', *args], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def test_sigterm_saves_a_checkpoint_and_resume_continues(tmp_path):
  workdir = tmp_path / 'run'
  proc = _run_main(['--config=experiments/gan_ring.py:smoke', f'--workdir={workdir}',
                    '--config.train.steps=100000', '--config.train.log_every=5',
                    '--config.train.checkpoint_every=100000',
                    '--config.train.sample_every=100000'])
  metrics = workdir / 'metrics.jsonl'
  deadline = time.time() + 120
  while time.time() < deadline and not (metrics.exists() and metrics.read_text().count('\n') >= 2):
    assert proc.poll() is None, proc.stdout.read()
    time.sleep(0.2)
  proc.send_signal(signal.SIGTERM)
  output, _ = proc.communicate(timeout=120)
  assert proc.returncode == 128 + signal.SIGTERM, output
  assert 'Stopped by SIGTERM' in output
  ckpt = checkpointing.Checkpointer(str(workdir), read_only=True)
  steps = ckpt.all_steps()
  ckpt.close()
  assert len(steps) == 1 and 10 <= steps[0] < 100000
  # Running the same command again resumes from there rather than starting over.
  proc = _run_main(['--config=experiments/gan_ring.py:smoke', f'--workdir={workdir}',
                    f'--config.train.steps={steps[0] + 2}'])
  output, _ = proc.communicate(timeout=180)
  assert proc.returncode == 0, output
  assert f'Resumed from the checkpoint of step {steps[0]}' in output


@pytest.fixture(scope='module')
def digits_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('digits')
  train.train_and_evaluate(load_experiment('dcgan_digits'), str(workdir))
  return workdir


def test_a_run_writes_metrics_samples_checkpoints_and_tensorboard(digits_run):
  config = json.loads((digits_run / 'config.json').read_text())
  assert config['train']['steps'] == 4
  records = writers.read_jsonl(str(digits_run / 'metrics.jsonl'))
  assert [r['step'] for r in records] == [2, 4]
  for r in records:
    for key in ('d_loss', 'g_loss', 'd_real_prob', 'd_fake_prob', 'd_grad_norm', 'g_grad_norm',
                'steps_per_sec', 'images_per_sec'):
      assert np.isfinite(r[key]), key
    assert 0.0 < r['d_real_prob'] < 1.0 and 0.0 < r['d_fake_prob'] < 1.0
    assert r['images_per_sec'] == pytest.approx(r['steps_per_sec'] * 16)
  grid = np.asarray(Image.open(digits_run / 'samples' / 'step_4.png'))
  # 16 samples of 32x32 in a 4x4 grid with 1-pixel borders.
  assert grid.shape == (4 * 33 + 1, 4 * 33 + 1, 3)
  assert grid[1:33, 1:33].std() > 0  # not a blank picture
  assert (digits_run / 'samples' / 'step_2.png').exists()
  assert (digits_run / 'losses.png').exists()
  assert sorted(os.listdir(digits_run / 'checkpoints')) == ['2', '4']

  from tensorboard.backend.event_processing import event_accumulator
  acc = event_accumulator.EventAccumulator(str(digits_run))
  acc.Reload()
  assert {'d_loss', 'g_loss', 'steps_per_sec'} <= set(acc.Tags()['scalars'])
  d_loss = acc.Scalars('d_loss')
  assert [e.step for e in d_loss] == [2, 4]
  assert d_loss[0].value == pytest.approx(records[0]['d_loss'], rel=1e-6)
  assert 'samples' in acc.Tags()['images']


def test_sample_command_on_a_run(digits_run, tmp_path):
  out = tmp_path / 'grid.png'
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.sample', f'--workdir={digits_run}', '--num=9',
       '--seed=3', f'--out={out}'], cwd=REPO, capture_output=True, text=True,
      env=dict(os.environ, XLA_FLAGS=''), timeout=120)
  assert result.returncode == 0, result.stderr
  grid = np.asarray(Image.open(out))
  assert grid.shape == (3 * 33 + 1, 3 * 33 + 1, 3)
  # In-process: the same seed gives the same images, another seed others.
  _, a, _ = sample.draw(str(digits_run), num=9, seed=3)
  _, b, _ = sample.draw(str(digits_run), num=9, seed=3)
  _, c, _ = sample.draw(str(digits_run), num=9, seed=4)
  np.testing.assert_array_equal(a, b)
  assert np.abs(a - c).max() > 0.05 * np.abs(a).max() > 0  # tiny outputs after 4 steps
  path, strip, _ = sample.draw(str(digits_run), num=2, interpolate=True, interpolation_steps=5)
  assert strip.shape == (10, 32, 32, 1)
  assert np.asarray(Image.open(path)).shape == (2 * 33 + 1, 5 * 33 + 1, 3)
  # The ends of each row are the generator's images of the two end latents.
  state_images = sample.draw(str(digits_run), num=4, seed=0)[1]
  np.testing.assert_allclose(strip[0], state_images[0], atol=1e-5)
  np.testing.assert_allclose(strip[4], state_images[1], atol=1e-5)


def test_sample_command_errors_clearly(tmp_path):
  with pytest.raises(FileNotFoundError, match='config.json'):
    sample.draw(str(tmp_path))
  (tmp_path / 'config.json').write_text(json.dumps(load_experiment('dcgan_digits').to_dict()))
  with pytest.raises(checkpointing.CheckpointError, match='no checkpoints'):
    sample.draw(str(tmp_path))


def test_broken_checkpoint_gives_a_clear_error(tmp_path):
  workdir = tmp_path / 'run'
  args = ['--config=experiments/gan_ring.py:smoke', f'--workdir={workdir}',
          '--config.train.steps=2']
  output, _ = _run_main(args).communicate(timeout=180)
  state_dir = workdir / 'checkpoints' / '2' / 'state'
  damaged = [f for f in state_dir.rglob('*') if f.is_file() and 'ocdbt' in str(f)]
  assert damaged, output
  for f in damaged:
    f.write_bytes(b'garbage')
  # In a subprocess: the failed restore leaves Orbax's asyncio tasks behind.
  proc = _run_main(args[:2] + ['--config.train.steps=4'])
  output, _ = proc.communicate(timeout=180)
  assert proc.returncode != 0
  assert 'could not restore the checkpoint of step 2' in output
  assert 'fresh --workdir' in output
