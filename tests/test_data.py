"""Datasets: image folders (mixed files, a corrupt one, labels, crops), TFDS through
`tfds.testing.mock_data`, the fast offline error, process shares over whole epochs, exact
resume with real data sources, and TensorFlow staying unimported off the TFDS path."""

import logging
import os
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest
from PIL import Image

from conftest import REPO, load_experiment
from gan_jax import configs, train
from gan_jax.data import convert
from gan_jax import data as data_lib
from gan_jax.data import pipeline, sources, tfds_source


def _save(path, array, **kwargs):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(array).save(path, **kwargs)


def _stripes(height, width):
  """RGB image: left third red, middle third green, right third blue."""
  image = np.zeros((height, width, 3), np.uint8)
  third = width // 3
  image[:, :third, 0] = 255
  image[:, third:2 * third, 1] = 255
  image[:, 2 * third:, 2] = 255
  return image


@pytest.fixture
def image_folder(tmp_path):
  """Two class folders of mixed sizes, modes and formats, one corrupt and one truncated file."""
  root = tmp_path / 'images'
  rng = np.random.default_rng(0)
  _save(str(root / 'cats' / 'a.png'), _stripes(30, 90))                     # RGB, wide
  _save(str(root / 'cats' / 'b.jpg'), rng.integers(0, 255, (50, 40), np.uint8), quality=95)
  _save(str(root / 'cats' / 'c.png'), rng.integers(0, 255, (20, 20, 4), np.uint8))  # RGBA
  (root / 'dogs').mkdir()
  palette = Image.fromarray(rng.integers(0, 255, (33, 17, 3), np.uint8)).convert('P')
  palette.save(str(root / 'dogs' / 'd.png'))
  _save(str(root / 'dogs' / 'e.JPEG'), rng.integers(0, 255, (300, 200, 3), np.uint8))
  (root / 'dogs' / 'f_corrupt.jpg').write_bytes(b'this is not an image at all')
  full = root / 'dogs' / 'b_full.jpg'
  _save(str(full), rng.integers(0, 255, (64, 64, 3), np.uint8), quality=95)
  (root / 'dogs' / 'g_truncated.jpg').write_bytes(full.read_bytes()[:200])
  (root / 'dogs' / 'notes.txt').write_text('not an image file: ignored')
  return root


def test_folder_reads_every_image_size_and_mode_and_skips_broken_files(image_folder, caplog):
  source = sources.FolderSource(str(image_folder), size=16, channels=3, labels=True)
  names = [os.path.relpath(f, image_folder) for f in source.files]
  assert names == ['cats/a.png', 'cats/b.jpg', 'cats/c.png', 'dogs/b_full.jpg', 'dogs/d.png',
                   'dogs/e.JPEG', 'dogs/f_corrupt.jpg', 'dogs/g_truncated.jpg']
  assert source.classes == ['cats', 'dogs']
  np.testing.assert_array_equal(source.labels, [0, 0, 0, 1, 1, 1, 1, 1])

  caplog.set_level(logging.WARNING)
  images, labels = source.read(np.arange(len(source)))
  assert images.shape == (8, 16, 16, 3) and images.dtype == np.uint8
  # The corrupt and the truncated file are replaced by the next readable file (wrapping round
  # to the first), deterministically, and logged with a running count.
  np.testing.assert_array_equal(images[6], images[0])
  np.testing.assert_array_equal(images[7], images[0])
  np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1, 1, 0, 0])
  assert sorted(os.path.basename(p) for p in source.skipped) == ['f_corrupt.jpg',
                                                                 'g_truncated.jpg']
  skipped_lines = [r.getMessage() for r in caplog.records if 'Skipping unreadable' in r.message]
  assert len(skipped_lines) == 2 and '2 skipped so far' in skipped_lines[-1]
  # Reading them again logs nothing new.
  source.read(np.array([6, 7]))
  assert len([r for r in caplog.records if 'Skipping unreadable' in r.message]) == 2

  gray = sources.FolderSource(str(image_folder), size=8, channels=1).read(np.arange(6))[0]
  assert gray.shape == (6, 8, 8, 1)


