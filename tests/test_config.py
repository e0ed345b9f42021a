"""Experiment files, registries and start-up errors (all before any data or compilation)."""

import time

import numpy as np
import pytest

from conftest import EXPERIMENTS, load_experiment, write_aligned_folder, write_image_folder
from gan_jax import configs, train

EXPERIMENT_NAMES = sorted(p.stem for p in EXPERIMENTS.glob('*.py'))
COMMON_KEYS = ['seed', 'data.name', 'model.name', 'loss.name', 'train.steps', 'train.batch_size',
               'train.d_steps', 'train.g_steps', 'optim.g_lr', 'optim.d_lr', 'optim.b1', 'optim.b2',
               'train.ema_decay', 'train.log_every', 'train.sample_every',
               'train.checkpoint_every', 'train.keep_checkpoints', 'train.dtype']


def _get(config, dotted):
  for part in dotted.split('.'):
    config = config[part]
  return config


@pytest.mark.parametrize('name', EXPERIMENT_NAMES)
@pytest.mark.parametrize('arg', [None, 'smoke'])
def test_every_experiment_has_the_common_keys_and_validates(name, arg, tmp_path):
  config = load_experiment(name, arg)
  if config.data.name == 'aligned':  # its folder, generated
    config.data.path = write_aligned_folder(tmp_path, num=1)
  if config.data.name == 'folder' and not config.data.get('path'):
    config.data.path = write_image_folder(tmp_path / 'images', num=1)
  if config.data.get('embedding_dim'):  # one description row for the one image
    shape = (1, config.data.embeddings_per_image, config.data.embedding_dim)
    np.save(tmp_path / 'embeddings.npy', np.zeros(shape, np.float32))
    config.data.embeddings = str(tmp_path / 'embeddings.npy')
  for key in COMMON_KEYS:
    assert _get(config, key) is not None, key
  assert config.train.dtype in configs.DTYPES
  assert config.train.batch_size % 8 == 0 or arg is None
  if config.data.name != 'celeb_a':
    configs.validate(config, num_devices=8 if arg == 'smoke' else 1)


@pytest.mark.parametrize('name', EXPERIMENT_NAMES)
def test_every_experiment_documents_its_command(name):
  text = (EXPERIMENTS / f'{name}.py').read_text()
  assert f'--config=experiments/{name}.py' in text


def test_smoke_variant_is_small():
  for name in EXPERIMENT_NAMES:
    full, smoke = load_experiment(name, None), load_experiment(name, 'smoke')
    assert smoke.train.steps <= 10 < full.train.steps


def test_unknown_config_argument():
  with pytest.raises(ValueError, match='smoke'):
    load_experiment('dcgan_digits', 'tiny')


@pytest.mark.parametrize('key,value,expected', [
    ('data.name', 'imagenet', r"unknown data.name 'imagenet'.*'digits'"),
    ('model.name', 'vit', r"unknown model.name 'vit'.*'dcgan', 'mlp', 'resnet', 'stackgan', 'stylegan2', 'translation'"),
    ('loss.name', 'vanilla', r"unknown loss.name 'vanilla'.*'hinge'"),
    ('optim.name', 'lamb', r"unknown optim.name 'lamb'.*'adam'"),
    ('train.dtype', 'float16', r"unknown train.dtype 'float16'.*'bfloat16'"),
    ('train.updates', 'gradient', r"unknown train.updates 'gradient'.*'simultaneous'"),
    ('model.pack_norm', 'group', r"unknown model.pack_norm 'group'.*'batch', 'slot'"),
])
def test_unknown_names_fail_listing_choices(key, value, expected, tmp_path):
  config = load_experiment('dcgan_digits')
  section, field = key.split('.')
  config[section][field] = value
  with pytest.raises(ValueError, match=expected):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run' / 'checkpoints').exists()


@pytest.mark.parametrize('field', ['d_steps', 'g_steps'])
def test_zero_updates_per_step_fail_before_compiling(field, tmp_path):
  config = load_experiment('gan_ring')
  config.train[field] = 0
  with pytest.raises(ValueError, match=rf'train.{field} must be at least 1, got 0'):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run' / 'checkpoints').exists()


def test_batch_not_divisible_by_devices_fails_before_compiling(tmp_path):
  config = load_experiment('dcgan_digits')
  config.train.batch_size = 12  # 8 devices in tests
  start = time.time()
  with pytest.raises(ValueError, match=r'batch_size=12 is not divisible by the 8 devices.*8 or 16'):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert time.time() - start < 5.0
  assert not (tmp_path / 'run').exists()


def test_impossible_image_size_fails_at_start(tmp_path):
  config = load_experiment('dcgan_digits')
  config.data.image_size = 48
  with pytest.raises(ValueError, match='32, 64, 128'):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
