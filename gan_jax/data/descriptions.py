"""Images with descriptions: what StackGAN generates from. Batches are {'image', 'label',
'condition'}, 'condition' (local_batch, K, dim) float32: the K descriptions of each image (the
step picks one per example, as the reference code picks one caption's embedding per image).

Two sources:
- `described_digits` (embedded, no download): the bundled digits with one description each
  (K = 1), a 13-d vector: the class one-hot, then the digit's stroke thickness, slant and size
  (`attributes.py`, measured on the image at `data.image_size`), each standardised by the
  bundled digits' mean and standard deviation.
- a folder of images with `data.embeddings=FILE.npy`, the published setting (CUB-200-2011 and
  Oxford-102 ship 10 char-CNN-RNN embeddings of 1,024 dimensions per image). The file holds a
  float array of shape (num_images, dim) or (num_images, K, dim); row i describes the i-th image
  of the folder in sorted path order (the order `data.path`'s images are listed in: every PNG or
  JPEG below it, subfolders included, sorted by path). `data.embedding_dim` must be the file's
  dim: it is what a saved run's models are built with, so that a run can be sampled without the
  file. To convert the releases' pickles (`char-CNN-RNN-embeddings.pickle`, a list of (10, 1024)
  arrays, in the order of `filenames.pickle`), stack them in that order, copy or link the
  images so that their sorted paths follow the same order (e.g. DIR/00000.jpg, DIR/00001.jpg,
  ...), and save the stack with `np.save`.
  Every image must be readable: a skipped image would shift the descriptions onto the wrong
  images, so an unreadable file stops the run, naming it.
"""

from __future__ import annotations

import os

import numpy as np

from gan_jax.data import attributes, digits, sources

DIGITS_DIM = attributes.DESCRIPTION_CLASSES + len(attributes.NAMES)


def is_described(c) -> bool:
  return c.name == 'described_digits' or bool(c.get('embeddings'))


def condition_shape(c) -> tuple[int, ...]:
  """(K, dim) of described data, () otherwise. Reads no file: a folder's K comes from
  `data.embeddings_per_image` (checked against the file when it is opened)."""
  if c.name == 'described_digits':
    return (1, DIGITS_DIM)
  if c.get('embeddings'):
    return (c.get('embeddings_per_image', 1), c.get('embedding_dim', 0))
  return ()


def _embeddings_file(c) -> np.ndarray:
  path = os.path.expanduser(c.embeddings)
  if not os.path.isfile(path):
    raise FileNotFoundError(f'data.embeddings={c.embeddings!r} is not a file: give a .npy array '
                            'of shape (num_images, dim) or (num_images, K, dim), one row per '
                            'image of data.path in sorted order')
  try:
    array = np.load(path, mmap_mode='r', allow_pickle=False)
  except Exception as e:  # numpy raises several types for files that are not .npy arrays
    raise ValueError(f'data.embeddings={path!r} is not a readable .npy array ({type(e).__name__}: '
                     f'{e}); save the embeddings with np.save') from None
  return array


def check(c) -> None:
  """Fast checks of described data: the embeddings file's shape against the config and the
  folder's image count. Reads the file's header and lists the folder; decodes nothing."""
  if not c.get('embeddings'):
    if c.get('embedding_dim', 0) and c.name != 'described_digits':
      raise ValueError('data.embedding_dim is set but data.embeddings is not: give the '
                       'embeddings file with --config.data.embeddings=FILE.npy')
    return
  if c.name in ('described_digits',) or (c.name != 'folder' and not c.get('path')):
    raise ValueError(f"data.embeddings describes the images of a folder: set data.name='folder' "
                     f'and data.path, not data.name={c.name!r}')
  array = _embeddings_file(c)
  if array.ndim not in (2, 3) or not np.issubdtype(array.dtype, np.floating):
    raise ValueError(f'data.embeddings {c.embeddings!r} has shape {array.shape} and dtype '
                     f'{array.dtype}: expected floats of shape (num_images, dim) or '
                     '(num_images, K, dim)')
  per_image = 1 if array.ndim == 2 else array.shape[1]
  dim = array.shape[-1]
  if (c.get('embeddings_per_image', 1), c.get('embedding_dim', 0)) != (per_image, dim):
    raise ValueError(f'data.embeddings {c.embeddings!r} holds {per_image} embedding(s) of {dim} '
                     f'dimensions per image, but the config says data.embeddings_per_image='
                     f"{c.get('embeddings_per_image', 1)} and data.embedding_dim="
                     f"{c.get('embedding_dim', 0)}: set them to {per_image} and {dim}")
  files, _, _ = sources.list_images(c.path, c.get('labels', False))
  if len(files) != len(array):
    raise ValueError(f'data.embeddings {c.embeddings!r} has {len(array)} rows but data.path '
                     f'{c.path!r} holds {len(files)} images: there must be one row per image, '
                     'in sorted path order')


class DescribedArrays:
  """Images, labels and descriptions in memory."""

  def __init__(self, images, labels, conditions):
    self.images, self.labels, self.conditions = images, labels, conditions

  def __len__(self):
    return len(self.images)

  def read(self, indices: np.ndarray):
    return {'image': self.images[indices], 'label': self.labels[indices],
            'condition': self.conditions[indices]}


class DescribedFolder:
  """The images of a folder with their rows of an embeddings file. An unreadable image is an
  error (its description cannot move to another image)."""

  def __init__(self, folder: sources.FolderSource, embeddings: np.ndarray):
    self.folder, self.embeddings = folder, embeddings

  def __len__(self):
    return len(self.folder)

  def read(self, indices: np.ndarray):
    images = []
    for i in indices:
      image = self.folder._decode(int(i))
      if image is None:
        raise OSError(f'{self.folder.files[int(i)]} cannot be read as an image; with '
                      'data.embeddings every image must be readable (remove it and its row)')
      images.append(image)
    rows = np.asarray(self.embeddings[np.asarray(indices)], np.float32)
    return {'image': np.stack(images), 'label': self.folder.labels[indices],
            'condition': rows.reshape(len(indices), -1, rows.shape[-1])}


def described_digits(c) -> DescribedArrays:
  """The bundled digits (of `data.digits_split`) with their 13-d descriptions."""
  images, labels = digits.load(c, 0)
  values = attributes.stack(attributes.measure(images))
  conditions = attributes.description(labels, values, c.image_size)
  return DescribedArrays(images, labels, conditions[:, None, :])


def all_descriptions(c) -> tuple[np.ndarray, np.ndarray]:
  """(descriptions (n, K, dim) float32, labels (n,)) of every example, without decoding the
  folder's images."""
  if c.name == 'described_digits':
    source = described_digits(c)
    return source.conditions, source.labels
  check(c)
  _, labels, _ = sources.list_images(c.path, c.get('labels', False))
  rows = np.asarray(_embeddings_file(c), np.float32)
  return rows.reshape(len(rows), -1, rows.shape[-1]), labels


def described_folder(c) -> DescribedFolder:
  check(c)
  folder = sources.FolderSource(c.path, size=c.image_size, channels=c.channels,
                                crop=c.get('crop', 0), labels=c.get('labels', False))
  return DescribedFolder(folder, _embeddings_file(c))