def test_centre_crop_keeps_the_middle_of_the_image(tmp_path):
  _save(str(tmp_path / 'wide.png'), _stripes(30, 90))  # the middle 30x30 is pure green
  _save(str(tmp_path / 'tall.png'), np.transpose(_stripes(30, 90), (1, 0, 2)))
  images, _ = sources.FolderSource(str(tmp_path), size=8, channels=3).read(np.arange(2))
  for image in images:  # tall: the middle rows of each column-stripe image, also green
    np.testing.assert_array_equal(image[..., 1], 255)
    np.testing.assert_array_equal(image[..., [0, 2]], 0)
  # A fixed crop: the centre 20x20 of a 60x60 image, inside its 40x40 white square.
  board = np.zeros((60, 60, 3), np.uint8)
  board[10:50, 10:50] = 255
  out = sources.square_image(Image.fromarray(board), 5, 3, crop=20)
  np.testing.assert_array_equal(out, 255)
  out = sources.square_image(Image.fromarray(board), 6, 1)  # the whole 60x60, grayscale
  assert out.shape == (6, 6, 1) and out[0, 0, 0] < 8 and out[3, 3, 0] == 255


def test_large_jpegs_decoded_at_reduced_scale_match_full_decoding(tmp_path):
  rng = np.random.default_rng(1)
  coarse = rng.integers(0, 255, (6, 5, 3), np.uint8)
  photo = np.asarray(Image.fromarray(coarse).resize((400, 500), Image.BICUBIC))
  _save(str(tmp_path / 'photo.jpg'), photo, quality=95)
  with Image.open(tmp_path / 'photo.jpg') as image:
    fast = sources.square_image(image, 32, 3).astype(np.float32)
    assert image.size == (50, 63)  # decoded at 1/8 scale
  with Image.open(tmp_path / 'photo.jpg') as image:
    image.load()  # decoded in full: no draft mode
    full = sources.square_image(image.copy(), 32, 3).astype(np.float32)
  assert np.abs(fast - full).mean() < 4.0  # the same picture, up to resampling...
  inner = fast[1:-1, 1:-1]
  errors = {(dy, dx): np.abs(inner - full[1 + dy:31 + dy, 1 + dx:31 + dx]).mean()
            for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
  assert min(errors, key=errors.get) == (0, 0)  # ...and the same crop, not shifted


def test_folder_errors_are_clear(tmp_path):
  (tmp_path / 'empty').mkdir()
  with pytest.raises(FileNotFoundError, match='no PNG or JPEG images found below'):
    sources.FolderSource(str(tmp_path / 'empty'), size=8, channels=3)
  with pytest.raises(FileNotFoundError, match='is not a directory'):
    sources.FolderSource(str(tmp_path / 'missing'), size=8, channels=3)
  _save(str(tmp_path / 'loose' / 'x.png'), _stripes(9, 9))
  with pytest.raises(ValueError, match='outside any subfolder.*x.png'):
    sources.FolderSource(str(tmp_path / 'loose'), size=8, channels=3, labels=True)
  broken = tmp_path / 'broken'
  broken.mkdir()
  for i in range(3):
    (broken / f'{i}.png').write_bytes(b'garbage')
  with pytest.raises(OSError, match='3 consecutive files .* could not be read as images'):
    sources.FolderSource(str(broken), size=8, channels=3).read(np.array([1]))


def test_config_checks_name_the_problem(tmp_path):
  config = load_experiment('dcgan_celeba')
  config.data.name = 'folder'
  with pytest.raises(ValueError, match="needs --config.data.path"):
    configs.validate(config, 8)
  config.data.path = str(tmp_path / 'nowhere')
  with pytest.raises(FileNotFoundError, match='is not a directory'):
    configs.validate(config, 8)
  config = load_experiment('dcgan_digits')
  config.data.path = str(tmp_path)
  with pytest.raises(ValueError, match="data.name='folder'"):
    configs.validate(config, 8)
  config = load_experiment('dcgan_celeba')
  config.data.channels = 2
  with pytest.raises(ValueError, match='data.channels must be 1'):
    configs.validate(config, 8)


def test_digits_split_keeps_the_shared_split_apart():
  from gan_jax.data import digits
  config = load_experiment('dcgan_digits')
  whole = data_lib.open_source(config.data, 0)
  config.data.digits_split = 'train'
  train_part = data_lib.open_source(config.data, 0)
  config.data.digits_split = 'test'
  test_part = data_lib.open_source(config.data, 0)
  assert (len(whole), len(train_part), len(test_part)) == (1797, 1347, 450)
  # The test part is exactly the classifier's held-out digits, in the split's order.
  _, labels = whole.read(np.arange(len(whole)))
  _, held_out = digits.split_indices(labels)
  np.testing.assert_array_equal(test_part.read(np.arange(450))[0], whole.read(held_out)[0])
  config.data.digits_split = 'validation'
  with pytest.raises(ValueError, match="digits_split='validation'"):
    configs.validate(config, 8)


@pytest.fixture
def tfds_mock(monkeypatch):
  """TFDS with generated examples; the network probe is bypassed as downloads are mocked."""
  import tensorflow_datasets as tfds
  monkeypatch.setattr(tfds_source, 'cannot_prepare', lambda builder: None)
  with tfds.testing.mock_data(num_examples=48):
    yield


def test_tfds_source_reads_cropped_resized_images_and_labels(tfds_mock):
  config = load_experiment('dcgan_celeba')
  source = data_lib.open_source(config.data, seed=0)
  assert len(source) == 48
  images, labels = source.read(np.array([0, 5, 5]))
  assert images.shape == (3, 64, 64, 3) and images.dtype == np.uint8
  np.testing.assert_array_equal(images[1], images[2])
  assert images.std() > 0

  config = load_experiment('dcgan_mnist')
  source = data_lib.open_source(config.data, seed=0)
  images, labels = source.read(np.arange(48))
  assert images.shape == (48, 32, 32, 1)
  assert labels.min() >= 0 and labels.max() <= 9 and len(set(labels.tolist())) > 1
  config.data.image_key = 'picture'
  with pytest.raises(ValueError, match="no feature 'picture'.*'image'"):
    data_lib.open_source(config.data, seed=0)


def test_missing_tfds_dataset_fails_fast_naming_dataset_directory_and_command(tmp_path):
  config = load_experiment('dcgan_mnist')
  config.data.data_dir = str(tmp_path / 'tfds')
  start = time.time()
  with pytest.raises(tfds_source.DatasetNotReadyError) as error:
    data_lib.open_source(config.data, seed=0)
  assert time.time() - start < 10
  message = str(error.value)
  assert "'mnist' is not prepared in" in message
  assert str(tmp_path / 'tfds' / 'mnist') in message
  assert f'tfds build mnist --data_dir={tmp_path / "tfds"} --file_format=array_record' in message


def test_unreachable_download_host_is_detected_within_seconds(monkeypatch):
  import importlib.util

  class Builder:
    url_infos = {'https://data.example.invalid/train.gz': None,
                 'https://other.example.invalid/test.gz': None}

  real_find_spec = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, 'find_spec',  # as if TensorFlow were installed
                      lambda name, *a: object() if name == 'tensorflow'
                      else real_find_spec(name, *a))
  start = time.time()
  reason = tfds_source.cannot_prepare(Builder())
  assert time.time() - start < 6
  assert 'TensorFlow' not in reason
  assert 'data.example.invalid, other.example.invalid cannot be reached' in reason


