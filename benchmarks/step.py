"""Times gan_jax's training step and, optionally, the same step in plain PyTorch.

  python benchmarks/step.py --config=experiments/<name>.py[:smoke] [--batch_size=N]
      [--peer=torch [--peer_compile] [--peer_device=cuda]] [--steps=50] [--warmup=3]
      [--dtype=float32|bfloat16] [--json=FILE] [--config.a.b=value]

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
and zero labels; for described images (StackGAN) also normal description embeddings. A
family whose steps differ by phase (StyleGAN2's regularisers, StackGAN's stages, Age-cGAN's
GAN and encoder) runs the programs its step numbers 0, 1, ... choose: StackGAN's stage II is
timed with `--config.train.stage1_steps=1` (the first, compiling call is then stage I's), and
Age-cGAN's encoder with `--config.train.encoder_steps` one less than `train.steps`. So no
dataset is loaded (the CelebA, facades and horse2zebra configs run as
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

`--peer_compile` wraps the peer's step in `torch.compile` (default options). Its first calls
compile: dynamo splits the step at each backward pass and optimizer update, and compiles the
second optimizer's update again, so give more `--warmup` than in eager mode (the GPU suite,
benchmarks/gpu_suite.py, gives 20). The peer runs on `--peer_device`: by default 'cuda' where
JAX runs on a GPU and torch sees one, else 'cpu'. torch_peer.py makes its tensors with torch's
CPU defaults and autocasts on 'cpu', so on another device `place_peer` builds the networks there
and gives the peer a copy of torch's namespace whose factories, `from_numpy` and `autocast` take
that device; on a GPU the peer also runs with cuDNN's autotuner on (fixed shapes, as PyTorch
users train GANs) and TF32 matrix products (what JAX does by default for float32 on recent
GPUs), and each timed step waits for the device (`torch.cuda.synchronize`), as JAX's steps do.

`--json=FILE` also writes the figures as JSON (benchmarks/gpu_suite.py reads them): the setting,
the device, the times and images/s of each side, the speedup, and the FLOPs of one call of the
compiled step from XLA's cost analysis (`jax.jit(...).lower(...).compile().cost_analysis()`
'flops', per device; it counts a multiply-add as 2 and elementwise work too). Getting them
compiles the step once more, or reads it from JAX's persistent compilation cache when that is on.

This is a measurement tool, not a test: it asserts nothing about the times.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
import types

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
_PEER_COMPILE = flags.DEFINE_bool('peer_compile', False, 'With --peer=torch: wrap the peer\'s '
                                  'step in torch.compile.')
_PEER_DEVICE = flags.DEFINE_string('peer_device', None, 'With --peer=torch: the torch device '
                                   'of the peer (default: cuda where JAX runs on a GPU and torch '
                                   'sees one, else cpu).')
_JSON = flags.DEFINE_string('json', None, 'Also write the figures to this JSON file.')

# The figures of this run, for --json: filled in as they are measured.
FIGURES = {}
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
  """Prints the times (and keeps them for --json under `name`); returns the median step in
  seconds."""
  median = statistics.median(times)
  rate = images / median
  FIGURES.setdefault(name, {}).update(
      first_step_s=first, median_step_s=median, min_step_s=min(times), max_step_s=max(times),
      mean_step_s=statistics.mean(times), timed_steps=len(times), images_per_s=rate)
  rate = f'{rate:,.0f}' if rate >= 100 else f'{rate:.3g}'  # slow steps: 256x256, batch 1
  print(f'{name}: first step {first:.2f} s; median step {median * 1e3:.2f} ms '
        f'(min {min(times) * 1e3:.2f}, max {max(times) * 1e3:.2f}, mean '
        f'{statistics.mean(times) * 1e3:.2f}); {rate} images/s')
  return median


def report_memory(step_fn, state, real, images, compiled=None):
  """Peak device memory of the step, per image: the allocator's peak where the backend reports
  one (GPU, TPU), else XLA's static estimate for the compiled step (CPU; `compiled`, the step
  compiled ahead of time, if it is at hand)."""
  stats = jax.devices()[0].memory_stats()
  if stats and 'peak_bytes_in_use' in stats:
    peak, source = stats['peak_bytes_in_use'], 'allocator peak'
  else:
    compiled = compiled or step_fn.lower(state, real).compile()
    analysis = compiled.memory_analysis()
    peak = (analysis.argument_size_in_bytes + analysis.output_size_in_bytes
            - analysis.alias_size_in_bytes + analysis.temp_size_in_bytes)
    source = 'XLA estimate: arguments + outputs - donated + temporaries'
  print(f'gan_jax: peak device memory {peak / 2**20:,.1f} MiB ({source}), '
        f'{peak / images / 2**10:,.1f} KiB per image')
  FIGURES.setdefault('gan_jax', {}).update(peak_memory_bytes=int(peak),
                                           peak_memory_source=source)


def report_flops(compiled):
  """FLOPs of one call of the compiled step, per device, from XLA's cost analysis."""
  costs = compiled.cost_analysis()
  if isinstance(costs, (list, tuple)):  # one entry per program in older JAX versions
    costs = costs[0] if costs else {}
  flops = (costs or {}).get('flops')
  if flops is None or flops <= 0:
    print('gan_jax: XLA\'s cost analysis gives no FLOP count for the step')
    FIGURES.setdefault('gan_jax', {}).update(flops_per_step_per_device=None)
    return
  print(f'gan_jax: {flops:,.0f} FLOPs per step per device (XLA cost analysis of the compiled '
        'step)')
  FIGURES.setdefault('gan_jax', {}).update(
      flops_per_step_per_device=float(flops),
      flops_source="jax.jit(step).lower(state, batch).compile().cost_analysis()['flops'], "
                   'per device; a multiply-add counts 2')


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
  batch = {spec.key: real, 'label': labels.astype(np.int32)}
  if spec.condition_shape:  # described images (StackGAN): normal description embeddings
    batch['condition'] = rng.normal(size=real.shape[:2] + spec.condition_shape).astype(
        np.float32)
  return batch, c.d_steps * local


