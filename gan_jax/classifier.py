"""A small CNN classifier per labelled dataset: trained once, then used by the evaluators as the
feature extractor of a domain Fréchet distance (as TF-GAN measures MNIST with its own
classifier) and to label generated digits for mode counting.

  python -m gan_jax.classifier --dataset=digits [--out_dir=DIR] [--steps=N] [--seed=S]

On 2 busy CPU cores the digits classifier trains in about 20 s (400 steps of 64, compilation
included; 25 s for the whole command) and reaches about 99% test accuracy (0.991 with seed 0);
the command prints the accuracy and the directory it wrote. `mnist` and
`fashion_mnist` (TFDS, prepared as in the README) train for 5,000 steps by default.

This module owns:
- the data splits: TFDS 'train' and 'test' for `mnist` and `fashion_mnist`; for `digits`, which
  has no split, a stratified 75/25 split of scikit-learn's 1,797 images made with
  `train_test_split(test_size=0.25, stratify=labels, random_state=0)`: 1,347 train and 450 test
  images, the same whatever `--seed` (the seed only changes initialisation and batches);
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
import sys
import time

from absl import app, flags, logging
import flax.linen as nn
from flax import traverse_util
import jax
import jax.numpy as jnp
import numpy as np
import optax

DATASETS = ('digits', 'mnist', 'fashion_mnist')
NUM_CLASSES = {'digits': 10, 'mnist': 10, 'fashion_mnist': 10}
# 400 steps of 64 are ~19 epochs of the 1,347 digits (300 already reach ~99%); 5,000 are ~5
# epochs of the TFDS sets.
DEFAULT_STEPS = {'digits': 400, 'mnist': 5000, 'fashion_mnist': 5000}
IMAGE_SIZE = 32
FEATURES = 128
BATCH = 500              # images per jitted inference call
TRAIN_BATCH = 64
LEARNING_RATE = 1e-3     # Adam, cosine-decayed to 0 over the run
MAX_SHIFT = 2            # training augmentation: random translations of up to this many pixels
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


def _to_unit(images: jax.Array) -> jax.Array:
  """uint8 0..255 to float32 [-1, 1]; float images are taken to be in [-1, 1] already."""
  if images.dtype == jnp.uint8:
    return images.astype(jnp.float32) / 127.5 - 1.0
  return images.astype(jnp.float32)


def prepare(images: jax.Array) -> jax.Array:
  """NHWC images of any size, 1 or 3 channels, uint8 or [-1, 1], as the net's 32x32x1 input."""
  x = _to_unit(images)
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


def _read(dataset: str, split: str | None = None):
  from gan_jax import configs
  from gan_jax import data as data_lib
  c = configs.base_config()
  configs.image_data(c, dataset, image_size=IMAGE_SIZE, channels=1)
  if split is not None:
    c.data.split = split
  source = data_lib.open_source(c.data, 0)
  return source.read(np.arange(len(source)))


def read_splits(dataset: str):
  """(train images, train labels, test images, test labels); images 32x32x1, float32 [-1, 1]
  for digits and uint8 for TFDS (the classifier takes both)."""
  _check_dataset(dataset)
  if dataset == 'digits':
    from sklearn.model_selection import train_test_split
    images, labels = _read(dataset)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.25, stratify=labels, random_state=0)
    return x_train, y_train, x_test, y_test
  x_train, y_train = _read(dataset, 'train')
  x_test, y_test = _read(dataset, 'test')
  return x_train, y_train, x_test, y_test


def _shift(key: jax.Array, x: jax.Array) -> jax.Array:
  """Each image translated by up to MAX_SHIFT pixels either way, filled with background (-1)."""
  s = MAX_SHIFT
  padded = jnp.pad(x, ((0, 0), (s, s), (s, s), (0, 0)), constant_values=-1.0)
  offsets = jax.random.randint(key, (len(x), 2), 0, 2 * s + 1)
  crop = lambda image, o: jax.lax.dynamic_slice(image, (o[0], o[1], 0), x.shape[1:])
  return jax.vmap(crop)(padded, offsets)


def _batches(n: int, batch_size: int, rng: np.random.Generator):
  """Indices of batches drawn without replacement from successive epochs' permutations."""
  order = np.zeros(0, np.int64)
  while True:
    while len(order) < batch_size:
      order = np.concatenate([order, rng.permutation(n)])
    yield order[:batch_size]
    order = order[batch_size:]


