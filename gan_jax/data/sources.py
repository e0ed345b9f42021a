"""Random-access sources: `len(source)` examples, read in batches by index.

`source.read(indices)` returns `(examples, labels)` for a 1-D array of indices, or a dict of
entries (the image pairs of `translation.py`). Image sources return uint8 NHWC arrays (the step
scales them to [-1, 1] on the device, so a quarter of the bytes cross to it); in-memory sources
return whatever arrays they hold. Every source is safe to read from several threads at once.

- `ArraySource`: arrays in memory (the bundled digits, the mixtures, synthetic images).
- `FolderSource`: every PNG or JPEG below a directory, decoded on demand. A file that cannot be
  decoded is skipped: the next readable file in sorted order takes its place, so the stream
  stays deterministic, and each skipped file is logged once with the running count.
- `tfds_source.TfdsSource`: a TFDS dataset prepared in array_record format.
- `StackedSource`: three examples of a grayscale source stacked as RGB channels (stacked
  digits: 1,000 modes from 10 classes).
- `CachedSource`: keeps what another source decoded in memory, so that only the first epoch
  pays for decoding (`data.cache`); tuples and dicts alike.
"""

from __future__ import annotations

import os
import threading

from absl import logging
import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg')
# Beyond this many unreadable files in a row, the folder itself is gone or wrong: stop.
_MAX_CONSECUTIVE_FAILURES = 64


class ArraySource:

  def __init__(self, examples: np.ndarray, labels: np.ndarray | None = None):
    self.examples = examples
    self.labels = (np.zeros(len(examples), np.int32) if labels is None
                   else np.asarray(labels, np.int32))

  def __len__(self):
    return len(self.examples)

  def read(self, indices: np.ndarray):
    return self.examples[indices], self.labels[indices]


def square_image(image: Image.Image, size: int, channels: int, crop: int = 0) -> np.ndarray:
  """A centred square of side `crop` (0: the largest that fits), resized to `size` x `size`,
  with `channels` channels (1: grayscale, 3: RGB); returns uint8 (size, size, channels).

  JPEGs are decoded at the smallest DCT scale that keeps the crop at least `size` pixels wide,
  which makes large photos several times faster to read.
  """
  width, height = image.size
  side = min(width, height) if crop <= 0 else min(crop, width, height)
  if image.format == 'JPEG' and side > 2 * size:
    scale = size / side
    image.draft('L' if channels == 1 else 'RGB',
                (int(np.ceil(width * scale)), int(np.ceil(height * scale))))
    factor = image.size[0] / width
    width, height, side = image.size[0], image.size[1], max(size, int(round(side * factor)))
    side = min(side, width, height)
  image = image.convert('L' if channels == 1 else 'RGB')
  left, top = (width - side) // 2, (height - side) // 2
  if (side, width, height) != (size, size, size):
    # Crop first: resizing with a box would let the filter reach pixels outside the crop.
    image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
  array = np.asarray(image, np.uint8)
  return array[..., None] if channels == 1 else array


def note_skipped(skipped: set, lock: threading.Lock, path: str, error: Exception) -> None:
  """Adds an unreadable file to `skipped` and logs it, once per file, with the running count."""
  with lock:
    if path not in skipped:
      skipped.add(path)
      logging.warning('Skipping unreadable image %s (%s: %s); %d skipped so far.', path,
                      type(error).__name__, error, len(skipped))


def array_to_image(array: np.ndarray) -> Image.Image:
  """A uint8 HWC (or HW) array as a PIL image."""
  if array.ndim == 3 and array.shape[-1] == 1:
    array = array[..., 0]
  return Image.fromarray(np.ascontiguousarray(array))


def list_images(path: str, labels: bool):
  """(sorted image paths below `path`, their labels, class names). With `labels`, each image's
  label is the index of its first-level subfolder in sorted order."""
  path = os.path.abspath(os.path.expanduser(path))
  if not os.path.isdir(path):
    raise FileNotFoundError(f'data.path={path!r} is not a directory. Point --config.data.path '
                            'at a folder of PNG or JPEG images (subfolders are searched too).')
  files = []
  for root, dirs, names in os.walk(path, followlinks=True):
    dirs.sort()
    files.extend(os.path.join(root, n) for n in sorted(names)
                 if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith('.'))
  if not files:
    raise FileNotFoundError(f'no PNG or JPEG images found below {path} (data.path). '
                            f'Images need one of the extensions {IMAGE_EXTENSIONS}.')
  if not labels:
    return files, np.zeros(len(files), np.int32), []
  relative = [os.path.relpath(f, path).split(os.sep) for f in files]
  loose = [os.path.join(*r) for r in relative if len(r) == 1]
  if loose:
    raise ValueError(f'data.labels=True takes class labels from subfolder names, but {path} '
                     f'holds {len(loose)} image(s) outside any subfolder, e.g. {loose[0]!r}. '
                     'Move them into class folders or set --config.data.labels=False.')
  classes = sorted({r[0] for r in relative})
  index = {c: i for i, c in enumerate(classes)}
  return files, np.array([index[r[0]] for r in relative], np.int32), classes


