"""Times gan_jax's training step and, optionally, the same step in plain PyTorch.

  python benchmarks/step.py --config=experiments/<name>.py[:smoke] [--batch_size=N]
      [--peer=torch] [--steps=50] [--warmup=3] [--dtype=float32|bfloat16] [--config.a.b=value]

What is measured: one call of the update step that gan_jax/train.py runs (`train.build`,
`train.abstract_state`, `train.sharded_step` over the family's `train_step` on the mesh of all
devices): for the sampling families ('gan', 'conditional') `train.d_steps` discriminator
updates, `train.g_steps` generator updates and the EMA, on a global batch of `train.batch_size`
examples per discriminator update; for the translation families ('pix2pix', 'cyclegan') their
one update of each player (and their image pools, and the copy of G that is the EMA) on a batch
of `train.batch_size` examples. The real data are random uniform [-1, 1] arrays of the
dataset's shape made once before timing: for the sampling families the examples with random
labels (which conditional families read); for the translation families the batch dict the
pipeline gives them, 'a' and 'b' at `data.load_size` (the step crops them to `data.image_size`)
and zero labels. So no dataset is loaded (the CelebA, facades and horse2zebra configs run as
they are) and input loading is not part of the measurement.

Configs that read folders (data.path: 'folder', or the 'aligned', 'paired' and 'unpaired'
layouts of the translation data) are validated against a stand-in: `configs.validate` checks
that data.path holds the layout, which a benchmark that reads no data should not depend on,
so a copy of the config whose data.path is a temporary folder holding one small generated
image in that layout (e.g. root/train/0.png of S x 2S for 'aligned') is validated instead;
everything else is validated as it is.

How: the first call is timed on its own (for JAX: compilation plus one step), then `--warmup`
calls are run untimed, then `--steps` calls are timed one by one, each waited for with
`jax.block_until_ready`; the median is reported, with images/s = batch * d_steps / median
(translation: batch, each example being one image of each domain).
With `--peer=torch` the same step written in PyTorch (benchmarks/torch_peer.py: same models
and parameter counts, objective, optimizers, step structure and EMA; for the translation
families the official networks and `optimize_parameters`, with the image pools, the jitter and
the learning-rate schedule; channels-last images; autocast for bfloat16) is built in the same
process and timed with the same protocol; families 'gan', 'pix2pix' and 'cyclegan' have a peer,
'conditional' has none. The parameter counts of the two are compared (a CycleGAN's generator
count is both generators', its discriminator count both discriminators'), with a WARNING where
they differ. The timed steps of the two are interleaved in `--peer_rounds` rounds (gan_jax then
PyTorch, then the other way round), so that a change in the machine's load during the run
weighs on both alike. The last line printed is `speedup_vs_torch=<torch median / gan_jax
median>`, over all timed steps.

This is a measurement tool, not a test: it asserts nothing about the times.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time

from absl import app, flags
import jax
import numpy as np
from ml_collections import config_flags
from PIL import Image

from gan_jax import configs, parallel, train
from gan_jax import data as data_lib
from gan_jax import state as state_lib
from gan_jax.data import translation as translation_data

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment file (experiments/*.py).',
                                          lock_config=True)
_BATCH = flags.DEFINE_integer('batch_size', None, 'Global batch (default: the config\'s).',
                              lower_bound=1)
_PEER = flags.DEFINE_enum('peer', None, ['torch'], 'Also time the same step in this framework.')
_STEPS = flags.DEFINE_integer('steps', 50, 'Timed steps; the median is reported.',
                              lower_bound=1)
_WARMUP = flags.DEFINE_integer('warmup', 3, 'Untimed steps after the first (compiling) one.',
                               lower_bound=0)
_PEER_ROUNDS = flags.DEFINE_integer('peer_rounds', 6, 'With --peer: rounds the timed steps of '
                                    'the two are interleaved in.', lower_bound=1)
_DTYPE = flags.DEFINE_enum('dtype', None, list(configs.DTYPES),
                           'Compute dtype (default: the config\'s train.dtype).')
flags.mark_flags_as_required(['config'])


def warm_up(call, warmup):
  """Seconds of the first call (for JAX: compilation and one step); then `warmup` more."""
  start = time.perf_counter()
  call()
  first = time.perf_counter() - start
  for _ in range(warmup):
    call()
  return first


def time_calls(call, num_steps):
  """Seconds of each of `num_steps` calls, timed one by one."""
  times = []
  for _ in range(num_steps):
    start = time.perf_counter()
    call()
    times.append(time.perf_counter() - start)
  return times


def interleaved(calls, num_steps, rounds):
  """Times each of `calls` for `num_steps` calls in all, in `rounds` interleaved rounds whose
  order alternates. Returns one list of seconds per call."""
  times = [[] for _ in calls]
  per_round = [num_steps // rounds + (r < num_steps % rounds) for r in range(rounds)]
  for r, n in enumerate(per_round):
    order = range(len(calls)) if r % 2 == 0 else reversed(range(len(calls)))
    for i in order:
      times[i] += time_calls(calls[i], n)
  return times


def report(name, first, times, images):
  """Prints the times; returns the median step in seconds."""
  median = statistics.median(times)
  rate = images / median
  rate = f'{rate:,.0f}' if rate >= 100 else f'{rate:.3g}'  # slow steps: 256x256, batch 1
  print(f'{name}: first step {first:.2f} s; median step {median * 1e3:.2f} ms '
        f'(min {min(times) * 1e3:.2f}, max {max(times) * 1e3:.2f}, mean '
        f'{statistics.mean(times) * 1e3:.2f}); {rate} images/s')
  return median


def report_memory(step_fn, state, real, images):
  """Peak device memory of the step, per image: the allocator's peak where the backend reports
  one (GPU, TPU), else XLA's static estimate for the compiled step (CPU)."""
  stats = jax.devices()[0].memory_stats()
  if stats and 'peak_bytes_in_use' in stats:
    peak, source = stats['peak_bytes_in_use'], 'allocator peak'
  else:
    analysis = step_fn.lower(state, real).compile().memory_analysis()
    peak = (analysis.argument_size_in_bytes + analysis.output_size_in_bytes
            - analysis.alias_size_in_bytes + analysis.temp_size_in_bytes)
    source = 'XLA estimate: arguments + outputs - donated + temporaries'
  print(f'gan_jax: peak device memory {peak / 2**20:,.1f} MiB ({source}), '
        f'{peak / images / 2**10:,.1f} KiB per image')


