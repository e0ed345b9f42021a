"""The dataset classifier: digits accuracy with the default schedule, the saved files and their
round trip, inputs of other sizes, channels and dtypes, determinism, the missing-classifier
error, and the command line (one device, a short schedule)."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import REPO
from gan_jax.evaluators import classifier
from gan_jax.evaluators import classifier_training as training


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """The default digits classifier (what `train` does, keeping the in-memory one), saved."""
  out_dir = str(tmp_path_factory.mktemp('classifiers'))
  clf = training.fit_and_evaluate('digits')
  classifier.save(clf, out_dir)
  return clf, out_dir, training.read_splits('digits')


def test_default_digits_classifier_is_accurate_and_round_trips(trained):
  clf, out_dir, (_, _, x_test, y_test) = trained
  assert clf.test_accuracy >= 0.97
  with open(os.path.join(out_dir, 'digits', 'meta.json'), encoding='utf-8') as f:
    meta = json.load(f)
  assert meta['test_accuracy'] == clf.test_accuracy
  assert {k: meta[k] for k in ('dataset', 'image_size', 'num_classes', 'train_size',
                               'test_size', 'steps', 'seed')} == {
      'dataset': 'digits', 'image_size': 32, 'num_classes': 10, 'train_size': 1347,
      'test_size': 450, 'steps': classifier.DEFAULT_STEPS['digits'], 'seed': 0}
  with np.load(os.path.join(out_dir, 'digits', 'variables.npz')) as npz:
    assert 'params/features/kernel' in npz.files
  assert not [n for n in os.listdir(os.path.join(out_dir, 'digits')) if n.endswith('.tmp')]

  loaded = classifier.load('digits', out_dir)
  assert loaded.num_classes == 10 and loaded.test_accuracy == meta['test_accuracy']
  predictions = loaded.predict(x_test)
  np.testing.assert_array_equal(predictions, clf.predict(x_test))
  features = loaded.features(x_test)
  assert features.shape == (450, 128) and np.isfinite(features).all()
  np.testing.assert_allclose(features, clf.features(x_test), rtol=1e-6, atol=1e-6)
  probabilities = loaded.probabilities(x_test)
  assert probabilities.shape == (450, 10)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
  np.testing.assert_array_equal(probabilities.argmax(axis=1), predictions)
  assert np.mean(predictions == y_test) == meta['test_accuracy']


def test_other_sizes_channels_and_dtypes(trained):
  clf, _, (_, _, x_test, y_test) = trained
  as_uint8 = np.round((x_test + 1.0) * 127.5).astype(np.uint8)
  as_float = as_uint8.astype(np.float32) / 127.5 - 1.0
  rgb = np.repeat(as_uint8, 3, axis=-1)                      # 32x32x3 uint8, channels equal
  np.testing.assert_array_equal(clf.predict(rgb), clf.predict(as_float))
  np.testing.assert_allclose(clf.features(rgb), clf.features(as_float), atol=1e-4)

  small = np.asarray(jax.image.resize(x_test, (len(x_test), 28, 28, 1), 'bilinear'))
  upsized = np.asarray(jax.image.resize(small, (len(small), 32, 32, 1), 'bilinear'))
  np.testing.assert_array_equal(clf.predict(small), clf.predict(upsized))
  np.testing.assert_array_equal(clf.predict(small[..., 0]), clf.predict(small))  # (N, H, W)
  assert np.mean(clf.predict(small) == y_test) >= 0.9

  assert clf.features(x_test[:0]).shape == (0, 128)
  with pytest.raises(ValueError, match='C 1 or 3'):
    clf.predict(np.zeros((2, 32, 32, 2), np.float32))


def test_training_is_deterministic_from_the_seed(trained):
  _, _, (x_train, y_train, _, _) = trained
  runs = [training.fit(x_train, y_train, num_classes=10, steps=3, seed=s) for s in (1, 1, 2)]
  same = jax.tree.map(np.array_equal, runs[0], runs[1])
  assert all(jax.tree.leaves(same))
  assert not np.array_equal(runs[0]['params']['logits']['kernel'],
                            runs[2]['params']['logits']['kernel'])


def test_missing_classifier_names_the_command(tmp_path):
  with pytest.raises(FileNotFoundError, match='python -m gan_jax.classifier --dataset=digits'):
    classifier.load('digits', str(tmp_path))
  with pytest.raises(ValueError, match='no classifier for dataset'):
    classifier.load('cifar10', str(tmp_path))


def _cli(*args):
  env = dict(os.environ, XLA_FLAGS='')  # one device, as a user runs it
  return subprocess.run([sys.executable, '-m', 'gan_jax.classifier', *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300, check=False)


def test_command_line_trains_saves_and_reports(tmp_path):
  result = _cli('--dataset=digits', f'--out_dir={tmp_path}', '--steps=20', '--seed=3')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'digits: test accuracy ' in result.stdout
  assert str(tmp_path / 'digits') in result.stdout
  loaded = classifier.load('digits', str(tmp_path))
  assert loaded.meta['steps'] == 20 and loaded.meta['seed'] == 3


def test_command_line_rejects_an_unknown_dataset(tmp_path):
  result = _cli('--dataset=cifar10', f'--out_dir={tmp_path}')
  assert result.returncode != 0
  assert 'digits' in result.stderr and 'fashion_mnist' in result.stderr
  assert not os.listdir(tmp_path)
