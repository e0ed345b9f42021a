"""Image-to-image translation data: images of two domains, A (the generator's input) and B (its
target), paired (Pix2Pix: each A image has its own B image) or unpaired (CycleGAN: two sets).

A source's `read(indices)` gives a dict, which the pipeline carries as it is:
- 'a', 'b': uint8 (n, S, S, C), the input and the output domain. `data.direction='BtoA'` swaps
  the domains of every name below, so 'a' is always what the generator reads;
- 'label', 'label_b': int32 (n,), the classes of the 'a' and the 'b' image (0 when the data has
  none); only evaluation reads them.
S is `data.load_size`, or `data.image_size` when that is 0: the training step crops S down to
image_size at random (and flips, with `data.flip`) on the device. C is `data.channels` (1 or 3).

Names (`data.name`):
- `edges2digits` (embedded, paired): B is a scikit-learn digit (digits.py) at S x S; A is its
  outline in 255 on 0: the morphological gradient (3x3 binary dilation minus 3x3 binary
  erosion, `scipy.ndimage`) of the mask `image > EDGE_LEVEL` (0.4) of the [0, 1] digit, i.e.
  the pixels whose 3x3 neighbourhood holds values on both sides of 0.4. A closed line two
  pixels wide, one inside the stroke and one outside; the frame counts as dark, so a stroke
  that touches it is closed along it.
- `printed2handwritten` (embedded, unpaired): A is digits printed in the font that ships with
  Pillow (`printed_digits`), B the bundled handwritten digits.
  Both bundled tasks take the digits' split (`digits.split_indices`): 'train' holds the 1,347
  handwritten digits the classifier trains on, 'test' its 450. The printed digits number
  `data.num_train` in 'train' and PRINTED_TEST in 'test', drawn from separate streams.
- `aligned` (Pix2Pix's format, paired): the files of `data.path/<split>/`, each A and B side by
  side (A on the left), split at half the width.
- `paired`: the files of `data.path/A/` and `data.path/B/` with the same names, or of
  `A/<split>/` and `B/<split>/` when those exist (the layout the official combine script reads).
- `unpaired` (CycleGAN's layout): `data.path/<split>A/` and `<split>B/` (trainA, testA, ...).
- `cycle_gan/<name>` (TFDS, unpaired, e.g. `cycle_gan/horse2zebra`): the splits trainA and
  trainB, or testA and testB; labels 0. With `data.path` set, that folder is read in the
  `unpaired` layout instead (the official zips unpack to it).

An unpaired source pairs A and B arbitrarily but fixedly: example i holds A[i mod nA] and
B[perm[i mod nB]], `perm` a permutation of B drawn from the seed (so files that happen to share
an order are not always shown together), and it has max(nA, nB) examples, so an epoch shows
every image of both domains. The pipeline reshuffles the examples every epoch.

Folder images are resized to S x S ignoring their aspect ratio (bicubic, as the official
'resize_and_crop' does), not centre-cropped as `folder` images are. An example with a file that
cannot be decoded is replaced by the next readable example in sorted order (both images of a
pair together), as `sources.FolderSource` does, so the stream stays deterministic.
"""

from __future__ import annotations

import functools
import os
import threading
import types

from absl import logging
import numpy as np
from PIL import Image

from gan_jax.data import digits, sources

BUNDLED = ('edges2digits', 'printed2handwritten')
LAYOUTS = ('aligned', 'paired', 'unpaired')   # folders below data.path
TRANSLATION = BUNDLED + LAYOUTS               # and any 'cycle_gan/<name>' of TFDS
TFDS_PREFIX = 'cycle_gan/'
PAIRED = ('edges2digits', 'aligned', 'paired')
DIRECTIONS = ('AtoB', 'BtoA')
SPLIT_FOLDERS = ('train', 'test', 'val')      # the splits Pix2Pix's datasets come in

