"""The dataset classifiers that evaluators use: a small CNN per labelled dataset, its saved
files, and its inference API. Trained once by `python -m gan_jax.classifier --dataset=NAME`
(`evaluators/classifier_training.py`); used as the feature extractor of a domain Fréchet
distance (as TF-GAN measures MNIST with its own classifier), to label generated digits for mode
counting, and to check the class of conditional samples.

This module owns:
- the network (`Net`): 32x32x1 input, two stride-2 3x3 convolutions (32, 64 channels), a dense
  layer of 128 (the 'features'), and the class logits;
- the files, in `<out_dir>/<dataset>/` (out_dir defaults to $GAN_JAX_CLASSIFIERS, else
  `classifiers`): `variables.npz` ('/'-joined Flax paths) and `meta.json` (dataset, sizes,
  test accuracy, steps, seed), each written to a temporary file and renamed;
- the inference API: `load(dataset)` returns a `Classifier` whose `features`, `probabilities`
  and `predict` take NHWC images of any size with 1 or 3 channels, float in [-1, 1] or uint8.
  Images are resized (bilinear) to 32x32 and RGB is averaged to gray, inside the jitted
  function, in batches of `BATCH` with the last one padded, so each input shape compiles once.
"""

from __future__ import annotations

import functools
import json
import os

import flax.linen as nn
from flax import traverse_util
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import files
from gan_jax.data import convert

DATASETS = ('digits', 'mnist', 'fashion_mnist')
NUM_CLASSES = {'digits': 10, 'mnist': 10, 'fashion_mnist': 10}
# 400 steps of 64 are ~19 epochs of the 1,347 digits (300 already reach ~99%); 5,000 are ~5
# epochs of the TFDS sets.
DEFAULT_STEPS = {'digits': 400, 'mnist': 5000, 'fashion_mnist': 5000}
IMAGE_SIZE = 32
FEATURES = 128
BATCH = 500              # images per jitted inference call
TRAIN_BATCH = 64
VARIABLES_FILE = 'variables.npz'
META_FILE = 'meta.json'


def default_out_dir() -> str:
  return os.environ.get('GAN_JAX_CLASSIFIERS', 'classifiers')


def _command(dataset: str, out_dir: str | None) -> str:
  command = f'python -m gan_jax.classifier --dataset={dataset}'
  if out_dir is not None and out_dir != default_out_dir():
    command += f' --out_dir={out_dir}'
  return command


def _check_dataset(dataset: str) -> None:
  if dataset not in DATASETS:
    raise ValueError(f'no classifier for dataset {dataset!r}; choose one of {list(DATASETS)}')


class Net(nn.Module):
  num_classes: int

  @nn.compact
  def __call__(self, x):
    """(features (N, FEATURES), logits (N, num_classes)) of 32x32x1 images in [-1, 1]."""
    # Strided convolutions rather than stride-1 ones and max pooling: on XLA:CPU, a training
    # step is three times faster, and 8x8 digits need no more resolution.
    x = nn.relu(nn.Conv(32, (3, 3), strides=2, name='conv1')(x))    # 16x16
    x = nn.relu(nn.Conv(64, (3, 3), strides=2, name='conv2')(x))    # 8x8
    x = x.reshape(x.shape[0], -1)
    features = nn.relu(nn.Dense(FEATURES, name='features')(x))
    return features, nn.Dense(self.num_classes, name='logits')(features)


def prepare(images: jax.Array) -> jax.Array:
  """NHWC images of any size, 1 or 3 channels, uint8 or [-1, 1], as the net's 32x32x1 input."""
  x = convert.to_unit_range(images).astype(jnp.float32)
  if x.shape[-1] == 3:
    x = x.mean(axis=-1, keepdims=True)
  if x.shape[1:3] != (IMAGE_SIZE, IMAGE_SIZE):
    x = jax.image.resize(x, (x.shape[0], IMAGE_SIZE, IMAGE_SIZE, 1), method='bilinear')
  return x


@functools.partial(jax.jit, static_argnums=0)
def _outputs(model: Net, variables, images: jax.Array):
  features, logits = model.apply(variables, prepare(images))
  return features, jax.nn.softmax(logits), jnp.argmax(logits, axis=-1)