class FolderSource:
  """The images below a directory, centre-cropped and resized as they are read."""

  def __init__(self, path: str, *, size: int, channels: int, crop: int = 0,
               labels: bool = False):
    self.files, self.labels, self.classes = list_images(path, labels)
    self.size, self.channels, self.crop = size, channels, crop
    self._lock = threading.Lock()
    self.skipped: set[str] = set()
    logging.info('Found %d images below %s%s.', len(self.files), path,
                 f' in {len(self.classes)} classes' if labels else '')

  def __len__(self):
    return len(self.files)

  def _decode(self, i: int) -> np.ndarray | None:
    path = self.files[i]
    try:
      with Image.open(path) as image:
        return square_image(image, self.size, self.channels, self.crop)
    except Exception as e:  # PIL raises many types for damaged or unsupported files
      note_skipped(self.skipped, self._lock, path, e)
      return None

  def read_one(self, i: int):
    """Image `i`, or the next readable one after it when it cannot be decoded."""
    attempts = min(len(self.files), _MAX_CONSECUTIVE_FAILURES)
    for j in range(i, i + attempts):
      j %= len(self.files)
      image = self._decode(j)
      if image is not None:
        return image, self.labels[j]
    raise OSError(f'{attempts} consecutive files from {self.files[i % len(self.files)]} on '
                  'could not be read as images: is the data.path folder still there, and does '
                  'it hold images?')

  def read(self, indices: np.ndarray):
    pairs = [self.read_one(int(i)) for i in indices]
    return np.stack([p[0] for p in pairs]), np.array([p[1] for p in pairs], np.int32)


class CachedSource:
  """Wraps a source of fixed-shape examples; each example is decoded once, then served from
  memory. The cache is allocated up front (len x example bytes), and the allocation is checked
  against the machine's memory before anything is decoded. Sources that read dicts of entries
  (image pairs, for instance) are cached entry by entry and read back as dicts."""

  def __init__(self, source, *, max_fraction_of_memory: float = 0.5):
    first = source.read(np.zeros(1, np.int64))
    self.reads_dicts = isinstance(first, dict)
    first = first if self.reads_dicts else dict(enumerate(first))  # (examples, labels)
    needed = len(source) * sum(v[0].nbytes for v in first.values())
    available = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
    if needed > max_fraction_of_memory * available:
      shapes = ', '.join(str(v.shape[1:]) for v in first.values())
      raise MemoryError(f'data.cache=True needs {needed / 2**30:.1f} GiB for {len(source):,} '
                        f'examples of shapes {shapes}, more than '
                        f'{max_fraction_of_memory:.0%} of this machine\'s '
                        f'{available / 2**30:.1f} GiB; set --config.data.cache=False')
    self.source = source
    self.entries = {k: np.empty((len(source),) + v.shape[1:], v.dtype) for k, v in first.items()}
    self.filled = np.zeros(len(source), bool)

  def __len__(self):
    return len(self.source)

  def read(self, indices: np.ndarray):
    missing = np.unique(indices[~self.filled[indices]])
    if len(missing):
      # Threads may decode the same example twice; both write identical values.
      got = self.source.read(missing)
      for k, v in (got.items() if self.reads_dicts else enumerate(got)):
        self.entries[k][missing] = v
      self.filled[missing] = True
    out = {k: v[indices] for k, v in self.entries.items()}
    return out if self.reads_dicts else (out[0], out[1])


class StackedSource:
  """Example i stacks three grayscale examples as the channels of one RGB image; the triples
  are drawn independently from (seed, 'stacked'), and the label is 100 a + 10 b + c for the
  channels' labels a, b, c."""

  def __init__(self, base, num: int, seed: int):
    self.base = base
    rng = np.random.default_rng([seed, 0x57AC])
    self.triples = rng.integers(0, len(base), (num, 3))

  def __len__(self):
    return len(self.triples)

  def read(self, indices: np.ndarray):
    picks = self.triples[indices]
    images, labels = self.base.read(picks.reshape(-1))
    n = len(indices)
    images = images.reshape(n, 3, *images.shape[1:3])         # (n, 3, H, W): channel 0 of each
    labels = labels.reshape(n, 3).astype(np.int64)
    return (np.moveaxis(images, 1, -1),
            (labels[:, 0] * 100 + labels[:, 1] * 10 + labels[:, 2]).astype(np.int32))