EDGE_LEVEL = 0.4          # edges2digits: outline of the [0, 1] digit's pixels above this
PRINTED_TEST = 500        # printed digits in printed2handwritten's 'test' split
DEFAULT_NUM_PRINTED = 1347  # ... and in 'train' when data.num_train is not set
_PRINTED_STREAM = 0x9217  # seed constants of the printed digits and of the unpaired pairing
_PAIRING_STREAM = 0xB0B


def is_translation(name: str) -> bool:
  return name in TRANSLATION or name.startswith(TFDS_PREFIX)


def kind(name: str) -> str:
  """'paired' or 'unpaired' (DataSpec.kind)."""
  return 'paired' if name in PAIRED else 'unpaired'


def load_size(c) -> int:
  """S, the side of the images a source gives: data.load_size, or data.image_size if 0."""
  return c.get('load_size', 0) or c.image_size


def channels(c) -> int:
  """C, the channels of every image: data.channels (the bundled digits default to 1)."""
  return c.get('channels', 1 if c.name in BUNDLED else 3)


def layout(c) -> str | None:
  """The folder layout `c` reads, or None for a bundled or TFDS name."""
  if c.name in LAYOUTS:
    return c.name
  if c.name.startswith(TFDS_PREFIX) and c.get('path'):
    return 'unpaired'
  return None


def _entries(a, b, label_a, label_b) -> dict[str, np.ndarray]:
  return {'a': a, 'b': b, 'label': np.asarray(label_a, np.int32),
          'label_b': np.asarray(label_b, np.int32)}


class PairedArrays:
  """Pairs in memory: example i is (a[i], b[i])."""

  def __init__(self, a, b, label_a, label_b):
    self.a, self.b = a, b
    self.label_a, self.label_b = np.asarray(label_a, np.int32), np.asarray(label_b, np.int32)

  def __len__(self):
    return len(self.a)

  def read(self, indices: np.ndarray):
    return _entries(self.a[indices], self.b[indices], self.label_a[indices],
                    self.label_b[indices])


class UnpairedSource:
  """Two sources of `(images, labels)`, A and B, paired arbitrarily but fixedly (see above)."""

  def __init__(self, a, b, seed: int):
    self.a, self.b = a, b
    self.perm_b = np.random.default_rng([seed, _PAIRING_STREAM]).permutation(len(b))

  def __len__(self):
    return max(len(self.a), len(self.b))

  def read(self, indices: np.ndarray):
    indices = np.asarray(indices, np.int64)
    images_a, labels_a = self.a.read(indices % len(self.a))
    images_b, labels_b = self.b.read(self.perm_b[indices % len(self.b)])
    return _entries(images_a, images_b, labels_a, labels_b)


# ---- Images from files ----
def _resized(image: Image.Image, size: int, channels: int) -> np.ndarray:
  image = image.convert('L' if channels == 1 else 'RGB')
  if image.size != (size, size):
    image = image.resize((size, size), Image.BICUBIC)
  array = np.asarray(image, np.uint8)
  return array[..., None] if channels == 1 else array


def _decode(path: str, *, size: int, channels: int, aligned: bool) -> list[np.ndarray]:
  """The image of `path` at size x size, or with `aligned` its left and right halves."""
  with Image.open(path) as image:
    if image.format == 'JPEG':  # decode at a reduced DCT scale that keeps enough pixels
      image.draft('L' if channels == 1 else 'RGB', ((2 if aligned else 1) * size, size))
    if not aligned:
      return [_resized(image, size, channels)]
    width, height = image.size
    half = width // 2  # as the official code splits: A = [0, w/2), B = [w/2, w)
    image.load()
    return [_resized(image.crop((0, 0, half, height)), size, channels),
            _resized(image.crop((half, 0, width, height)), size, channels)]


