"""Image-to-image translation data: the bundled tasks (edges of the digits, printed against
handwritten digits) and their split, the folder layouts (aligned, paired, unpaired) with their
start-up errors, TFDS cycle_gan through `tfds.testing.mock_data`, the direction swap, the
pipeline's dict batches with exact resume, and the cache."""

import os
import re

import ml_collections
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from gan_jax import configs
from gan_jax import data as data_lib
from gan_jax.data import digits, pipeline, sources, tfds_source, translation


def _config(name, *, image_size=32, channels=1, **data):
  c = configs.base_config()
  configs.translation_data(c, name, image_size=image_size, channels=channels)
  c.data.update(data)
  return c.data


def _open(name, seed=0, **data):
  source = data_lib.open_source(_config(name, **data), seed)
  return source, source.read(np.arange(len(source)))


def _save(path, array):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(array).save(path)


def _solid(value, height, width):
  """RGB image of one colour: (value, 255 - value, 7)."""
  return np.broadcast_to(np.array([value, 255 - value, 7], np.uint8), (height, width, 3)).copy()


def _keys(images):
  return {image.tobytes() for image in images}


# ---- The bundled tasks ----
@pytest.fixture(scope='module')
def handwritten():
  """The bundled digits at 32x32 in [0, 1], and their labels."""
  images, labels = digits.load(ml_collections.ConfigDict({'image_size': 32}), 0)
  return (images[..., 0] + 1) / 2, labels


def test_edges2digits_pairs_each_digit_with_its_outline(handwritten):
  source, train = _open('edges2digits')
  assert len(source) == 1347 and data_lib.spec(_config('edges2digits')) == data_lib.DataSpec(
      (32, 32, 1), 'paired', 10)
  for key in ('a', 'b'):
    assert train[key].shape == (1347, 32, 32, 1) and train[key].dtype == np.uint8
  assert set(np.unique(train['a'])) == {0, 255}
  np.testing.assert_array_equal(train['label'], train['label_b'])
  # 'b' is the digit of the classifier's training split; 'a' is exactly where its 3x3
  # neighbourhood crosses the level (the frame counting as dark): a steep part of the digit.
  unit, labels = handwritten
  train_indices, _ = digits.split_indices(labels)
  u = unit[train_indices]
  np.testing.assert_array_equal(train['b'][..., 0], np.round(u * 255))
  np.testing.assert_array_equal(train['label'], labels[train_indices])
  high = ndimage.grey_dilation(u, size=(1, 3, 3)) > translation.EDGE_LEVEL
  low = ndimage.grey_erosion(u, size=(1, 3, 3), mode='constant') <= translation.EDGE_LEVEL
  np.testing.assert_array_equal(train['a'][..., 0] == 255, high & low)
  gradient = ndimage.morphological_gradient(u, size=(1, 3, 3))
  edges = train['a'][..., 0] == 255
  assert gradient[edges].mean() > 2 * gradient[~edges].mean()
  # Closed forms: no edges in the dark; a 16x16 square's outline is 18x18 minus 14x14.
  assert not translation.outline(np.zeros((1, 32, 32))).any()
  square = np.zeros((1, 32, 32))
  square[0, 8:24, 8:24] = 1.0
  ring = np.zeros((32, 32), bool)
  ring[7:25, 7:25] = True
  ring[9:23, 9:23] = False  # one pixel outside the square and one inside
  np.testing.assert_array_equal(translation.outline(square)[0], ring)


def test_digits_split_is_the_classifiers_stratified_75_25(handwritten):
  from gan_jax.evaluators import classifier_training
  _, labels = handwritten
  train, test = digits.split_indices(labels)
  assert (len(train), len(test)) == (1347, 450)
  assert not set(train) & set(test) and len(set(train) | set(test)) == 1797
  per_class = np.bincount(labels[test], minlength=10)
  assert np.all(np.abs(per_class - 45) <= 2)
  assert np.all(np.abs(per_class - np.bincount(labels) / 4) < 1)  # stratified
  source, test_entries = _open('edges2digits', split='test')
  assert len(source) == 450
  _, y_train, x_test, y_test = classifier_training.read_splits('digits')
  np.testing.assert_array_equal(test_entries['label'], y_test)
  np.testing.assert_array_equal(test_entries['b'], np.round((x_test + 1) * 127.5))
  np.testing.assert_array_equal(y_train, labels[train])


def test_direction_size_and_channels_apply_to_edges2digits():
  _, forward = _open('edges2digits', split='test')
  _, backward = _open('edges2digits', split='test', direction='BtoA', load_size=36,
                      channels=3)
  assert backward['a'].shape == (450, 36, 36, 3)
  np.testing.assert_array_equal(backward['a'][..., 0], backward['a'][..., 2])
  assert set(np.unique(backward['b'])) == {0, 255}  # 'b' is now the edges
  assert set(np.unique(backward['a'])) != {0, 255}
  _, same_size = _open('edges2digits', split='test', direction='BtoA')
  np.testing.assert_array_equal(same_size['a'], forward['b'])
  np.testing.assert_array_equal(same_size['b'], forward['a'])