def _write_image(path, height, width, channels):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  pixels = np.full((height, width, channels), 127, np.uint8)
  Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(path)


def write_stand_in(data_config, root):
  """One generated image below `root` in the folder layout `data_config` reads, at its size:
  what `configs.validate` checks of data.path (see the module docstring)."""
  c, split = data_config, data_config.get('split', 'train')
  size = translation_data.load_size(c) if translation_data.is_translation(c.name) else (
      c.image_size)
  channels = data_lib.spec(c).shape[-1]
  layout = translation_data.layout(c)
  if layout == 'aligned':  # A and B side by side
    folders, width = [split], 2 * size
  elif layout == 'paired':
    folders, width = ['A', 'B'], size
  elif layout == 'unpaired':
    folders, width = [f'{split}A', f'{split}B'], size
  else:  # a folder of images; with data.labels, in a class subfolder
    folders, width = ['0' if c.get('labels', False) else ''], size
  for folder in folders:
    _write_image(os.path.join(root, folder, '0.png'), size, width, channels)


def validate(config):
  """`configs.validate` (names, sizes, the batch over the devices), with a stand-in folder for
  data that reads one: the benchmark reads no data."""
  c = config.data
  if not (translation_data.layout(c) or data_lib.uses_folder(c)):
    configs.validate(config, jax.device_count())
    return
  with tempfile.TemporaryDirectory() as root:
    write_stand_in(c, root)
    checked = config.copy_and_resolve_references()
    with checked.unlocked():  # data.path may not be a field yet (a layout with no path set)
      checked.data.path = root
    configs.validate(checked, jax.device_count())


def fake_batch(config, spec):
  """(this process's batch as the pipeline gives it, images per step): random uniform [-1, 1]
  examples of the data's shape, made once."""
  c = config.train
  local = c.batch_size // jax.process_count()
  rng = np.random.default_rng(config.seed)
  if spec.is_translation:  # one update of each player: d_steps is 1
    size = translation_data.load_size(config.data)  # the step crops to image_size
    shape = (1, local, size, size, spec.shape[-1])
    labels = np.zeros((1, local), np.int32)
    return {'a': rng.uniform(-1.0, 1.0, shape).astype(np.float32),
            'b': rng.uniform(-1.0, 1.0, shape).astype(np.float32),
            'label': labels, 'label_b': labels}, local
  real = rng.uniform(-1.0, 1.0, (c.d_steps, local, *spec.shape)).astype(np.float32)
  # The examples and their labels (random classes, which conditional families read).
  labels = np.random.default_rng(1).integers(0, max(spec.num_classes, 1), real.shape[:2])
  return {spec.key: real, 'label': labels.astype(np.int32)}, c.d_steps * local