class ImageFiles:
  """Examples made of image files, decoded as they are read. Each example is a tuple of paths;
  each path gives one image, or with `aligned` two (its halves). `swap` reverses the images of
  an example (data.direction='BtoA'). Examples of one image read as a plain source,
  `(images, labels)` with labels 0; examples of two as translation entries.

  An example with a file that cannot be decoded is replaced by the next readable one in order,
  and each such file is logged once, as `sources.FolderSource` does."""

  def __init__(self, files: list[tuple[str, ...]], *, size: int, channels: int,
               aligned: bool = False, swap: bool = False):
    self.files = files
    self.decode = functools.partial(_decode, size=size, channels=channels, aligned=aligned)
    self.swap = swap
    self.images_per_example = len(files[0]) * (2 if aligned else 1)
    self._lock = threading.Lock()
    self.skipped: set[str] = set()

  def __len__(self):
    return len(self.files)

  def _example(self, i: int) -> list[np.ndarray] | None:
    images = []
    for path in self.files[i]:
      try:
        images.extend(self.decode(path))
      except Exception as e:  # PIL raises many types for damaged or unsupported files
        sources.note_skipped(self.skipped, self._lock, path, e)
        return None
    return images[::-1] if self.swap else images

  def read_one(self, i: int) -> list[np.ndarray]:
    """The images of example `i`, or of the next readable example after it."""
    attempts = min(len(self.files), sources._MAX_CONSECUTIVE_FAILURES)
    for j in range(i, i + attempts):
      images = self._example(j % len(self.files))
      if images is not None:
        return images
    raise OSError(f'{attempts} consecutive examples from {self.files[i % len(self.files)]} on '
                  'could not be read as images: is the data.path folder still there, and does '
                  'it hold images?')

  def read(self, indices: np.ndarray):
    examples = [self.read_one(int(i)) for i in indices]
    images = [np.stack(column) for column in zip(*examples)]
    zeros = np.zeros(len(indices), np.int32)
    if self.images_per_example == 1:
      return images[0], zeros
    return _entries(images[0], images[1], zeros, zeros)


def _list(folder: str) -> list[str]:
  """The images below `folder`, sorted (raises naming the folder when there are none)."""
  if not os.path.isdir(folder):
    raise FileNotFoundError(f'{folder} is not a directory')
  return sources.list_images(folder, labels=False)[0]


def _aligned_folder(c) -> str:
  root = os.path.abspath(os.path.expanduser(c.path))
  folder = os.path.join(root, c.get('split', 'train'))
  if not os.path.isdir(folder):
    raise FileNotFoundError(
        f"data.name='aligned' reads the images of data.path/<split>/, but {folder} is not a "
        f'directory (data.split={c.get("split", "train")!r}); the folders of {root} are '
        f'{sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))}')
  return folder


def _paired_folders(c) -> tuple[str, str]:
  root = os.path.abspath(os.path.expanduser(c.path))
  split = c.get('split', 'train')
  a, b = os.path.join(root, 'A'), os.path.join(root, 'B')
  for folder in (a, b):
    if not os.path.isdir(folder):
      raise FileNotFoundError(f"data.name='paired' reads data.path/A/ and data.path/B/ (files "
                              f'of the same names), but {folder} is not a directory')
  if os.path.isdir(os.path.join(a, split)):
    a, b = os.path.join(a, split), os.path.join(b, split)
    if not os.path.isdir(b):
      raise FileNotFoundError(f'{a} exists but {b} does not: each split of A needs its B')
  elif any(os.path.isdir(os.path.join(a, s)) for s in SPLIT_FOLDERS):
    raise FileNotFoundError(f'{a} holds split folders but not {split!r} (data.split)')
  return a, b


def _unpaired_folders(c) -> tuple[str, str]:
  root = os.path.abspath(os.path.expanduser(c.path))
  split = c.get('split', 'train')
  folders = os.path.join(root, f'{split}A'), os.path.join(root, f'{split}B')
  for folder in folders:
    if not os.path.isdir(folder):
      raise FileNotFoundError(f"data.name={c.name!r} reads the unpaired layout, "
                              f'data.path/{split}A/ and data.path/{split}B/ for '
                              f'data.split={split!r}, but {folder} is not a directory')
  return folders