def test_unknown_tfds_name_is_refused_listing_ours():
  config = load_experiment('dcgan_mnist')
  config.data.name = 'no_such_dataset_anywhere'
  with pytest.raises(ValueError, match=r"unknown data.name 'no_such_dataset_anywhere'.*'digits'"):
    configs.validate(config, 8)


def test_process_shares_are_disjoint_and_cover_each_epoch():
  n, global_batch = 48, 8  # 6 global batches per epoch
  source = sources.ArraySource(np.arange(n)[:, None])
  shares = [pipeline.Batches(source, global_batch=global_batch, seed=7, process_index=p,
                             process_count=2) for p in range(2)]
  for epoch in range(2):
    read = [s.read(epoch * 6, 6)['image'].ravel() for s in shares]
    assert not set(read[0]) & set(read[1])
    assert sorted(np.concatenate(read)) == list(range(n))
  # Each process reads only its own share: its source sees no other index.
  seen = []

  class Recording(sources.ArraySource):
    def read(self, indices):
      seen.append(np.array(indices))
      return super().read(indices)

  p1 = pipeline.Batches(Recording(np.arange(n)[:, None]), global_batch=global_batch, seed=7,
                        process_index=1, process_count=2, workers=2)
  got = np.concatenate([p1.next(1)['image'].ravel() for _ in range(6)])
  np.testing.assert_array_equal(got, shares[1].read(0, 6)['image'].ravel())
  assert set(np.concatenate(seen)) <= set(shares[1].read(0, 8)['image'].ravel())