def test_printed_digits_are_seeded_split_balanced_and_look_like_the_handwritten(handwritten):
  source, train = _open('printed2handwritten', num_train=400)
  assert len(source) == 1347  # max(400 printed, 1347 handwritten)
  printed = train['a'][:400]
  again = _open('printed2handwritten', num_train=400)[1]
  np.testing.assert_array_equal(again['a'], train['a'])
  other_seed = _open('printed2handwritten', seed=1, num_train=400)[1]
  assert not np.array_equal(other_seed['a'][:400], printed)
  test_source, test = _open('printed2handwritten', split='test')
  assert len(test_source) == translation.PRINTED_TEST
  assert not _keys(test['a']) & _keys(printed)
  np.testing.assert_array_equal(np.bincount(train['label'][:400]), 40)
  assert np.all(np.abs(np.bincount(test['label']) - 50) <= 1)
  # Light strokes on a dark ground, as blurred as the handwritten digits.
  unit, labels = handwritten
  assert printed.mean() / 255 < 0.5 and printed.max() >= 250 and (printed < 32).mean() > 0.5

  def sharpness(images):  # mean absolute second difference, per unit of ink
    x = images.astype(np.float32).reshape(-1, 32, 32) / images.max()
    return sum(np.abs(np.diff(x, 2, axis=axis)).mean() for axis in (1, 2)) / x.mean()

  ratio = sharpness(printed) / sharpness(unit)
  assert 0.75 < ratio < 1.33, ratio
  # 'b' is the handwritten split; every image of it is reached in one epoch, in a fixed pairing
  # that another seed changes.
  train_indices, _ = digits.split_indices(labels)
  assert _keys(train['b']) == _keys(np.round(unit[train_indices] * 255).astype(np.uint8)[..., None])
  assert not np.array_equal(train['b'], other_seed['b'])
  np.testing.assert_array_equal(source.read(np.array([5, 5]))['b'][1], train['b'][5])
  spec = data_lib.spec(_config('printed2handwritten'))
  assert (spec.kind, spec.num_classes, spec.is_translation, spec.key) == (
      'unpaired', 10, True, 'image')


def test_more_printed_than_handwritten_shows_every_image_of_both():
  source, entries = _open('printed2handwritten', split='test')
  assert len(source) == 500  # the test split's 500 printed against 450 handwritten
  assert len(_keys(entries['a'])) == 500
  assert len(_keys(entries['b'])) == len(_keys(source.b.examples))


# ---- Folders ----
def test_aligned_files_are_split_into_their_halves(tmp_path):
  for split, count in (('train', 3), ('test', 2)):
    for i in range(count):
      value = 40 * i + (100 if split == 'test' else 0)
      side_by_side = np.concatenate([_solid(value, 12, 12), _solid(value + 1, 12, 12)], axis=1)
      side_by_side[:6, 12:] = 0  # B's top half dark: no flip, no crop from A
      _save(str(tmp_path / split / f'{i}.png'), side_by_side)
  source, entries = _open('aligned', path=str(tmp_path), image_size=8, channels=3)
  assert len(source) == 3 and entries['a'].shape == (3, 8, 8, 3)
  np.testing.assert_array_equal(entries['a'][:, 0, 0, 0], [0, 40, 80])
  np.testing.assert_array_equal(entries['b'][:, -1, -1, 0], [1, 41, 81])
  assert entries['b'][:, :3].max() == 0
  np.testing.assert_array_equal(entries['label'], 0)
  _, swapped = _open('aligned', path=str(tmp_path), image_size=8, channels=3,
                     direction='BtoA', split='test')
  np.testing.assert_array_equal(swapped['a'][:, -1, -1, 0], [101, 141])
  np.testing.assert_array_equal(swapped['b'][:, 0, 0, 0], [100, 140])

  _save(str(tmp_path / 'val' / '0.png'), _solid(0, 12, 12))
  with pytest.raises(ValueError, match=r"A and B side by side.*0\.png is 12x12.*'paired'"):
    data_lib.check(_config('aligned', path=str(tmp_path), split='val'))
  with pytest.raises(FileNotFoundError, match="data.path/<split>/.*nothing.*'test', 'train'"):
    data_lib.check(_config('aligned', path=str(tmp_path), split='nothing'))