def setup_gan_jax(config, batch, images):
  """Builds the step as train.py does and runs its first calls.

  Returns (call, seconds of the first call, parameter counts, report after timing)."""
  mesh = parallel.make_mesh()
  _, family = train.build(config)
  _, init_state = train.abstract_state(family, mesh)
  state = init_state(jax.random.PRNGKey(config.seed))
  step_fn = train.sharded_step(config, family, mesh)
  real = parallel.global_batch_array(batch, mesh)
  counts = (state_lib.count_params(state.players['g'].params),
            state_lib.count_params(state.players['d'].params))
  print(f'gan_jax: {mesh.size} device(s) in the mesh; generator {counts[0]:,} parameters, '
        f'discriminator {counts[1]:,} parameters')

  metrics = None

  def call():
    nonlocal state, metrics
    state, metrics = step_fn(state, real)  # the state is donated: keep only the new one
    jax.block_until_ready((state, metrics))

  first = warm_up(call, _WARMUP.value)

  def finish():
    report_memory(step_fn, state, real, images)
    m = jax.device_get(metrics)
    print(f'gan_jax: last losses d {float(m["d_loss"]):.4f}, g {float(m["g_loss"]):.4f}')

  return call, first, counts, finish


def time_gan_jax(config, batch, images):
  """Builds and times gan_jax's step alone. Returns (median seconds, parameter counts)."""
  call, first, counts, finish = setup_gan_jax(config, batch, images)
  times = time_calls(call, _STEPS.value)
  finish()
  return report('gan_jax', first, times, images), counts


def torch_peer():
  """benchmarks/torch_peer.py, imported only with --peer=torch (it imports torch)."""
  here = os.path.dirname(os.path.abspath(__file__))
  if here not in sys.path:
    sys.path.insert(0, here)
  import torch_peer as peer_lib
  return peer_lib


def setup_torch(config, spec, batch, jax_counts):
  """The PyTorch peer on the same data, with the same protocol: (call, seconds of the first
  call, report after timing)."""
  import torch  # only with --peer=torch

  torch.manual_seed(config.seed)
  peer = torch_peer().make_step(config, spec)
  inputs = peer.inputs(batch)
  counts = (sum(p.numel() for p in peer.g.parameters()),
            sum(p.numel() for p in peer.d.parameters()))
  images = [x for x in (inputs.values() if isinstance(inputs, dict) else inputs) if x.ndim == 4]
  channels_last = bool(images) and all(
      x.is_contiguous(memory_format=torch.channels_last) for x in images)
  print(f'torch {torch.__version__}: {torch.get_num_threads()} threads; '
        f'channels_last={channels_last}; '
        f'autocast={"bfloat16" if peer.bf16 else "off (float32)"}; '
        f'generator {counts[0]:,} parameters, discriminator {counts[1]:,} parameters')
  for net, ours, theirs in zip(('generator', 'discriminator'), jax_counts, counts):
    if ours != theirs:
      print(f'WARNING: the torch {net} has {theirs:,} parameters, gan_jax\'s has {ours:,}: '
            'the peer is not the same model')

  losses = None

  def call():
    nonlocal losses
    losses = peer.step(inputs)

  first = warm_up(call, _WARMUP.value)

  def finish():
    print(f'torch: last losses d {float(losses[0]):.4f}, g {float(losses[1]):.4f}')

  return call, first, finish


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  config = _CONFIG.value
  if _BATCH.value is not None:
    config.train.batch_size = _BATCH.value
  if _DTYPE.value is not None:
    config.train.dtype = _DTYPE.value
  validate(config)
  c = config.train
  spec = data_lib.spec(config.data)
  print(f'config: {flags.FLAGS["config"].config_filename} (data {config.data.name}, '
        f'model {config.model.name}, loss {config.loss.name}, optim {config.optim.name})')
  loaded = (f' (loaded at {translation_data.load_size(config.data)})'
            if spec.is_translation else '')
  print(f'batch {c.batch_size}, d_steps {c.d_steps}, dtype {c.dtype}, data shape '
        f'{tuple(spec.shape)}{loaded}, ema_decay {c.ema_decay}; {_STEPS.value} timed steps '
        f'after {_WARMUP.value} warmup')
  print(f'jax {jax.__version__} ({jax.default_backend()}): {jax.device_count()} device(s) '
        f'{jax.devices()}; host {platform.processor() or platform.machine()}, '
        f'{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} '
        '(other work on the machine skews the times)')

  family = config.get('family', 'gan')
  if _PEER.value == 'torch' and family not in torch_peer().FAMILIES:
    raise app.UsageError(f'--peer=torch has the families {list(torch_peer().FAMILIES)}; '
                         f'family {family!r} is timed without a peer')
  batch, images = fake_batch(config, spec)
  if _PEER.value != 'torch':
    time_gan_jax(config, batch, images)
    return
  jax_call, jax_first, jax_counts, jax_finish = setup_gan_jax(config, batch, images)
  torch_call, torch_first, torch_finish = setup_torch(config, spec, batch, jax_counts)
  jax_times, torch_times = interleaved([jax_call, torch_call], _STEPS.value,
                                       _PEER_ROUNDS.value)
  jax_finish()
  jax_median = report('gan_jax', jax_first, jax_times, images)
  torch_finish()
  torch_median = report('torch', torch_first, torch_times, images)
  print(f'speedup_vs_torch={torch_median / jax_median:.3f}')


if __name__ == '__main__':
  app.run(main)