def test_prefetching_threads_keep_the_stream_order_and_labels():
  source = sources.ArraySource(np.arange(30, dtype=np.float32)[:, None], np.arange(30) % 7)
  plain = pipeline.Batches(source, global_batch=6, seed=1, workers=0)
  threaded = pipeline.Batches(source, global_batch=6, seed=1, workers=3, prefetch=5)
  for _ in range(8):
    a, b = plain.next(2), threaded.next(2)
    np.testing.assert_array_equal(a['image'], b['image'])
    np.testing.assert_array_equal(a['label'], b['label'])
    np.testing.assert_array_equal(b['label'], b['image'][..., 0].astype(int) % 7)


def test_uint8_images_are_scaled_to_minus_one_one_on_the_device():
  x = np.array([0, 51, 255], np.uint8)
  np.testing.assert_allclose(convert.to_unit_range(x), [-1.0, -0.6, 1.0], atol=1e-6)
  f = np.array([0.25], np.float32)
  assert convert.to_unit_range(f) is f


def _assert_same_params(a, b):
  for x, y in zip(jax.tree.leaves(jax.device_get(a)), jax.tree.leaves(jax.device_get(b))):
    np.testing.assert_array_equal(x, y)


def _assert_resume_matches(config, tmp_path):
  config.train.steps = 4
  whole = train.train_and_evaluate(config, str(tmp_path / 'whole'))
  config.train.steps = 2
  train.train_and_evaluate(config, str(tmp_path / 'split'))
  config.train.steps = 4
  resumed = train.train_and_evaluate(config, str(tmp_path / 'split'))
  assert int(resumed.step) == 4
  _assert_same_params(whole.players['g'].params, resumed.players['g'].params)
  _assert_same_params(whole.players['d'].params, resumed.players['d'].params)
  # ...and the data mattered: another seed of the data order gives other parameters.
  config.seed = 1
  other = train.train_and_evaluate(config, str(tmp_path / 'other'))
  assert not np.array_equal(jax.tree.leaves(jax.device_get(other.players['d'].params))[0],
                            jax.tree.leaves(jax.device_get(whole.players['d'].params))[0])


def test_exact_resume_on_an_image_folder(image_folder, tmp_path):
  config = load_experiment('dcgan_celeba')
  config.data.path = str(image_folder)  # one override: the TFDS name reads the folder instead
  config.data.image_size = 32
  config.train.batch_size = 8
  _assert_resume_matches(config, tmp_path)