def _paired_files(c) -> list[tuple[str, str]]:
  """(A file, B file) pairs of the `paired` layout, matched by their path below A and B."""
  a, b = _paired_folders(c)
  names_a = [os.path.relpath(f, a) for f in _list(a)]
  names_b = [os.path.relpath(f, b) for f in _list(b)]
  only_a, only_b = sorted(set(names_a) - set(names_b)), sorted(set(names_b) - set(names_a))
  if only_a or only_b:
    raise ValueError(
        f"data.name='paired' pairs the files of {a} and {b} by name, but {len(only_a)} in A "
        f'have no namesake in B {only_a[:4]} and {len(only_b)} in B none in A {only_b[:4]}')
  return [(os.path.join(a, n), os.path.join(b, n)) for n in names_a]


def _first_size(files: list[str]) -> tuple[str, tuple[int, int]]:
  """The first file that opens as an image, and its (width, height); reads headers only."""
  for path in files[:sources._MAX_CONSECUTIVE_FAILURES]:
    try:
      with Image.open(path) as image:
        return path, image.size
    except Exception:  # skipped when read, as every unreadable file is
      continue
  raise OSError(f'none of the first files from {files[0]} on could be read as images')


# ---- The bundled tasks ----
def _digits(size: int, split: str):
  """The handwritten digits of `split` at size x size: float (n, size, size) in [0, 1], labels."""
  images, labels = digits.load(types.SimpleNamespace(image_size=size), 0)
  images, labels = digits.split(images, labels, split)
  return (images[..., 0] + 1.0) / 2.0, labels


def _uint8(unit: np.ndarray, channels: int) -> np.ndarray:
  """Float (n, S, S) in [0, 1] as uint8 (n, S, S, channels)."""
  array = np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)[..., None]
  return np.repeat(array, channels, axis=-1)


def outline(images: np.ndarray) -> np.ndarray:
  """Boolean outlines of float images (n, H, W) in [0, 1], as edges2digits draws them."""
  from scipy import ndimage  # lazy: only the edges need it
  mask = images > EDGE_LEVEL
  footprint = np.ones((1, 3, 3), bool)  # 3x3 within each image, never across images
  return ndimage.binary_dilation(mask, footprint) & ~ndimage.binary_erosion(mask, footprint)


@functools.lru_cache(maxsize=None)
def _font(size: int):
  from PIL import ImageFont
  return ImageFont.load_default(size=size)


def _print(digit: int, font_size: int, stroke: int, angle: float, squeeze: float,
           shift: np.ndarray) -> np.ndarray:
  from PIL import ImageDraw
  canvas = Image.new('L', (64, 64), 0)
  draw = ImageDraw.Draw(canvas)
  font = _font(font_size)
  x0, y0, x1, y1 = draw.textbbox((0, 0), str(digit), font=font, stroke_width=stroke)
  draw.text((round(32 - (x0 + x1) / 2), round(32 - (y0 + y1) / 2)), str(digit), fill=255,
            font=font, stroke_width=stroke, stroke_fill=255)
  # One affine map about the centre: squeeze the width, rotate, shift. PIL's transform takes
  # the inverse map (output pixel -> input pixel).
  cos, sin = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
  m = np.array([[cos / squeeze, sin / squeeze], [-sin, cos]])
  origin = 32.0 + shift
  offset = 32.0 - m @ origin
  canvas = canvas.transform((64, 64), Image.AFFINE,
                            (m[0, 0], m[0, 1], offset[0], m[1, 0], m[1, 1], offset[1]),
                            resample=Image.BILINEAR)
  ink = np.asarray(canvas, np.float32)[16:48, 16:48] / 255.0
  # The bundled digits are counts of ink in 4x4 cells of 32x32 bitmaps (0..16): the same.
  return np.round(ink.reshape(8, 4, 8, 4).mean(axis=(1, 3)) * 16.0) / 16.0


