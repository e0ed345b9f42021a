"""TFDS datasets, read by random access from their array_record files (`tfds.data_source`).

Reading needs no TensorFlow. Preparing a dataset (download, decode, write array_record) does:
TensorFlow is only imported by TFDS itself, inside `download_and_prepare`, and only when a
dataset is not prepared yet. Before that, two fast checks replace TFDS's own behaviour offline
(retrying the download for minutes): is TensorFlow installed, and can the dataset's download
hosts be reached at all? If not, the error names the dataset, the directory searched and the
command that prepares it.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import os
import socket
import urllib.parse

from absl import logging
import numpy as np

from gan_jax.data import sources

_PROBE_TIMEOUT_S = 3.0


class DatasetNotReadyError(RuntimeError):
  pass


def _tfds():
  import tensorflow_datasets as tfds  # lazy: only TFDS datasets need it
  return tfds


def default_data_dir() -> str:
  return os.path.expanduser(os.environ.get('TFDS_DATA_DIR', '~/tensorflow_datasets'))


def builder(data_config, known_names=()):
  """The TFDS builder of `data_config.name` (raises ValueError for an unknown name, listing
  `known_names`, the datasets of our own beside the catalog's)."""
  tfds = _tfds()
  data_dir = data_config.get('data_dir') or default_data_dir()
  try:
    return tfds.builder(data_config.name, data_dir=os.path.expanduser(data_dir))
  except tfds.core.registered.DatasetNotFoundError as e:
    raise ValueError(f'unknown data.name {data_config.name!r}: it is neither one of '
                     f'{sorted(known_names)} nor in the TFDS catalog '
                     f'(https://www.tensorflow.org/datasets/catalog). {str(e).splitlines()[0]}'
                     ) from None


def _hosts(b) -> list[str]:
  urls = list((b.url_infos or {}).keys())
  hosts = sorted({urllib.parse.urlparse(u).hostname for u in urls} - {None})
  return hosts or ['storage.googleapis.com']


def _reachable(host: str) -> bool:
  try:
    socket.create_connection((host, 443), timeout=_PROBE_TIMEOUT_S).close()
    return True
  except OSError:
    return False


def cannot_prepare(b) -> str | None:
  """Why `b` cannot be downloaded and prepared from here (None if it may be). Takes at most a
  few seconds however the network fails, name resolution included."""
  reasons = []
  if importlib.util.find_spec('tensorflow') is None:
    reasons.append('preparing a TFDS image dataset needs TensorFlow, which is not installed')
  hosts = _hosts(b)[:4]
  pool = concurrent.futures.ThreadPoolExecutor(len(hosts))
  futures = [pool.submit(_reachable, h) for h in hosts]
  concurrent.futures.wait(futures, timeout=_PROBE_TIMEOUT_S + 1.0)
  pool.shutdown(wait=False)  # a resolver stuck past the deadline counts as unreachable
  down = [h for h, f in zip(hosts, futures) if not (f.done() and f.result())]
  if down:
    reasons.append(f'its download host(s) {", ".join(down)} cannot be reached (no network?)')
  return '; and '.join(reasons) or None


def _prepare_command(b, data_dir_root) -> str:
  return (f'pip install tensorflow && tfds build {b.name} --data_dir={data_dir_root} '
          '--file_format=array_record')


def ensure_prepared(data_config):
  """The builder of a prepared dataset, preparing it first when that can work."""
  b = builder(data_config)
  root = str(b.data_dir_root)
  if not b.is_prepared():
    reason = cannot_prepare(b) if data_config.get('download', True) else 'data.download=False'
    if reason:
      raise DatasetNotReadyError(
          f'TFDS dataset {b.name!r} is not prepared in {b.data_dir}, and {reason}.\n'
          f'Prepare it where TensorFlow and the network are available:\n'
          f'  {_prepare_command(b, root)}\n'
          'then copy that directory here and pass --config.data.data_dir=DIR. If you have the '
          "images as files instead, train on them with --config.data.path=DIR.")
    logging.info('Downloading and preparing TFDS %s in %s (array_record).', b.name, b.data_dir)
    b.download_and_prepare(file_format='array_record')
    return b
  file_format = str(getattr(b.info.file_format, 'value', b.info.file_format))
  if file_format != 'array_record':
    raise DatasetNotReadyError(
        f'TFDS dataset {b.name!r} in {b.data_dir} is stored as {file_format}; gan_jax reads '
        'array_record, which allows random access without TensorFlow. Convert it with\n'
        f'  tfds convert_format --dataset_version_dir={b.data_dir} '
        '--out_file_format=array_record')
  return b


class TfdsSource:
  """One split of a prepared TFDS dataset; images are cropped and resized as they are read."""

  def __init__(self, data_config):
    b = ensure_prepared(data_config)
    split = data_config.get('split', 'train')
    try:
      self.source = b.as_data_source(split=split)
    except Exception as e:
      raise DatasetNotReadyError(f'could not open split {split!r} of TFDS {b.name!r} in '
                                 f'{b.data_dir}: {type(e).__name__}: {e}') from e
    features = b.info.features
    self.image_key = data_config.get('image_key', 'image')
    self.label_key = data_config.get('label_key', 'label')
    if self.image_key not in features:
      raise ValueError(f'TFDS {b.name!r} has no feature {self.image_key!r} '
                       f'(data.image_key); its features are {sorted(features.keys())}')
    if self.label_key and '/' in self.label_key:  # a nested feature, e.g. 'attributes/Young'
      outer, inner = self.label_key.split('/', 1)
      if outer not in features or inner not in features[outer].keys():
        raise ValueError(f'TFDS {b.name!r} has no feature {self.label_key!r} (data.label_key); '
                         f'its features are {sorted(features.keys())}')
    elif self.label_key and self.label_key not in features:
      self.label_key = None  # unlabelled dataset: labels read as 0
    self.size = data_config.image_size
    self.channels = data_config.channels
    self.crop = data_config.get('crop', 0)
    self.name = b.name
    logging.info('TFDS %s, split %s: %d examples from %s.', b.name, split, len(self.source),
                 b.data_dir)

  def __len__(self):
    return len(self.source)

  def read_one(self, i: int):
    example = self.source[i]  # one at a time: a batched read is not available everywhere
    image = np.asarray(example[self.image_key])
    if image.dtype != np.uint8:
      raise ValueError(f'TFDS {self.name!r} feature {self.image_key!r} is {image.dtype}, '
                       'not uint8 image data')
    if image.shape != (self.size, self.size, self.channels):
      image = sources.square_image(sources.array_to_image(image), self.size, self.channels,
                                   self.crop)
    label = 0
    if self.label_key:
      value = example
      for part in self.label_key.split('/'):
        value = value[part]
      label = int(value)  # booleans (CelebA's attributes) become 0 and 1
    return image, label

  def read(self, indices: np.ndarray):
    pairs = [self.read_one(int(i)) for i in indices]
    return np.stack([p[0] for p in pairs]), np.array([p[1] for p in pairs], np.int32)
