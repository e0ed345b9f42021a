"""The training loop: build, restore or initialise, step, log, sample, checkpoint.

`train_and_evaluate(config, workdir)` is the whole of a run. Running it again on the same
workdir resumes from the latest checkpoint (model, optimizers, EMA, step, RNG and data position),
and a finished run says so and returns. Metrics stay on the device between log steps; before
every log line and every checkpoint they are fetched and checked, so a non-finite loss stops the
run naming its step and is never saved.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import checkpointing, configs, families, files, parallel, pictures, plots, writers
from gan_jax import state as state_lib
from gan_jax import data as data_lib
from gan_jax.data import pipeline
from gan_jax.evaluators import evaluator as evaluator_lib
from gan_jax.evaluators import registry


class NonFiniteLossError(FloatingPointError):
  pass


class StopRequest:
  """Set by SIGTERM or the first Ctrl-C; the loop then saves a checkpoint and returns.

  With several processes, the signal may reach them a step apart, and a process that stopped
  alone would leave the others waiting in a collective. So they agree: every
  `_STOP_SYNC_EVERY` steps each process shares whether it was signalled, and all stop together
  at the first such step after any of them was.
  """

  def __init__(self):
    self.signum = None   # the signal this process received
    self.agreed = None   # the signal all processes stop for

  def __call__(self, signum, frame):
    if self.signum == signal.SIGINT and signum == signal.SIGINT:
      raise KeyboardInterrupt  # a second Ctrl-C: stop at once
    self.signum = signum
    logging.warning('Received %s: stopping after this step and saving a checkpoint.',
                    signal.Signals(signum).name)

  def should_stop(self, step: int) -> bool:
    if jax.process_count() == 1:
      self.agreed = self.signum
    elif step % _STOP_SYNC_EVERY == 0:
      from jax.experimental import multihost_utils
      signals = multihost_utils.process_allgather(np.int32(self.signum or 0))
      self.agreed = int(np.max(signals)) or None
    return self.agreed is not None


_STOP_SYNC_EVERY = 10  # steps between the processes' agreements on stopping


@contextlib.contextmanager
def _stop_on_signals(request: StopRequest):
  import threading
  if threading.current_thread() is not threading.main_thread():
    yield  # signal handlers can only be set from the main thread
    return
  previous = {s: signal.signal(s, request) for s in (signal.SIGTERM, signal.SIGINT)}
  try:
    yield
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)


def load_config(workdir: str):
  """The run's config.json. Fields a newer version of gan_jax added since the run was written
  take their defaults (the base config's and its architecture's), so older runs can still be
  sampled and evaluated."""
  import ml_collections
  from gan_jax import models
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} not found: is {workdir!r} the workdir of a training run?')
  with open(path, encoding='utf-8') as f:
    saved = json.load(f)
  base = configs.base_config()
  name = saved.get('model', {}).get('name')
  if name in models.MODELS:
    models.get(name).defaults(base.model)
  defaults = base.to_dict()
  for section, fields in defaults.items():
    if isinstance(fields, dict):
      saved.setdefault(section, {})
      for key, value in fields.items():
        saved[section].setdefault(key, value)
    else:
      saved.setdefault(section, fields)
  return ml_collections.ConfigDict(saved)


def read_run(workdir: str, mesh):
  """(config, family, state) of another run's latest checkpoint, replicated over `mesh`: what
  a family's `initial_state` starts from (StackGAN's stage II: its stage I run)."""
  config = load_config(workdir)
  _, family = build(config)
  template, _ = abstract_state(family, mesh)
  ckpt = checkpointing.Checkpointer(workdir, read_only=True)
  try:
    state, _, _ = restore(ckpt, family, template)
  finally:
    ckpt.close()
  return config, family, state


def build(config):
  """(data spec, family) for a validated config. Reads no data."""
  spec = data_lib.spec(config.data)
  dtype = jnp.bfloat16 if config.train.dtype == 'bfloat16' else jnp.float32
  return spec, families.build(config, spec, dtype)


def abstract_state(family, mesh):
  """Shapes, dtypes and shardings of the state, for restoring; and the jitted initialiser."""
  init = jax.jit(family.init, out_shardings=parallel.replicated(mesh))
  shapes = jax.eval_shape(init, jax.random.PRNGKey(0))
  template = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=parallel.replicated(mesh)),
      shapes)
  return template, init


def legacy_template(template):
  """The restore template of a checkpoint written before families (step, g, d, ema_params,
  rng): the players' and the generator EMA's parameters under their old names."""
  return {'step': template.step, 'g': template.players['g'], 'd': template.players['d'],
          'ema_params': template.ema['g'].params, 'rng': template.rng}


def restore(ckpt, family, template, step=None):
  """(state, data position, legacy) of a checkpoint, in this layout or the one before
  families (`legacy`: its EMA statistics are the raw generator's, not yet its own)."""
  legacy = None
  if set(family.player_names) == {'g', 'd'} and set(template.ema) == {'g'}:
    legacy = legacy_template(template)
  state, data_state, old = ckpt.restore(template, step, legacy_template=legacy)
  if old:
    logging.warning('The checkpoint in %s predates families (one generator and one '
                    "discriminator, saved as 'g', 'd', 'ema_params'); restored into this "
                    "layout. Its EMA ran with the raw generator's batch-norm statistics; "
                    'sampling now recomputes its own.', ckpt.directory)
    state = family.legacy_state(state)
  return state, data_state, old


def sharded_step(config, family, mesh):
  """The family's update step, jitted over `mesh`. A family whose steps differ by step number
  (`family.step_phases(step)`, e.g. StyleGAN2's lazy regularisers) gets a `PhasedStep`."""
  options = parallel.compiler_options(mesh, config.train.cpu_convolutions)

  def build(**static):
    return parallel.shard_step(functools.partial(family.train_step, axis_name=parallel.AXIS,
                                                 **static), mesh, compiler_options=options)
  if hasattr(family, 'step_phases'):
    return PhasedStep(family.step_phases, build)
  return build()


class PhasedStep:
  """A step whose phases are chosen on the host from the step number: `phases(step)` gives a
  hashable choice, and each distinct choice is its own program (`build(phases=choice)`),
  compiled when first needed. Choosing on the host, as the official StyleGAN2 loop does,
  rather than with `lax.cond` inside one program: XLA:CPU ran the convolutions of a
  conditional's branch about 10x slower than the same convolutions outside one
  (docs/PERFORMANCE.md).

  Called as the plain step is, `(state, batch) -> (state, metrics)`. The step number is read
  from the state's device array only when the state is not the one the last call returned
  (which the training loop always passes), so steps are dispatched without waiting."""

  def __init__(self, phases, build):
    self._phases = phases
    self._build = build
    self.programs = {}
    self._returned = None   # the step array of the state the last call returned
    self._next = 0

  def program(self, state):
    """The compiled program for `state`'s step."""
    if state.step is not self._returned:
      self._next = int(jax.device_get(state.step))
    choice = self._phases(self._next)
    if choice not in self.programs:
      self.programs[choice] = self._build(phases=choice)
    return self.programs[choice]

  def __call__(self, state, batch):
    program = self.program(state)
    state, metrics = program(state, batch)
    self._returned, self._next = state.step, self._next + 1
    return state, metrics

  def lower(self, state, batch):
    return self.program(state).lower(state, batch)


def sharded_refresh(config, family, mesh):
  """`state -> state` with the EMA copies' own statistics (`family.refresh`), over `mesh`."""
  fn = parallel.shard_state_fn(functools.partial(family.refresh, axis_name=parallel.AXIS), mesh)
  n = config.train.get('standing_batch_size', mesh.size)
  local = n // jax.process_count()
  first = jax.process_index() * local
  indices = parallel.global_batch_array(np.arange(first, first + local, dtype=np.int32), mesh,
                                        leading_axes=1)
  return lambda state: fn(state, indices)


class _Metrics:
  """Per-step metrics kept on the device until a log step or a checkpoint needs them."""

  def __init__(self):
    self.on_device = []   # (step, metrics) not yet fetched
    self.fetched = []     # (step, host metrics) since the last log line

  def add(self, step, metrics):
    self.on_device.append((step, metrics))

  def fetch(self):
    """Fetches pending metrics; raises NonFiniteLossError at the first non-finite loss."""
    if not self.on_device:
      return
    values = jax.device_get([m for _, m in self.on_device])
    for (step, _), m in zip(self.on_device, values):
      bad = {k: float(v) for k, v in m.items() if k.endswith('_loss') and not np.isfinite(v)}
      if bad:
        self.on_device = []
        raise NonFiniteLossError(f'non-finite loss at step {step}: {bad}')
      self.fetched.append((step, m))
    self.on_device = []

  def take_means(self):
    """Each metric's mean over the steps that reported it (a phased step's programs may
    report different metrics)."""
    if not self.fetched:
      return {}
    keys = dict.fromkeys(k for _, m in self.fetched for k in m)
    means = {k: float(np.mean([m[k] for _, m in self.fetched if k in m])) for k in keys}
    self.fetched = []
    return means


def _format_duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f'{h}h{m:02d}m{s:02d}s' if h else f'{m}m{s:02d}s'


def _progress_line(step, total, scalars, steps_per_sec):
  parts = [f'step {step}/{total}'] + [f'{k} {v:.4f}' for k, v in scalars.items()
                                       if k.endswith('_loss') and k.count('_') == 1]
  if 'd_real_prob' in scalars:
    parts.append(f"D(x) {scalars['d_real_prob']:.3f} D(G(z)) {scalars['d_fake_prob']:.3f}")
  parts.append(f'{steps_per_sec:.2f} steps/s')
  if steps_per_sec > 0:
    parts.append(f'{_format_duration((total - step) / steps_per_sec)} left')
  return ' | '.join(parts)


def _write_config(config, workdir):
  files.write_text(os.path.join(workdir, 'config.json'),
                   config.to_json_best_effort(indent=2, sort_keys=True))


def _read_best(workdir):
  """The best evaluation so far ({'metric', 'value', 'step'}), from a resumed run's best.json."""
  path = os.path.join(workdir, 'best.json')
  if not os.path.exists(path):
    return None
  with open(path, encoding='utf-8') as f:
    return json.load(f)


def train_and_evaluate(config, workdir: str, *, devices=None):
  """Trains `config` in `workdir` (resuming if it holds checkpoints); returns the final state.

  `devices` (default: all) builds the mesh; tests use it to compare device counts.
  """
  # ---- Config and mesh: every check before anything is loaded or compiled. ----
  mesh = parallel.make_mesh(devices)
  configs.validate(config, mesh.size)
  is_main = jax.process_index() == 0
  total_steps = config.train.steps
  spec, family = build(config)
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)

  # ---- Checkpoints: a finished run says so at once, before any data or network loads. ----
  ckpt = checkpointing.Checkpointer(workdir, keep=config.train.keep_checkpoints)
  latest = ckpt.latest_step()
  template, init_state = abstract_state(family, mesh)
  if latest is not None and latest >= total_steps:
    logging.info('%s already finished: checkpoint at step %d >= train.steps=%d. Nothing to do; '
                 'raise --config.train.steps to train further.', workdir, latest, total_steps)
    state, _, _ = restore(ckpt, family, template, latest)
    ckpt.close()
    return state

  # ---- Input: a deterministic stream of global batches, each process reading its share. ----
  source = data_lib.open_source(config.data, config.seed)
  batches = pipeline.Batches(source, global_batch=config.train.batch_size, seed=config.seed,
                             process_index=jax.process_index(),
                             process_count=jax.process_count(),
                             workers=config.data.get('workers', 0),
                             prefetch=config.data.get('prefetch', 2), example_key=spec.key)
  # Evaluation networks load now, so a missing one fails before anything is compiled.
  evaluate_every = config.evals.every if config.evals.metrics else 0
  evaluator = (evaluator_lib.make(config, family) if evaluate_every and is_main
               else None)

  # ---- State: restore the latest checkpoint or initialise. ----
  root_key = jax.random.PRNGKey(config.seed)
  if latest is not None:
    state, data_state, _ = restore(ckpt, family, template, latest)
    batches.set_state(data_state)
    logging.info('Resumed from the checkpoint of step %d in %s.', latest, ckpt.directory)
  else:
    state = init_state(root_key)
    if hasattr(family, 'initial_state'):  # e.g. StackGAN's stage II: the trained stage I
      state = family.initial_state(state, functools.partial(read_run, mesh=mesh))
  if is_main:
    _write_config(config, workdir)
    logging.info('%s; %d device(s).', ', '.join(
        f'{name}: {state_lib.count_params(state.players[name].params):,} parameters'
        for name in family.player_names), mesh.size)

  # ---- The update step, sharded over the mesh. ----
  step_fn = sharded_step(config, family, mesh)
  refresh_fn = sharded_refresh(config, family, mesh)
  refreshed_at = None

  def refresh(step):
    """The EMA copies' own statistics, recomputed once per step that needs them."""
    nonlocal state, refreshed_at
    if refreshed_at != step:
      state = refresh_fn(state)
      refreshed_at = step

  # ---- Samples from a fixed latent batch, comparable across steps. ----
  num_samples = config.train.num_samples if spec.kind != 'points' else pictures.NUM_POINTS
  writer = writers.create(workdir)

  def save_samples(step):
    refresh(step)
    if not is_main:
      return
    # Host copies of the replicated state: process 0 then samples on its own devices, with no
    # computation that the other processes would have to join.
    host = jax.device_get(state)
    samples, columns = family.grid(host.ema['g'], seed=config.seed, num=num_samples)
    path = os.path.join(workdir, 'samples', f'step_{step}.png')
    family.picture(host, samples, path, title=f'step {step}', columns=columns)
    writer.image(step, 'samples', pictures.read_png(path))

  metrics = _Metrics()

  # ---- Evaluation: metrics on the EMA generator; the best checkpoint is kept apart. ----
  best_metric = config.evals.best_metric if evaluate_every else ''
  best_ckpt = (checkpointing.Checkpointer(workdir, keep=1, subdir='checkpoints_best')
               if best_metric else None)
  best = _read_best(workdir) if best_metric else None
  if best and best.get('metric') != best_metric:
    best = None  # kept by another metric: start afresh

  def run_evaluation(step):
    nonlocal best
    refresh(step)
    improved, value = False, None
    if evaluator is not None:
      scalars = evaluator(jax.device_get(state.ema['g']), seed=config.seed)
      writer.scalars(step, scalars)
      value = scalars.get(f'eval/{best_metric}')
      if best_metric and value is not None and np.isfinite(value):
        better = (value < best['value'] if registry.lower_is_better(best_metric)
                  else value > best['value']) if best else True
        improved = bool(better)
    if best_ckpt is None:
      return
    if jax.process_count() > 1:  # process 0 evaluated; every process takes part in the save
      from jax.experimental import multihost_utils
      improved = bool(multihost_utils.broadcast_one_to_all(np.int32(improved)))
    if improved:
      metrics.fetch()
      best_ckpt.save(step, state, batches.get_state())
      if is_main:
        best = {'metric': best_metric, 'value': value, 'step': step}
        files.write_json(os.path.join(workdir, 'best.json'), best)
        logging.info('New best %s %.4g at step %d: saved in %s.', best_metric, value, step,
                     best_ckpt.directory)

  def save_checkpoint(step):
    nonlocal saved_step
    metrics.fetch()  # raises before a non-finite state can be saved
    refresh(step)
    ckpt.save(step, state, batches.get_state())
    saved_step = step

  # ---- The loop. ----
  step = int(jax.device_get(state.step))
  first_step = step
  stop = StopRequest()
  log_time, log_step = None, step
  saved_step = latest
  loop_start = time.time()
  try:
    with _stop_on_signals(stop):
      while step < total_steps and not stop.should_stop(step):
        real = parallel.global_batch_array(batches.next(config.train.d_steps), mesh)
        state, step_metrics = step_fn(state, real)
        step += 1
        metrics.add(step, step_metrics)
        if step == first_step + 1:  # the first call compiles; time the rest from here
          jax.block_until_ready(state)
          log_time, log_step = time.time(), step
          logging.info('Compiled and ran the first step in %.1f s.', log_time - loop_start)
        if step % config.train.log_every == 0 or step == total_steps:
          metrics.fetch()
          now = time.time()
          rate = (step - log_step) / max(now - log_time, 1e-9) if step > log_step else 0.0
          scalars = metrics.take_means()
          scalars['steps_per_sec'] = rate
          scalars['images_per_sec'] = rate * config.train.batch_size * config.train.d_steps
          writer.scalars(step, scalars)
          if is_main:
            logging.info(_progress_line(step, total_steps, scalars, rate))
          log_time, log_step = now, step
        if step % config.train.sample_every == 0 or step == total_steps:
          save_samples(step)
        if evaluate_every and (step % evaluate_every == 0 or step == total_steps):
          run_evaluation(step)
        if step % config.train.checkpoint_every == 0 or step == total_steps:
          save_checkpoint(step)
      if stop.agreed is not None:
        if saved_step != step:
          save_checkpoint(step)
        logging.warning('Stopped by %s at step %d; checkpoint saved in %s.',
                        signal.Signals(stop.agreed).name, step, ckpt.directory)
  except NonFiniteLossError as e:
    last = ckpt.latest_step()
    kept = (f'the last good checkpoint is step {last} in {ckpt.directory} (nothing later was '
            'saved)' if last is not None else 'no checkpoint had been saved yet')
    raise NonFiniteLossError(
        f'{e}. Training stopped; {kept}. Lower the learning rates, try another objective or '
        "train.dtype='float32'.") from None
  finally:
    ckpt.close()  # waits for any asynchronous save: what was started is completed
    if best_ckpt is not None:
      best_ckpt.close()
    writer.flush()
    if is_main and step == total_steps:
      records = writers.read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
      if records:
        plots.plot_losses(records, os.path.join(workdir, 'losses.png'))
    writer.close()
  if stop.agreed is not None:
    raise SystemExit(128 + stop.agreed)
  refresh(step)
  return state