def test_paired_folders_match_files_by_name_and_skip_broken_pairs_together(tmp_path):
  for i in range(4):
    for domain in 'AB':
      _save(str(tmp_path / domain / 'train' / f'{i}.png'), _solid(50 * i + (domain == 'B'), 5, 9))
  (tmp_path / 'A' / 'train' / '2.png').write_bytes(b'not an image')
  config = _config('paired', path=str(tmp_path), image_size=6, channels=1)
  source = data_lib.open_source(config, 0)
  entries = source.read(np.arange(4))
  assert entries['a'].shape == (4, 6, 6, 1)
  gray = lambda value: np.asarray(Image.fromarray(_solid(value, 1, 1)).convert('L'))[0, 0]
  # Pair 2 cannot be read: pair 3 takes its place, both halves of it.
  np.testing.assert_array_equal(entries['a'][:, 0, 0, 0], [gray(v) for v in (0, 50, 150, 150)])
  np.testing.assert_array_equal(entries['b'][:, 0, 0, 0], [gray(v) for v in (1, 51, 151, 151)])
  # Without split folders, A and B themselves are read.
  flat = tmp_path / 'flat'
  for domain in 'AB':
    _save(str(flat / domain / 'x.png'), _solid(9 if domain == 'A' else 200, 4, 4))
  flat_entries = _open('paired', path=str(flat), image_size=4, channels=3)[1]
  assert flat_entries['a'][0, 0, 0, 0] == 9 and flat_entries['b'][0, 0, 0, 0] == 200

  _save(str(tmp_path / 'A' / 'train' / 'only_a.png'), _solid(0, 4, 4))
  _save(str(tmp_path / 'B' / 'train' / 'only_b.jpg'), _solid(0, 4, 4))
  with pytest.raises(ValueError, match=r"by name.*1 in A .*\['only_a.png'\].*1 in B.*"
                                       r"\['only_b.jpg'\]"):
    data_lib.check(config)


def test_unpaired_folders_read_each_split_and_name_an_empty_domain(tmp_path):
  for folder, count, base in (('trainA', 3, 0), ('trainB', 5, 100), ('testA', 2, 200),
                              ('testB', 2, 220)):
    for i in range(count):
      _save(str(tmp_path / folder / f'{i:02d}.png'), _solid(base + i, 6, 6))
  source, entries = _open('unpaired', seed=3, path=str(tmp_path), image_size=4, channels=3)
  assert len(source) == 5
  np.testing.assert_array_equal(entries['a'][:, 0, 0, 0], [0, 1, 2, 0, 1])  # A[i mod 3]
  b_values = entries['b'][:, 0, 0, 0]
  assert sorted(b_values) == [100, 101, 102, 103, 104]  # every B image once per epoch
  _, other = _open('unpaired', seed=4, path=str(tmp_path), image_size=4, channels=3)
  _, as_tfds_name = _open('cycle_gan/horse2zebra', seed=3, path=str(tmp_path), image_size=4,
                          channels=3)  # a TFDS name with data.path: the folders instead
  np.testing.assert_array_equal(as_tfds_name['b'], entries['b'])
  assert list(other['b'][:, 0, 0, 0]) != list(b_values)  # the pairing is drawn from the seed
  _, swapped = _open('unpaired', seed=3, path=str(tmp_path), image_size=4, channels=3,
                     split='test', direction='BtoA')
  assert sorted(swapped['a'][:, 0, 0, 0]) == [220, 221]
  assert sorted(swapped['b'][:, 0, 0, 0]) == [200, 201]

  for name in os.listdir(tmp_path / 'testB'):
    os.remove(tmp_path / 'testB' / name)
  with pytest.raises(FileNotFoundError, match='no PNG or JPEG images found below '
                                              + re.escape(str(tmp_path / 'testB'))):
    data_lib.check(_config('unpaired', path=str(tmp_path), split='test'))
  with pytest.raises(FileNotFoundError, match=re.escape(f'{tmp_path / "valA"} is not a dir')):
    data_lib.open_source(_config('unpaired', path=str(tmp_path), split='val'), 0)


def test_start_up_checks_name_the_problem(tmp_path):
  cases = [
      (dict(direction='AtoC'), ValueError, "data.direction='AtoC'.*'AtoB', 'BtoA'"),
      (dict(load_size=16), ValueError, 'load_size=16 is smaller than data.image_size=32'),
      (dict(channels=2), ValueError, 'data.channels must be 1'),
      (dict(split='val'), ValueError, "splits \\('train', 'test'\\), not 'val'"),
      (dict(path=str(tmp_path)), ValueError, 'reads no files'),
  ]
  for overrides, error, message in cases:
    with pytest.raises(error, match=message):
      data_lib.check(_config('edges2digits', **overrides))
  with pytest.raises(ValueError, match="data.name='paired' reads folders: set"):
    data_lib.check(_config('paired'))
  with pytest.raises(FileNotFoundError, match="reads data.path/A/ and data.path/B/"):
    data_lib.check(_config('paired', path=str(tmp_path)))
  with pytest.raises(FileNotFoundError, match='is not a directory'):
    data_lib.check(_config('unpaired', path=str(tmp_path / 'nowhere')))
  with pytest.raises(ValueError, match="data.split must be 'train' or 'test'"):
    data_lib.check(_config('cycle_gan/horse2zebra', split='validation'))
  data_lib.check(_config('cycle_gan/horse2zebra'))  # a TFDS name with a slash is known


