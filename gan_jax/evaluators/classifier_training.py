"""Training the dataset classifiers (`evaluators/classifier.py`): their data splits, the fit,
and the test accuracy.

- Splits: TFDS 'train' and 'test' for `mnist` and `fashion_mnist`; for `digits`, which has no
  split, a stratified 75/25 split of scikit-learn's 1,797 images made with
  `train_test_split(test_size=0.25, stratify=labels, random_state=0)`: 1,347 train and 450 test
  images, the same whatever the seed (the seed only changes initialisation and batches).
- Training: Adam with a cosine-decayed rate, random translations of up to 2 pixels.
"""

from __future__ import annotations

import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.evaluators.classifier import (Classifier, DEFAULT_STEPS, FEATURES, IMAGE_SIZE,
                                           NUM_CLASSES, Net, TRAIN_BATCH, _check_dataset,
                                           prepare, save)

LEARNING_RATE = 1e-3     # Adam, cosine-decayed to 0 over the run
MAX_SHIFT = 2            # training augmentation: random translations of up to this many pixels


def _read(dataset: str, split: str | None = None):
  from gan_jax import configs  # lazy: the recipes import the model registry
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
  if dataset == 'digits':  # no split of its own: the one the digits tasks share
    from gan_jax.data import digits
    images, labels = _read(dataset)
    train, test = digits.split_indices(labels)
    return images[train], labels[train], images[test], labels[test]
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


