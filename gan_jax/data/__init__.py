"""Datasets by name.

`spec(data_config)` says what a dataset's examples look like without reading any (so a workdir
can be sampled with no data at hand); `open_source(data_config, seed)` returns a random-access
source (`sources.py`) that `pipeline.Batches` reads batches from.

Names:
- Embedded, no download: `digits` (scikit-learn's bundled 8x8 digits), the mixtures
  `gaussian_1d`, `ring`, `grid`, and `synthetic` (random images, for plumbing and benchmarks).
- Stacked digits (1,000 modes): `stacked_digits` (from the bundled digits) and `stacked_mnist`
  (from TFDS mnist): `data.num_train` triples, each three digits as the RGB channels.
- `folder`: every PNG or JPEG below `data.path`.
- Described images, for generation from a description (StackGAN; batches {'image', 'label',
  'condition'}, `descriptions.py`): `described_digits` (embedded: each digit's class,
  thickness, slant and size as a 13-d vector), or a folder with `data.embeddings=FILE.npy`,
  one description embedding per image or several (the CUB and Oxford-102 releases' layout).
- Image-to-image translation (`translation.py`; examples are pairs of images 'a' and 'b'):
  `edges2digits` (paired) and `printed2handwritten` (unpaired), embedded; the folder layouts
  `aligned` (Pix2Pix's side-by-side files), `paired` (DIR/A, DIR/B) and `unpaired` (CycleGAN's
  DIR/trainA, DIR/trainB); and TFDS `cycle_gan/<name>` (e.g. `cycle_gan/horse2zebra`).
- Any TFDS dataset with an image feature: `mnist`, `fashion_mnist`, `cifar10`, `celeb_a`, or
  any other name in the TFDS catalog (`data.image_key`, `data.label_key`).
A TFDS name with `data.path` set reads that folder instead: the dataset's images as files (for
`cycle_gan/<name>`, a folder in the `unpaired` layout).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os

import numpy as np

from gan_jax.data import descriptions, digits, sources, toy, translation

EMBEDDED = ('digits', 'described_digits', 'stacked_digits', 'gaussian_1d', 'ring', 'grid',
            'synthetic') + translation.BUNDLED
MIXTURES = ('gaussian_1d', 'ring', 'grid')
TFDS_CATALOG = ('mnist', 'fashion_mnist', 'cifar10', 'celeb_a')  # tested; any TFDS name works
STACKED = {'stacked_digits': 'digits', 'stacked_mnist': 'mnist'}  # name -> grayscale base
NAMES = (EMBEDDED + ('folder', 'stacked_mnist') + TFDS_CATALOG + translation.LAYOUTS
         + ('cycle_gan/horse2zebra',))  # any cycle_gan/<name> works


@dataclasses.dataclass(frozen=True)
class DataSpec:
  shape: tuple[int, ...]        # one example, e.g. (32, 32, 1) or (2,); translation: the
                                # model's image (after the step's crop) of either domain
  kind: str                     # 'image' (NHWC in [-1, 1]), 'points', or for translation
                                # 'paired' or 'unpaired' (batches {'a', 'b', 'label', ...})
  num_classes: int = 0          # classes of the labels; 0 when the data has none
  condition_shape: tuple[int, ...] = ()  # described images: (descriptions per image, dim)

  @property
  def is_translation(self) -> bool:
    return self.kind in ('paired', 'unpaired')

  @property
  def key(self) -> str:
    """The batch entry that holds the examples: 'image' or 'points' (translation batches hold
    'a' and 'b'; 'image' stands for both)."""
    return 'points' if self.kind == 'points' else 'image'


def _synthetic(c, seed):
  # Random images of the configured shape: for benchmarks and plumbing, not for learning.
  rng = np.random.default_rng(seed)
  shape = (c.num_train, c.image_size, c.image_size, c.channels)
  return sources.ArraySource(rng.integers(0, 256, shape, dtype=np.uint8))


def uses_folder(c) -> bool:
  """Whether `c` reads a `folder` source (translation layouts read folders their own way)."""
  return c.name == 'folder' or (c.name not in EMBEDDED and bool(c.get('path'))
                                and not translation.is_translation(c.name))


def spec(c) -> DataSpec:
  if c.name in MIXTURES:
    # Labels: each point's mixture component (a conditional GAN may take them).
    return DataSpec((1,) if c.name == 'gaussian_1d' else (2,), 'points',
                    c.get('num_classes', 0))
  if c.name in STACKED:
    return DataSpec((c.image_size, c.image_size, 3), 'image', 1000)
  if translation.is_translation(c.name):  # the bundled tasks' digits have labels, for evaluation
    return DataSpec((c.image_size, c.image_size, translation.channels(c)),
                    translation.kind(c.name),
                    10 if c.name in translation.BUNDLED else c.get('num_classes', 0))
  channels = 1 if c.name in ('digits', 'described_digits') else c.get('channels', 3)
  return DataSpec((c.image_size, c.image_size, channels), 'image', c.get('num_classes', 0),
                  descriptions.condition_shape(c))


def check(c) -> None:
  """Fast checks of a data config (names, paths, shapes); reads no examples."""
  if translation.is_translation(c.name):
    translation.check(c, NAMES)
    return
  if (c.name not in EMBEDDED and c.name not in ('folder', 'stacked_mnist')
      and not c.get('path')
      and importlib.util.find_spec('tensorflow_datasets') is not None):
    from gan_jax.data import tfds_source  # only a TFDS name needs TFDS
    tfds_source.builder(c, NAMES)  # raises for a name neither ours nor in the TFDS catalog
  if c.name == 'folder' and not c.get('path'):
    raise ValueError("data.name='folder' needs --config.data.path=DIR, a folder of images")
  if c.get('path') and c.name in EMBEDDED:
    raise ValueError(f'data.path is set, but data.name={c.name!r} is an embedded dataset that '
                     "reads no files; use data.name='folder' to train on a folder of images")
  if uses_folder(c) and not os.path.isdir(os.path.expanduser(c.path)):
    raise FileNotFoundError(f'data.path={c.path!r} is not a directory')
  if spec(c).kind == 'image':
    grayscale = c.name in ('digits', 'described_digits')
    if c.get('channels', 1 if grayscale else 3) not in (1, 3):
      raise ValueError(f'data.channels must be 1 (grayscale) or 3 (RGB), got {c.channels}')
    if grayscale and c.get('channels', 1) != 1:
      raise ValueError('the bundled digits are grayscale: data.channels must be 1')
    if c.get('digits_split', '') not in ('', *digits.SPLITS):
      raise ValueError(f"data.digits_split={c.digits_split!r}: choose '' (all 1,797 digits), "
                       "'train' (1,347) or 'test' (450)")
    if c.name in STACKED and c.get('channels', 3) != 3:
      raise ValueError(f'{c.name} stacks three digits as RGB: data.channels must be 3')
  descriptions.check(c)


def open_source(c, seed: int):
  """The random-access source of `c` (see sources.py)."""
  check(c)
  if translation.is_translation(c.name):
    source = translation.open_source(c, seed)  # caches itself with data.cache
  elif c.name == 'digits':
    source = sources.ArraySource(*digits.load(c, seed))
  elif c.name == 'described_digits':
    source = descriptions.described_digits(c)
  elif c.name in STACKED:
    base = c.copy_and_resolve_references()
    base.name, base.channels = STACKED[c.name], 1
    source = sources.StackedSource(open_source(base, seed), c.num_train, seed)
  elif c.name in MIXTURES:
    source = sources.ArraySource(*toy.load(c, seed))
  elif c.name == 'synthetic':
    source = _synthetic(c, seed)
  elif uses_folder(c) and c.get('embeddings'):
    source = descriptions.described_folder(c)
  elif uses_folder(c):
    source = sources.FolderSource(c.path, size=c.image_size, channels=c.channels,
                                  crop=c.get('crop', 0), labels=c.get('labels', False))
  else:
    from gan_jax.data import tfds_source
    source = tfds_source.TfdsSource(c)
  if (c.get('cache', False) and not isinstance(source, sources.ArraySource)
      and c.name not in STACKED and not translation.is_translation(c.name)):
    source = sources.CachedSource(source)  # stacked sources cache their base: 1/3 the images
  first = source.read(np.zeros(1, np.int64))
  expected = spec(c).shape
  if isinstance(first, dict) and 'condition' in first:  # described images
    got = {'examples': first['image'].shape[1:]}
  elif isinstance(first, dict):  # translation: 'a' and 'b' arrive at load_size, before the crop
    size = translation.load_size(c)
    expected = (size, size, expected[-1])
    got = {k: first[k].shape[1:] for k in ('a', 'b')}
  else:
    got = {'examples': first[0].shape[1:]}
  for key, shape in got.items():
    if shape != expected:
      raise ValueError(f'data {c.name!r} gave {key} of shape {shape}, expected {expected}')
  return source
