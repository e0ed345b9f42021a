"""Every experiment's smoke config trains a few steps on 8 devices (TFDS datasets under
`tfds.testing.mock_data`, folders generated) and writes its checkpoints, samples and metrics;
points experiments also sample to a plot and a .npy."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from conftest import EXPERIMENTS, load_experiment, write_aligned_folder, write_image_folder
from gan_jax import checkpointing, sample, train, writers
from gan_jax import data as data_lib
from gan_jax.data import tfds_source

NAMES = sorted(p.stem for p in EXPERIMENTS.glob('*.py'))


@pytest.mark.parametrize('name', NAMES)
def test_smoke_config_trains_and_writes_its_outputs(name, tmp_path, monkeypatch):
  config = load_experiment(name)
  if config.data.name == 'aligned':  # generated images in Pix2Pix's aligned format
    config.data.path = write_aligned_folder(tmp_path / 'data')
  if config.data.name == 'folder' and not config.data.get('path'):  # random images
    config.data.path = write_image_folder(tmp_path / 'images', channels=config.data.channels)
  if config.data.name in data_lib.EMBEDDED or config.data.get('path'):
    state = train.train_and_evaluate(config, str(tmp_path))
  else:  # a TFDS dataset: generated examples in place of the download
    import tensorflow_datasets as tfds
    monkeypatch.setattr(tfds_source, 'cannot_prepare', lambda builder: None)
    with tfds.testing.mock_data(num_examples=40):
      state = train.train_and_evaluate(config, str(tmp_path))
  steps = config.train.steps
  assert int(state.step) == steps

  records = writers.read_jsonl(str(tmp_path / 'metrics.jsonl'))
  evals = [r for r in records if 'd_loss' not in r]
  records = [r for r in records if 'd_loss' in r]
  assert [r['step'] for r in records] == list(range(config.train.log_every, steps + 1,
                                                    config.train.log_every))
  if config.evals.metrics and config.evals.every:  # evaluated at the end at least
    assert evals and evals[-1]['step'] == steps
    assert all(k.startswith('eval/') for k in evals[-1] if k != 'step')
  else:
    assert not evals
  for r in records:
    assert np.isfinite(r['d_loss']) and np.isfinite(r['g_loss'])
    assert r['d_grad_norm'] > 0 and r['g_grad_norm'] > 0

  ckpt = checkpointing.Checkpointer(str(tmp_path), read_only=True)
  assert ckpt.all_steps()[-1] == steps
  ckpt.close()
  assert json.loads((tmp_path / 'config.json').read_text())['data']['name'] == config.data.name

  picture = np.asarray(Image.open(tmp_path / 'samples' / f'step_{steps}.png'))
  assert picture.ndim == 3 and picture.shape[-1] in (3, 4) and picture.std() > 0  # RGB(A)
  assert (tmp_path / 'losses.png').exists()

  if config.model.name == 'mlp' and config.data.name in ('gaussian_1d', 'ring', 'grid'):
    out, points, _ = sample.draw(str(tmp_path), num=100)
    dim = 1 if config.data.name == 'gaussian_1d' else 2
    assert points.shape == (100, dim)
    saved = np.load(os.path.splitext(out)[0] + '.npy')
    np.testing.assert_array_equal(saved, points)