def fit(images, labels, *, num_classes: int, steps: int, seed: int = 0,
        batch_size: int = TRAIN_BATCH, log_every: int = 100):
  """The trained variables of a `Net` on `images` (32x32x1); deterministic given the seed."""
  model = Net(num_classes)
  # XLA's own generator: with the default threefry, compiling the initialisation takes ~6 s on
  # 2 CPU cores, longer than a third of the digits training.
  init_key, shift_key = jax.random.split(jax.random.key(seed, impl='rbg'))
  variables = jax.jit(model.init)(init_key, jnp.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1)))
  optimizer = optax.adam(optax.cosine_decay_schedule(LEARNING_RATE, steps))
  opt_state = optimizer.init(variables)

  @jax.jit
  def step(variables, opt_state, x, y, key):
    x = _shift(key, prepare(x))

    def loss_fn(variables):
      _, logits = model.apply(variables, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    loss, grads = jax.value_and_grad(loss_fn)(variables)
    updates, opt_state = optimizer.update(grads, opt_state, variables)
    return optax.apply_updates(variables, updates), opt_state, loss

  batches = _batches(len(images), batch_size, np.random.default_rng(seed))
  losses = []
  for i in range(steps):
    index = next(batches)
    variables, opt_state, loss = step(variables, opt_state, images[index], labels[index],
                                      jax.random.fold_in(shift_key, i))
    losses.append(loss)
    if (i + 1) % log_every == 0 or i + 1 == steps:
      # Fetching only at log steps keeps the host from waiting on the device every step.
      logging.info('step %d/%d: loss %.4f', i + 1, steps, float(np.mean(jax.device_get(losses))))
      losses = []
  return variables


def _write_atomically(path: str, write) -> None:
  """`write(file)` to a temporary file, then a rename: a reader never sees half a file."""
  tmp = path + '.tmp'
  with open(tmp, 'wb') as f:
    write(f)
  os.replace(tmp, path)


def save(classifier: Classifier, out_dir: str | None = None) -> str:
  """Writes the variables, then meta.json (last, so it marks a complete save); returns the
  directory."""
  directory = os.path.join(default_out_dir() if out_dir is None else out_dir,
                           classifier.dataset)
  os.makedirs(directory, exist_ok=True)
  flat = traverse_util.flatten_dict(jax.device_get(classifier.variables), sep='/')
  _write_atomically(os.path.join(directory, VARIABLES_FILE),
                    lambda f: np.savez(f, **{k: np.asarray(v) for k, v in flat.items()}))
  text = json.dumps(classifier.meta, indent=2, sort_keys=True) + '\n'
  _write_atomically(os.path.join(directory, META_FILE), lambda f: f.write(text.encode()))
  return directory


def fit_and_evaluate(dataset: str, *, steps: int | None = None, seed: int = 0) -> Classifier:
  """Trains on the dataset's train split and measures accuracy on its test split; saves
  nothing (see `train`)."""
  _check_dataset(dataset)
  steps = DEFAULT_STEPS[dataset] if steps is None else steps
  if steps < 1:
    raise ValueError(f'steps must be at least 1, got {steps}')
  x_train, y_train, x_test, y_test = read_splits(dataset)
  logging.info('Training the %s classifier: %d train and %d test images, %d steps of %d.',
               dataset, len(x_train), len(x_test), steps, TRAIN_BATCH)
  start = time.perf_counter()
  variables = fit(x_train, y_train, num_classes=NUM_CLASSES[dataset], steps=steps, seed=seed)
  variables = jax.block_until_ready(variables)
  seconds = time.perf_counter() - start
  meta = {'dataset': dataset, 'image_size': IMAGE_SIZE, 'num_classes': NUM_CLASSES[dataset],
          'features': FEATURES, 'train_size': len(x_train), 'test_size': len(x_test),
          'steps': steps, 'batch_size': TRAIN_BATCH, 'seed': seed,
          'train_seconds': round(seconds, 1)}
  meta['test_accuracy'] = Classifier(variables, meta).accuracy(x_test, y_test)
  classifier = Classifier(variables, meta)
  logging.info('%s classifier: test accuracy %.4f after %d steps in %.1f s.', dataset,
               classifier.test_accuracy, steps, seconds)
  return classifier


def train(dataset: str, *, out_dir: str | None = None, steps: int | None = None,
          seed: int = 0) -> dict:
  """Trains, evaluates and saves the classifier of `dataset`; returns its meta data."""
  classifier = fit_and_evaluate(dataset, steps=steps, seed=seed)
  directory = save(classifier, out_dir)
  logging.info('Wrote %s', directory)
  return dict(classifier.meta)


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


def _define_flags():
  # Defined only when run as a program: other modules (gan_jax.sample) define --seed too, and
  # evaluators import this module next to them.
  flags.DEFINE_enum('dataset', None, DATASETS, 'The labelled dataset to train on.')
  flags.DEFINE_string('out_dir', None, 'Where <dataset>/ is written (default: '
                      '$GAN_JAX_CLASSIFIERS, else classifiers).')
  flags.DEFINE_integer('steps', None, f'Training steps (default: per dataset, {DEFAULT_STEPS}).',
                       lower_bound=1)
  flags.DEFINE_integer('seed', 0, 'Seed of the initialisation, batches and augmentation.')
  flags.mark_flags_as_required(['dataset'])


def main(argv):
  args = flags.FLAGS
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.INFO)
  from gan_jax import writers
  from gan_jax.data import tfds_source
  writers.quiet_library_logs()
  try:
    meta = train(args.dataset, out_dir=args.out_dir, steps=args.steps, seed=args.seed)
  except tfds_source.DatasetNotReadyError as e:
    logging.error('%s: %s', type(e).__name__, e)
    sys.exit(1)
  directory = os.path.join(default_out_dir() if args.out_dir is None else args.out_dir,
                           meta['dataset'])
  print(f"{meta['dataset']}: test accuracy {meta['test_accuracy']:.4f} on {meta['test_size']} "
        f"images after {meta['steps']} steps ({meta['train_seconds']:.1f} s); wrote {directory}")


if __name__ == '__main__':
  _define_flags()
  app.run(main)
