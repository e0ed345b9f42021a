"""Times the input pipeline on a folder of CelebA-sized JPEGs, against the step it feeds.

  python benchmarks/input.py --config=experiments/dcgan_celeba.py [--num_images=2000]
      [--workers=4] [--batches=20] [--rounds=5] [--path=DIR] [--no_step] [--json=FILE]

What is measured: the pipeline train.py runs (`data.open_source` on `data.path`, then
`pipeline.Batches` with `data.workers` grain threads), reading global batches of
`train.batch_size` images: each JPEG decoded, centre-cropped and resized to the config's
resolution. Without --path, `--num_images` JPEGs of CelebA's aligned size (178x218, quality 90,
smooth random content) are generated in a temporary folder first. Each round times `--batches`
consecutive batches after the pipeline has started; the median round's images/s is reported,
first decoding every image, then from the in-memory cache (`data.cache=True`) that serves
every epoch after the first.

Then, unless --no_step, the config's training step is timed as in benchmarks/step.py (same
flags: --steps, --warmup, --batch_size, --dtype) and the last line printed is
`input_over_step=<input images/s / step images/s>`: how many times faster the input is than
what the step consumes on this machine, with the input decoding every image.

`--json=FILE` also writes the figures as JSON: the input's rates (median, min and max images/s,
decoding and from the cache), its setting, and with the step its images/s and the ratio.
"""

from __future__ import annotations

import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time

from absl import app, flags
import jax
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import step as step_bench  # noqa: E402  (defines --config, --steps, --warmup, ...)

from gan_jax import configs  # noqa: E402
from gan_jax import data as data_lib  # noqa: E402
from gan_jax.data import pipeline  # noqa: E402

_NUM_IMAGES = flags.DEFINE_integer('num_images', 2000, 'JPEGs to generate (without --path).',
                                   lower_bound=1)
_WORKERS = flags.DEFINE_integer('workers', None, 'Reader threads (default: data.workers).',
                                lower_bound=0)
_BATCHES = flags.DEFINE_integer('batches', 20, 'Batches per timed round.', lower_bound=1)
_ROUNDS = flags.DEFINE_integer('rounds', 5, 'Timed rounds; the median is reported.',
                               lower_bound=1)
_PATH = flags.DEFINE_string('path', None, 'An existing image folder to read instead.')
_NO_STEP = flags.DEFINE_bool('no_step', False, 'Time only the input, not the step.')
flags.FLAGS.set_default('steps', 5)
flags.FLAGS.set_default('warmup', 1)


def write_jpegs(directory: str, num: int, seed: int = 0) -> None:
  """`num` 178x218 JPEGs of smooth random colour fields plus mild noise."""
  rng = np.random.default_rng(seed)
  for i in range(num):
    coarse = rng.uniform(0, 255, (14, 12, 3)).astype(np.uint8)
    image = np.asarray(Image.fromarray(coarse).resize((178, 218), Image.BICUBIC), np.float32)
    image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    Image.fromarray(image).save(os.path.join(directory, f'{i:06d}.jpg'), quality=90)


def _rate(batches, batch_size):
  """Median images/s over rounds of consecutive batches."""
  rates = []
  for _ in range(_ROUNDS.value):
    start = time.perf_counter()
    for _ in range(_BATCHES.value):
      batches.next()
    rates.append(_BATCHES.value * batch_size / (time.perf_counter() - start))
  return statistics.median(rates), min(rates), max(rates)


def time_input(config) -> float:
  """Images/s decoding every image; then, with the decoded images cached in memory
  (`data.cache`, the epochs after the first), the rate from the cache. Returns the first."""
  workers = config.data.workers if _WORKERS.value is None else _WORKERS.value
  c = config.train
  results = {}
  for cache in (False, True):
    config.data.cache = cache
    source = data_lib.open_source(config.data, config.seed)
    batches = pipeline.Batches(source, global_batch=c.batch_size, seed=config.seed,
                               workers=workers, prefetch=config.data.prefetch)
    if cache:  # fill the cache: one epoch
      for _ in range(-(-len(source) // c.batch_size)):
        batches.next()
    batches.next()  # starts the readers
    results[cache] = _rate(batches, c.batch_size)
  size = f'{config.data.image_size}x{config.data.image_size}x{config.data.channels}'
  print(f'input: {len(source):,} images, batch {c.batch_size}, {workers} worker thread(s), '
        f'{size}, {_ROUNDS.value} rounds of {_BATCHES.value} batches')
  step_bench.FIGURES['input'] = {
      'images': len(source), 'batch_size': c.batch_size, 'workers': workers, 'image': size,
      'rounds': _ROUNDS.value, 'batches_per_round': _BATCHES.value}
  for cache, label in ((False, 'decoding every image'), (True, 'from the in-memory cache')):
    median, low, high = results[cache]
    print(f'input {label}: median {median:,.0f} images/s (min {low:,.0f}, max {high:,.0f})')
    step_bench.FIGURES['input']['cached' if cache else 'decoding'] = {
        'images_per_s': median, 'min_images_per_s': low, 'max_images_per_s': high}
  return results[False][0]


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  config = step_bench._CONFIG.value
  if step_bench._BATCH.value is not None:
    config.train.batch_size = step_bench._BATCH.value
  print(f'host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; '
        f'jax {jax.__version__} ({jax.default_backend()})')
  if _PATH.value:
    config.data.path = _PATH.value
  else:
    # Removed at exit, once the readers' prefetch threads have stopped.
    config.data.path = tempfile.mkdtemp(prefix='gan_jax_input_')
    atexit.register(shutil.rmtree, config.data.path, ignore_errors=True)
    start = time.perf_counter()
    write_jpegs(config.data.path, _NUM_IMAGES.value, config.seed)
    print(f'wrote {_NUM_IMAGES.value} JPEGs of 178x218 in {time.perf_counter() - start:.1f} s')
  configs.validate(config, jax.device_count())
  input_rate = time_input(config)
  if _NO_STEP.value:
    step_bench.write_figures()
    return
  if step_bench._DTYPE.value is not None:
    config.train.dtype = step_bench._DTYPE.value
  batch, images = step_bench.fake_batch(config, data_lib.spec(config.data))
  step_median, _ = step_bench.time_gan_jax(config, batch, images)
  step_rate = images / step_median
  step_bench.FIGURES['input_over_step'] = input_rate / step_rate
  step_bench.write_figures()
  print(f'input_over_step={input_rate / step_rate:.1f}')


if __name__ == '__main__':
  app.run(main)