def setup_gan_jax(config, batch, images):
  """Builds the step as train.py does and runs its first calls.

  Returns (call, seconds of the first call, parameter counts, report after timing)."""
  mesh = parallel.make_mesh()
  _, family = train.build(config)
  _, init_state = train.abstract_state(family, mesh)
  state = init_state(jax.random.PRNGKey(config.seed))
  step_fn = train.sharded_step(config, family, mesh)
  real = parallel.global_batch_array(batch, mesh)
  # Generators' and discriminators' parameters: players named g*, d* (StackGAN's two stages
  # add up); any other player (Age-cGAN's encoder) on its own.
  players = {name: state_lib.count_params(p.params) for name, p in state.players.items()}
  counts = (sum(n for k, n in players.items() if k.startswith('g')),
            sum(n for k, n in players.items() if k.startswith('d')))
  others = ''.join(f', {k} {n:,} parameters' for k, n in players.items() if k[0] not in 'gd')
  print(f'gan_jax: {mesh.size} device(s) in the mesh; generator {counts[0]:,} parameters, '
        f'discriminator {counts[1]:,} parameters{others}')
  FIGURES.setdefault('gan_jax', {}).update(generator_params=counts[0],
                                           discriminator_params=counts[1])

  metrics = None

  def call():
    nonlocal state, metrics
    state, metrics = step_fn(state, real)  # the state is donated: keep only the new one
    jax.block_until_ready((state, metrics))

  first = warm_up(call, _WARMUP.value)

  def finish():
    compiled = step_fn.lower(state, real).compile() if _JSON.value else None
    report_memory(step_fn, state, real, images, compiled)
    if compiled is not None:
      report_flops(compiled)
    m = jax.device_get(metrics)
    print('gan_jax: last losses ' + ', '.join(f'{k} {float(v):.4f}' for k, v in sorted(m.items())
                                              if k.endswith('_loss')))

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


def peer_device(torch):
  """--peer_device, or 'cuda' where JAX runs on a GPU and torch sees one, else 'cpu'."""
  if _PEER_DEVICE.value:
    return torch.device(_PEER_DEVICE.value)
  gpu = jax.default_backend() == 'gpu' and torch.cuda.is_available()
  return torch.device('cuda' if gpu else 'cpu')


def place_peer(peer_lib, torch, device):
  """Points torch_peer at `device`, for a device other than the CPU. As written it makes its
  tensors with torch's defaults (the CPU: `torch.randn`, `torch.from_numpy`, ...) and autocasts
  on 'cpu'; here its module-level `torch` becomes a copy of torch's namespace whose factories
  and `from_numpy` make tensors on `device` and whose `autocast` autocasts there. Everything
  else is torch's own. (Not `torch.set_default_device`, which adds work to every torch call of
  the timed step.) The networks are built under `with device:` (see `setup_torch`)."""
  namespace = types.ModuleType('torch_on_' + device.type)
  namespace.__dict__.update({k: v for k, v in vars(torch).items() if not k.startswith('__')})

  def on_device(factory):
    def make(*args, device=device, **kwargs):
      return factory(*args, device=device, **kwargs)
    return make
  for name in ('randn', 'rand', 'randint', 'zeros', 'ones', 'empty', 'full', 'arange'):
    setattr(namespace, name, on_device(getattr(torch, name)))
  namespace.from_numpy = lambda array: torch.from_numpy(array).to(device)

  def autocast(device_type, *args, **kwargs):
    return torch.autocast(device.type if device_type == 'cpu' else device_type, *args, **kwargs)
  namespace.autocast = autocast
  peer_lib.torch = namespace


