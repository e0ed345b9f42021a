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
    config.data.path = str(tmp_path / 'images')
    for group in (('a', 'b') if config.data.get('labels') else ('',)):  # classes: subfolders
      write_image_folder(tmp_path / 'images' / group, channels=config.data.channels)
  if config.data.get('embedding_dim'):  # described images: generated embeddings, one row each
    num = len(data_lib.sources.list_images(config.data.path, config.data.labels)[0])
    shape = (num, config.data.embeddings_per_image, config.data.embedding_dim)
    np.save(tmp_path / 'embeddings.npy', np.random.default_rng(0).normal(size=shape))
    config.data.embeddings = str(tmp_path / 'embeddings.npy')
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
  # Training records hold losses (a phased family's logs name its phase's players' or stages'
  # own, e.g. 'stage2/d_loss' or Age-cGAN's encoder's 'e_loss'); evaluation records do not.
  is_training = lambda r: any(k.endswith('_loss') for k in r)
  evals = [r for r in records if not is_training(r)]
  records = [r for r in records if is_training(r)]
  assert [r['step'] for r in records] == list(range(config.train.log_every, steps + 1,
                                                    config.train.log_every))
  if config.evals.metrics and config.evals.every:  # evaluated at the end at least
    assert evals and evals[-1]['step'] == steps
    assert all(k.startswith('eval/') for k in evals[-1] if k != 'step')
  else:
    assert not evals
  for r in records:
    losses = [k for k in r if k.endswith('_loss')]
    assert all(np.isfinite(r[k]) for k in losses)
    norms = [k for k in r if k.endswith('_grad_norm')]
    assert norms and all(r[k] > 0 for k in norms)
    if not getattr(train.build(config)[1], 'step_phases', None):  # one program: both players
      assert {'d_loss', 'g_loss'} <= set(losses)

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