class Classifier:
  """A trained `Net` and its meta data; the methods take numpy NHWC images (see module doc)."""

  def __init__(self, variables, meta: dict):
    self.meta = dict(meta)
    self.dataset = meta['dataset']
    self.num_classes = int(meta['num_classes'])
    self.test_accuracy = meta.get('test_accuracy')
    self.model = Net(self.num_classes)
    self.variables = jax.tree.map(jnp.asarray, variables)

  def _run(self, images) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    images = np.asarray(images)
    if images.ndim == 3:
      images = images[..., None]  # (N, H, W): grayscale without its channel axis
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
      raise ValueError(f'expected images (N, H, W, C) with C 1 or 3, got shape {images.shape}')
    if images.dtype != np.uint8 and not np.issubdtype(images.dtype, np.floating):
      raise ValueError(f'expected float images in [-1, 1] or uint8, got dtype {images.dtype}')
    n = len(images)
    outputs = []
    for start in range(0, n, BATCH):
      batch = images[start:start + BATCH]
      if len(batch) < BATCH:  # pad, so that every call has the one compiled shape
        batch = np.concatenate([batch, np.zeros((BATCH - len(batch),) + batch.shape[1:],
                                                batch.dtype)])
      outputs.append(jax.device_get(_outputs(self.model, self.variables, batch)))
    if not outputs:
      return (np.zeros((0, FEATURES), np.float32), np.zeros((0, self.num_classes), np.float32),
              np.zeros(0, np.int32))
    features, probabilities, predictions = (np.concatenate(parts)[:n] for parts in zip(*outputs))
    return features, probabilities, predictions.astype(np.int32)

  def features(self, images) -> np.ndarray:
    """The penultimate layer's activations, (N, 128)."""
    return self._run(images)[0]

  def probabilities(self, images) -> np.ndarray:
    """Class probabilities, (N, num_classes)."""
    return self._run(images)[1]

  def predict(self, images) -> np.ndarray:
    """The most probable class of each image, (N,) int32."""
    return self._run(images)[2]

  def accuracy(self, images, labels) -> float:
    return float(np.mean(self.predict(images) == np.asarray(labels)))


def save(classifier: Classifier, out_dir: str | None = None) -> str:
  """Writes the variables, then meta.json (last, so it marks a complete save); returns the
  directory."""
  directory = os.path.join(default_out_dir() if out_dir is None else out_dir,
                           classifier.dataset)
  os.makedirs(directory, exist_ok=True)
  flat = traverse_util.flatten_dict(jax.device_get(classifier.variables), sep='/')
  files.write_atomically(os.path.join(directory, VARIABLES_FILE),
                         lambda f: np.savez(f, **{k: np.asarray(v) for k, v in flat.items()}))
  files.write_json(os.path.join(directory, META_FILE), classifier.meta, sort_keys=True)
  return directory


def load(dataset: str, out_dir: str | None = None) -> Classifier:
  """The saved classifier of `dataset`, from `<out_dir>/<dataset>/`."""
  _check_dataset(dataset)
  directory = os.path.join(default_out_dir() if out_dir is None else out_dir, dataset)
  meta_path = os.path.join(directory, META_FILE)
  variables_path = os.path.join(directory, VARIABLES_FILE)
  if not (os.path.exists(meta_path) and os.path.exists(variables_path)):
    raise FileNotFoundError(
        f'no trained {dataset} classifier in {os.path.abspath(directory)} (expected '
        f'{META_FILE} and {VARIABLES_FILE}); train it with\n  {_command(dataset, out_dir)}')
  with open(meta_path, encoding='utf-8') as f:
    meta = json.load(f)
  with np.load(variables_path) as npz:
    flat = {k: npz[k] for k in npz.files}
  variables = traverse_util.unflatten_dict(flat, sep='/')
  model = Net(int(meta['num_classes']))
  expected = jax.eval_shape(model.init, jax.random.key(0),
                            jnp.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1)))
  expected = {k: v.shape for k, v in traverse_util.flatten_dict(expected, sep='/').items()}
  got = {k: v.shape for k, v in flat.items()}
  if got != expected:
    raise ValueError(f'{variables_path} does not hold the variables of this version\'s '
                     f'classifier (expected {expected}, got {got}); retrain it with\n'
                     f'  {_command(dataset, out_dir)}')
  return Classifier(variables, meta)