def test_exact_resume_on_a_mocked_tfds_dataset(tfds_mock, tmp_path):
  config = load_experiment('dcgan_mnist')
  config.train.batch_size = 8
  _assert_resume_matches(config, tmp_path)


def test_tensorflow_is_not_imported_off_the_tfds_path(image_folder, tmp_path):
  # A stand-in `tensorflow` package that fails loudly when imported.
  fake = tmp_path / 'fake_site' / 'tensorflow'
  fake.mkdir(parents=True)
  (fake / '__init__.py').write_text('raise RuntimeError("tensorflow was imported")\n')
  script = textwrap.dedent(f'''
      import sys
      sys.path.insert(0, {str(REPO / 'tests')!r})
      from conftest import load_experiment
      from gan_jax import train
      for name, overrides in [('dcgan_digits', {{}}), ('gan_ring', {{}}),
                              ('dcgan_celeba', {{'path': {str(image_folder)!r}, 'image_size': 32}}),
                              ('dcgan_celeba', {{'name': 'synthetic', 'image_size': 32}})]:
        config = load_experiment(name)
        config.data.update(overrides)
        config.train.steps = 1
        train.train_and_evaluate(config, {str(tmp_path)!r} + '/' + name + str(len(overrides)))
      assert 'tensorflow' not in sys.modules
      assert 'tensorflow_datasets' not in sys.modules
      print('ok')
      ''')
  env = dict(os.environ, PYTHONPATH=str(tmp_path / 'fake_site'))
  result = subprocess.run([sys.executable, '-c', script], env=env, capture_output=True,
                          text=True, timeout=300, cwd=REPO)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip().endswith('ok')


def test_cache_decodes_each_example_once_and_serves_the_same_data():
  calls = []

  class Counting(sources.ArraySource):
    def read(self, indices):
      calls.append(np.array(indices))
      return super().read(indices)

  base = Counting(np.arange(40, dtype=np.uint8).reshape(10, 2, 2, 1), np.arange(10) % 3)
  cached = sources.CachedSource(base)
  calls.clear()  # the constructor read example 0 for its shape
  plain = pipeline.Batches(sources.ArraySource(base.examples, base.labels), global_batch=5,
                           seed=2)
  stream = pipeline.Batches(cached, global_batch=5, seed=2)  # no threads: no double reads
  for _ in range(6):  # three epochs
    a, b = plain.next(1), stream.next(1)
    np.testing.assert_array_equal(a['image'], b['image'])
    np.testing.assert_array_equal(a['label'], b['label'])
  decoded = np.concatenate(calls)
  assert sorted(decoded) == list(range(10))  # every example decoded exactly once

  with pytest.raises(MemoryError, match='data.cache=True needs .* set --config.data.cache=False'):
    sources.CachedSource(base, max_fraction_of_memory=1e-12)


def test_stacked_digits_stack_three_labelled_digits_as_channels():
  config = load_experiment('dcgan_stacked_digits')
  source = data_lib.open_source(config.data, seed=0)
  assert len(source) == config.data.num_train
  images, labels = source.read(np.array([3, 7]))
  assert images.shape == (2, 32, 32, 3)
  base_images, base_labels = source.base.read(source.triples[3])
  for c in range(3):  # channel c of example 3 is the c-th digit of its triple
    np.testing.assert_array_equal(images[0, ..., c], base_images[c, ..., 0])
  assert labels[0] == base_labels[0] * 100 + base_labels[1] * 10 + base_labels[2]
  # Triples are drawn independently: all 1,000 label triples are reachable and used evenly.
  big = sources.StackedSource(source.base, 50_000, seed=1)
  _, many = big.read(np.arange(50_000))
  assert len(set(many.tolist())) == 1000
  assert data_lib.spec(config.data).num_classes == 1000