def setup_torch(config, spec, batch, jax_counts):
  """The PyTorch peer on the same data, with the same protocol: (call, seconds of the first
  call, report after timing)."""
  import torch  # only with --peer=torch

  torch.manual_seed(config.seed)
  device = peer_device(torch)
  peer_lib = torch_peer()
  if device.type != 'cpu':
    place_peer(peer_lib, torch, device)
  gpu = device.type == 'cuda'
  if gpu:
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
  with device:
    peer = peer_lib.make_step(config, spec)
  inputs = peer.inputs(batch)
  counts = (sum(p.numel() for p in peer.g.parameters()),
            sum(p.numel() for p in peer.d.parameters()))
  images = [x for x in (inputs.values() if isinstance(inputs, dict) else inputs) if x.ndim == 4]
  channels_last = bool(images) and all(
      x.is_contiguous(memory_format=torch.channels_last) for x in images)
  autocast = f'bfloat16 on {device.type}' if peer.bf16 else 'off (float32)'
  compiled = 'torch.compile of the step' if _PEER_COMPILE.value else 'off (eager)'
  where = (f'{device} ({torch.cuda.get_device_name(device)}), cudnn.benchmark on, TF32 on'
           if gpu else f'{device}, {torch.get_num_threads()} threads')
  print(f'torch {torch.__version__}: {where}; channels_last={channels_last}; '
        f'autocast={autocast}; compile={compiled}; '
        f'generator {counts[0]:,} parameters, discriminator {counts[1]:,} parameters')
  FIGURES['torch'] = {'version': torch.__version__, 'device': str(device),
                      'device_name': torch.cuda.get_device_name(device) if gpu else None,
                      'compile': bool(_PEER_COMPILE.value), 'autocast': autocast,
                      'generator_params': counts[0], 'discriminator_params': counts[1]}
  for net, ours, theirs in zip(('generator', 'discriminator'), jax_counts, counts):
    if ours != theirs:
      print(f'WARNING: the torch {net} has {theirs:,} parameters, gan_jax\'s has {ours:,}: '
            'the peer is not the same model')

  step = torch.compile(peer.step) if _PEER_COMPILE.value else peer.step
  losses = None

  def call():
    nonlocal losses
    losses = step(inputs)
    if gpu:
      torch.cuda.synchronize(device)

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
  FIGURES.update(
      config=flags.FLAGS['config'].config_filename, family=config.get('family', 'gan'),
      data=config.data.name, model=config.model.name, batch_size=c.batch_size,
      d_steps=c.d_steps, dtype=c.dtype, steps=_STEPS.value, warmup=_WARMUP.value,
      jax={'version': jax.__version__, 'backend': jax.default_backend(),
           'device_count': jax.device_count(), 'device_kind': jax.devices()[0].device_kind})

  family = config.get('family', 'gan')
  if _PEER.value == 'torch' and family not in torch_peer().FAMILIES:
    raise app.UsageError(f'--peer=torch has the families {list(torch_peer().FAMILIES)}; '
                         f'family {family!r} is timed without a peer')
  batch, images = fake_batch(config, spec)
  FIGURES['images_per_step'] = images
  if _PEER.value != 'torch':
    time_gan_jax(config, batch, images)
    write_figures()
    return
  jax_call, jax_first, jax_counts, jax_finish = setup_gan_jax(config, batch, images)
  torch_call, torch_first, torch_finish = setup_torch(config, spec, batch, jax_counts)
  jax_times, torch_times = interleaved([jax_call, torch_call], _STEPS.value,
                                       _PEER_ROUNDS.value)
  jax_finish()
  jax_median = report('gan_jax', jax_first, jax_times, images)
  torch_finish()
  torch_median = report('torch', torch_first, torch_times, images)
  FIGURES['speedup_vs_torch'] = torch_median / jax_median
  write_figures()
  print(f'speedup_vs_torch={torch_median / jax_median:.3f}')


def write_figures():
  """FIGURES to --json's file, if given."""
  if _JSON.value:
    os.makedirs(os.path.dirname(os.path.abspath(_JSON.value)), exist_ok=True)
    with open(_JSON.value, 'w', encoding='utf-8') as f:
      json.dump(FIGURES, f, indent=2, sort_keys=True)


if __name__ == '__main__':
  app.run(main)
