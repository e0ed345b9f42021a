"""Evaluation wiring: metrics logged during training on the EMA generator, the best checkpoint
kept apart, the evaluate command on a smoke run, the start-up checks, and the classifier-based
metrics with a stand-in classifier."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, StandInClassifier, load_experiment
from gan_jax import configs, runs, train, writers
from gan_jax.evaluators import evaluator as evaluator_lib
from gan_jax.evaluators import registry


def _ring(steps=6):
  config = load_experiment('gan_ring')
  config.train.steps = steps
  config.train.log_every = 2
  config.train.checkpoint_every = 2
  config.evals.every = 2
  config.evals.num_samples = 500
  config.evals.best_metric = 'reverse_kl'
  return config


def test_training_logs_evaluations_and_keeps_the_best_checkpoint(tmp_path):
  train.train_and_evaluate(_ring(), str(tmp_path))
  records = writers.read_jsonl(str(tmp_path / 'metrics.jsonl'))
  evals = [r for r in records if 'eval/modes' in r]
  assert [r['step'] for r in evals] == [2, 4, 6]
  for r in evals:
    assert 0 <= r['eval/modes'] <= 8 and 0 <= r['eval/high_quality'] <= 100
  # Defined even when no sample is near a mode (log 8 then): every evaluation can be the best.
  assert all(0 <= r['eval/reverse_kl'] <= np.log(8) + 1e-9 for r in evals)
  expected = min(evals, key=lambda r: r['eval/reverse_kl'])
  assert json.loads((tmp_path / 'best.json').read_text()) == {
      'metric': 'reverse_kl', 'value': expected['eval/reverse_kl'], 'step': expected['step']}
  assert os.listdir(tmp_path / 'checkpoints_best') == [str(expected['step'])]


def test_best_checkpoint_follows_the_metric_direction(tmp_path, monkeypatch):
  values = iter([0.5, 0.2, 0.4])  # reverse KL at steps 2, 4, 6: lower is better

  def fake_call(self, ema, *, seed=0):
    return {'eval/modes': 8.0, 'eval/high_quality': 90.0, 'eval/reverse_kl': next(values)}

  monkeypatch.setattr(evaluator_lib.Evaluator, '__call__', fake_call)
  train.train_and_evaluate(_ring(), str(tmp_path))
  assert json.loads((tmp_path / 'best.json').read_text()) == {
      'metric': 'reverse_kl', 'value': 0.2, 'step': 4}
  assert os.listdir(tmp_path / 'checkpoints_best') == ['4']
  # Resumed with more steps: the best so far is remembered, and a worse value does not replace it.
  values = iter([0.3])
  config = _ring(steps=8)
  train.train_and_evaluate(config, str(tmp_path))
  assert json.loads((tmp_path / 'best.json').read_text())['step'] == 4
  assert registry.lower_is_better('reverse_kl') and not registry.lower_is_better('recall')


def test_evaluate_command_on_a_smoke_run(tmp_path):
  config = load_experiment('gan_grid')
  train.train_and_evaluate(config, str(tmp_path))
  env = dict(os.environ, XLA_FLAGS='')
  result = subprocess.run([sys.executable, '-m', 'gan_jax.evaluate', f'--workdir={tmp_path}',
                           '--seed=3'], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads((tmp_path / 'eval_4.json').read_text())
  assert report['metrics'] == ['modes'] and report['num_samples'] == 2500
  assert report['step'] == 4 and report['seed'] == 3
  assert set(report['values']) == {'eval/modes', 'eval/high_quality', 'eval/reverse_kl'}
  assert f"eval/modes {report['values']['eval/modes']:.6g}" in result.stdout
  # The same numbers in-process: the command adds nothing of its own.
  _, again = runs.evaluate_run(str(tmp_path), seed=3)
  assert again['values'] == report['values']


def test_evaluation_config_errors_are_clear():
  config = load_experiment('dcgan_digits')
  config.evals.metrics = ('fidd',)
  with pytest.raises(ValueError, match="unknown evals.metrics entry 'fidd'"):
    configs.validate(config, 8)
  config.evals.metrics = ('modes',)
  with pytest.raises(ValueError, match="'modes' needs a Gaussian-mixture dataset"):
    configs.validate(config, 8)
  config = load_experiment('gan_ring')
  config.evals.best_metric = 'fid'
  with pytest.raises(ValueError, match="best_metric='fid' is not among"):
    configs.validate(config, 8)
  config.evals.best_metric = ''
  config.evals.metrics = ('fid',)
  with pytest.raises(ValueError, match='needs image data'):
    configs.validate(config, 8)


def _initial_state(config):
  import jax
  from gan_jax import parallel
  _, family = train.build(config)
  _, init = train.abstract_state(family, parallel.make_mesh(jax.devices()[:1]))
  return jax.device_get(init(jax.random.PRNGKey(0))), family


def test_classifier_metrics_on_stacked_and_plain_digits(monkeypatch):
  monkeypatch.setattr(evaluator_lib, '_classifier', lambda name, directory: StandInClassifier())
  config = load_experiment('dcgan_stacked_digits')
  config.evals.metrics = ('stacked_modes', 'domain_fd')
  config.evals.num_samples = 200
  config.evals.num_real = 200
  state, family = _initial_state(config)
  evaluator = evaluator_lib.Evaluator(config, family)
  values = evaluator(state.ema['g'], seed=0)
  fake, labels = evaluator.samples(state.ema['g'], 200, 0)
  assert labels is None  # unconditional
  stand_in = StandInClassifier()
  triples = np.stack([stand_in.predict(fake[..., c:c + 1]) for c in range(3)], axis=1)
  assert values['eval/stacked_modes'] == len({tuple(t) for t in triples})
  real, _ = evaluator_lib.real_examples(config, 200)
  from gan_jax.evaluators import metrics
  assert values['eval/domain_fd'] == pytest.approx(
      metrics.frechet_distance(stand_in.features(real), stand_in.features(fake)))
  # An untrained generator is far from the data.
  assert values['eval/domain_fd'] > 0.01


def test_a_missing_classifier_fails_before_training(tmp_path):
  config = load_experiment('dcgan_stacked_digits')
  config.evals.metrics = ('stacked_modes',)
  config.evals.every = 2
  config.evals.classifier_dir = str(tmp_path / 'no_classifiers')
  with pytest.raises(FileNotFoundError, match='python -m gan_jax.classifier --dataset=digits'):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run' / 'checkpoints').exists() or not os.listdir(
      tmp_path / 'run' / 'checkpoints')