def printed_digits(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
  """Digits `labels` printed with Pillow's bundled font (Aileron, through FreeType), as float
  (n, size, size) in [0, 1], light on dark like the handwritten ones.

  Each is drawn white on black in a 64x64 canvas, centred on its ink, with a font size from
  34 to 44 pixels (the glyph 24 to 32 pixels high) and a stroke width of 0 to 2 pixels; then
  squeezed to 65-95% of its width (handwritten digits are narrow), rotated by up to 10 degrees
  either way and shifted by up to 1.5 pixels. All of these are drawn from `rng`. The central
  32x32 then goes through the handwritten digits' own path: ink counted in 4x4 cells to 8x8
  with 17 levels, as scikit-learn's digits were made, and upscaled bilinearly to `size`
  (`digits.upscale`), so that the printed digits are exactly as blurred as the handwritten
  ones and sharpness alone does not tell the domains apart."""
  n = len(labels)
  font_sizes = rng.integers(34, 45, n)
  strokes = rng.integers(0, 3, n)
  angles = rng.uniform(-10.0, 10.0, n)
  squeezes = rng.uniform(0.65, 0.95, n)
  shifts = rng.uniform(-1.5, 1.5, (n, 2))
  cells = np.stack([_print(int(d), int(f), int(s), a, q, t) for d, f, s, a, q, t in
                    zip(labels, font_sizes, strokes, angles, squeezes, shifts)])
  return digits.upscale(cells, size)


def _edges2digits(c, size: int, swap: bool) -> PairedArrays:
  unit, labels = _digits(size, c.get('split', 'train'))
  edges, targets = _uint8(outline(unit), channels(c)), _uint8(unit, channels(c))
  a, b = (targets, edges) if swap else (edges, targets)
  return PairedArrays(a, b, labels, labels)


def _printed2handwritten(c, size: int, seed: int):
  """(printed, handwritten) as `(images, labels)` sources of the split."""
  split = c.get('split', 'train')
  handwritten, labels_b = _digits(size, split)
  num = c.get('num_train', DEFAULT_NUM_PRINTED) if split == 'train' else PRINTED_TEST
  rng = np.random.default_rng([seed, _PRINTED_STREAM, digits.SPLITS.index(split)])
  labels_a = rng.permutation(np.arange(num) % 10).astype(np.int32)  # balanced classes
  printed = printed_digits(labels_a, size, rng)
  return (sources.ArraySource(_uint8(printed, channels(c)), labels_a),
          sources.ArraySource(_uint8(handwritten, channels(c)), labels_b))


def _tfds_domain(c, split: str, size: int):
  from gan_jax.data import tfds_source  # only a TFDS name needs TFDS
  domain = c.copy_and_resolve_references()
  with domain.unlocked():
    domain.split, domain.image_size, domain.crop = split, size, 0
    domain.image_key, domain.label_key = 'image', ''  # labels 0: A and B is all they say
  return tfds_source.TfdsSource(domain)


# ---- Checks and opening ----
def check(c, known_names=()) -> None:
  """Fast start-up checks of a translation config: names, sizes, folders, and the first
  aligned file's shape; decodes no image."""
  direction = c.get('direction', 'AtoB')
  if direction not in DIRECTIONS:
    raise ValueError(f'data.direction={direction!r}: choose one of {list(DIRECTIONS)} (which '
                     "domain the generator reads: 'AtoB' maps A to B)")
  if c.get('image_size', 0) <= 0:
    raise ValueError(f'data.name={c.name!r} needs data.image_size > 0, the model\'s image side')
  if c.get('load_size', 0) and c.load_size < c.image_size:
    raise ValueError(f'data.load_size={c.load_size} is smaller than data.image_size='
                     f'{c.image_size}: the step crops load_size down to image_size; choose '
                     'load_size >= image_size (the official 286 for 256), or 0 for no crop')
  if channels(c) not in (1, 3):
    raise ValueError(f'data.channels must be 1 (grayscale) or 3 (RGB), got {channels(c)}')
  split = c.get('split', 'train')
  if c.name in BUNDLED:
    if c.get('path'):
      raise ValueError(f'data.path is set, but data.name={c.name!r} is generated from the '
                       "bundled digits and reads no files; use data.name='aligned', 'paired' "
                       "or 'unpaired' to read folders")
    if split not in digits.SPLITS:
      raise ValueError(f'data.name={c.name!r} has the splits {digits.SPLITS}, not {split!r}')
    if c.name == 'printed2handwritten':
      from PIL import features
      if not features.check('freetype2'):
        raise ValueError('printed2handwritten prints digits with the font bundled with '
                         'Pillow, which needs Pillow >= 10.1 built with FreeType')
    return
  if layout(c) is None:  # a TFDS cycle_gan name
    if split not in ('train', 'test'):
      raise ValueError(f'TFDS {c.name!r} has the splits trainA/trainB and testA/testB: '
                       f"data.split must be 'train' or 'test', not {split!r}")
    import importlib.util
    if importlib.util.find_spec('tensorflow_datasets') is not None:
      from gan_jax.data import tfds_source
      tfds_source.builder(c, known_names)  # raises for a name not in the TFDS catalog
    return
  if not c.get('path'):
    raise ValueError(f'data.name={c.name!r} reads folders: set --config.data.path=DIR')
  if not os.path.isdir(os.path.expanduser(c.path)):
    raise FileNotFoundError(f'data.path={c.path!r} is not a directory')
  if layout(c) == 'aligned':
    path, (width, height) = _first_size(_list(_aligned_folder(c)))
    if width != 2 * height:
      raise ValueError(f"data.name='aligned' reads files holding A and B side by side (A on "
                       f'the left, each half square-ish: width twice the height), but {path} '
                       f'is {width}x{height}; for A and B in separate folders use '
                       "data.name='paired' (DIR/A, DIR/B)")
  elif layout(c) == 'paired':
    _paired_files(c)
  else:
    for folder in _unpaired_folders(c):
      _list(folder)


def open_source(c, seed: int):
  """The translation source of `c` (a dict-reading source; see the module docstring). With
  `data.cache`, folder and TFDS images are kept in memory after their first read: each domain
  of an unpaired source on its own, so that no image is decoded or held twice."""
  size, swap = load_size(c), c.get('direction', 'AtoB') == 'BtoA'
  cache = c.get('cache', False)
  split = c.get('split', 'train')
  if c.name == 'edges2digits':
    return _edges2digits(c, size, swap)
  if c.name == 'printed2handwritten':
    domains = _printed2handwritten(c, size, seed)
  elif layout(c) == 'aligned':
    files = [(f,) for f in _list(_aligned_folder(c))]
    source = ImageFiles(files, size=size, channels=channels(c), aligned=True, swap=swap)
    logging.info('%d aligned pairs in %s.', len(source), _aligned_folder(c))
    return sources.CachedSource(source) if cache else source
  elif layout(c) == 'paired':
    source = ImageFiles(_paired_files(c), size=size, channels=channels(c), swap=swap)
    logging.info('%d pairs in %s.', len(source), ', '.join(_paired_folders(c)))
    return sources.CachedSource(source) if cache else source
  elif layout(c) == 'unpaired':
    domains = tuple(ImageFiles([(f,) for f in _list(folder)], size=size, channels=channels(c))
                    for folder in _unpaired_folders(c))
    logging.info('Unpaired: %d and %d images in %s.', len(domains[0]), len(domains[1]),
                 ', '.join(_unpaired_folders(c)))
  else:
    domains = tuple(_tfds_domain(c, f'{split}{d}', size) for d in 'AB')
  if cache and c.name != 'printed2handwritten':
    domains = tuple(sources.CachedSource(d) for d in domains)
  a, b = domains[::-1] if swap else domains
  return UnpairedSource(a, b, seed)