# ---- TFDS ----
def test_tfds_cycle_gan_reads_its_two_domain_splits(monkeypatch):
  import tensorflow_datasets as tfds
  monkeypatch.setattr(tfds_source, 'cannot_prepare', lambda builder: None)
  counts = {'trainA': 4, 'trainB': 6, 'testA': 2, 'testB': 3}
  bases = {'trainA': 10, 'trainB': 20, 'testA': 30, 'testB': 40}

  def as_data_source(self, split, **kwargs):  # each split's images of its own colour
    return [{'image': np.full((20 + i, 30, 3), bases[split] + i, np.uint8), 'label': 1}
            for i in range(counts[split])]

  with tfds.testing.mock_data(as_data_source_fn=as_data_source):
    source, entries = _open('cycle_gan/horse2zebra', seed=1, image_size=8, channels=3,
                            load_size=10)
    assert len(source) == 6
    assert entries['a'].shape == (6, 10, 10, 3) and entries['b'].shape == (6, 10, 10, 3)
    np.testing.assert_array_equal(entries['a'][:, 5, 5, 0], 10 + np.arange(6) % 4)
    np.testing.assert_array_equal(entries['b'][:, 5, 5, 0], 20 + source.perm_b)
    np.testing.assert_array_equal(entries['label'], 0)
    np.testing.assert_array_equal(entries['label_b'], 0)
    _, test = _open('cycle_gan/horse2zebra', image_size=8, channels=3, split='test',
                    direction='BtoA')
    assert sorted(test['a'][:, 0, 0, 0]) == [40, 41, 42]
    assert set(test['b'][:, 0, 0, 0]) == {30, 31}
  spec = data_lib.spec(_config('cycle_gan/horse2zebra', image_size=8, channels=3))
  assert (spec.shape, spec.kind, spec.num_classes) == ((8, 8, 3), 'unpaired', 0)


# ---- Pipeline and cache ----
def test_pipeline_batches_translation_dicts_and_resumes_exactly():
  source = data_lib.open_source(_config('edges2digits', split='test'), 0)
  stream = pipeline.Batches(source, global_batch=8, seed=5, workers=2)
  first = stream.next(2)
  assert set(first) == {'a', 'b', 'label', 'label_b'}
  assert first['a'].shape == first['b'].shape == (2, 8, 32, 32, 1)
  assert first['label'].shape == (2, 8)
  state = stream.get_state()
  rest = [stream.next(2) for _ in range(3)]
  resumed = pipeline.Batches(source, global_batch=8, seed=5, workers=2)
  resumed.set_state(state)
  for expected in rest:
    got = resumed.next(2)
    for key in expected:
      np.testing.assert_array_equal(got[key], expected[key])
  # The pairs stay pairs through the shuffle: 'b' is still the digit under the edges in 'a'.
  unit = rest[0]['b'][..., 0].reshape(-1, 32, 32) / 255
  edges = translation.outline(unit)
  agree = (rest[0]['a'][..., 0].reshape(-1, 32, 32) == 255) == edges
  assert agree.mean() > 0.99


@pytest.mark.parametrize('name', ['paired', 'unpaired'])
def test_cache_keeps_translation_images_after_the_files_are_gone(tmp_path, name):
  folders = ('A', 'B') if name == 'paired' else ('trainA', 'trainB')
  for f, folder in enumerate(folders):
    for i in range(3 + f * (name == 'unpaired')):
      _save(str(tmp_path / folder / f'{i}.png'), _solid(10 * i + f, 4, 4))
  cached = _config(name, path=str(tmp_path), image_size=4, channels=3, cache=True)
  source = data_lib.open_source(cached, 0)
  plain = data_lib.open_source(_config(name, path=str(tmp_path), image_size=4, channels=3), 0)
  order = np.arange(len(source))[::-1]
  expected = source.read(order)
  for folder in folders:
    for path in (tmp_path / folder).iterdir():
      path.unlink()
  got = source.read(order)
  for key in ('a', 'b', 'label', 'label_b'):
    np.testing.assert_array_equal(got[key], expected[key])
  with pytest.raises(OSError, match='could not be read as images'):
    plain.read(order)
  cache_of = source if name == 'paired' else source.a
  assert isinstance(cache_of, sources.CachedSource)
