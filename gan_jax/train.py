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

from gan_jax import checkpointing, configs, evaluation, losses, models, parallel, plots, sampling
from gan_jax import steps
from gan_jax import state as state_lib
from gan_jax import writers
from gan_jax import data as data_lib
from gan_jax.data import pipeline


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


def build(config):
  """(data spec, generator, discriminator, objective) for a validated config."""
  spec = data_lib.spec(config.data)
  dtype = jnp.bfloat16 if config.train.dtype == 'bfloat16' else jnp.float32
  generator, discriminator = models.build(config.model, spec.shape, dtype)
  return spec, generator, discriminator, losses.get(config.loss.name)


def abstract_state(config, generator, discriminator, spec, mesh):
  """Shapes, dtypes and shardings of the state, for restoring; and the jitted initialiser."""
  init = jax.jit(functools.partial(state_lib.create_state, config, generator, discriminator,
                                   spec.shape), out_shardings=parallel.replicated(mesh))
  shapes = jax.eval_shape(init, jax.random.PRNGKey(0))
  template = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=parallel.replicated(mesh)),
      shapes)
  return template, init


def generator_slots(model_config) -> int:
  """How many runs of the generator a training batch takes (`steps.generate`): the pack size
  with `model.pack_norm='slot'`, else 1."""
  if model_config.get('pack_norm', 'batch') == 'slot':
    return model_config.get('pack', 1)
  return 1


def sharded_step(config, generator, discriminator, objective, mesh):
  """`steps.train_step` with the config's fixed arguments bound, jitted over `mesh`."""
  return parallel.shard_step(functools.partial(
      steps.train_step, generator=generator, discriminator=discriminator, objective=objective,
      z_dim=config.model.z_dim, ema_decay=config.train.ema_decay,
      gp_weight=config.loss.gp_weight, r1_gamma=config.loss.r1_gamma, clip=config.loss.clip,
      g_steps=config.train.g_steps, simultaneous=config.train.updates == 'simultaneous',
      slots=generator_slots(config.model), axis_name=parallel.AXIS), mesh,
      compiler_options=parallel.compiler_options(mesh, config.train.cpu_convolutions))


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
      bad = {k: float(m[k]) for k in ('d_loss', 'g_loss') if not np.isfinite(m[k])}
      if bad:
        self.on_device = []
        raise NonFiniteLossError(f'non-finite loss at step {step}: {bad}')
      self.fetched.append((step, m))
    self.on_device = []

  def take_means(self):
    if not self.fetched:
      return {}
    keys = self.fetched[-1][1].keys()
    means = {k: float(np.mean([m[k] for _, m in self.fetched])) for k in keys}
    self.fetched = []
    return means


def _format_duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f'{h}h{m:02d}m{s:02d}s' if h else f'{m}m{s:02d}s'


def _progress_line(step, total, scalars, steps_per_sec):
  parts = [f'step {step}/{total}', f"d_loss {scalars.get('d_loss', np.nan):.4f}",
           f"g_loss {scalars.get('g_loss', np.nan):.4f}"]
  if 'd_real_prob' in scalars:
    parts.append(f"D(x) {scalars['d_real_prob']:.3f} D(G(z)) {scalars['d_fake_prob']:.3f}")
  parts.append(f'{steps_per_sec:.2f} steps/s')
  if steps_per_sec > 0:
    parts.append(f'{_format_duration((total - step) / steps_per_sec)} left')
  return ' | '.join(parts)


def _write_config(config, workdir):
  path = os.path.join(workdir, 'config.json')
  tmp = path + '.tmp'
  with open(tmp, 'w', encoding='utf-8') as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True))
  os.replace(tmp, path)


def _write_json(path, value):
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    json.dump(value, f, indent=2)
  os.replace(path + '.tmp', path)


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
  spec, generator, discriminator, objective = build(config)

  # ---- Input: a deterministic stream of global batches, each process reading its share. ----
  source = data_lib.open_source(config.data, config.seed)
  batches = pipeline.Batches(source, global_batch=config.train.batch_size, seed=config.seed,
                             process_index=jax.process_index(),
                             process_count=jax.process_count(),
                             workers=config.data.get('workers', 0),
                             prefetch=config.data.get('prefetch', 2))
  # Evaluation networks load now, so a missing one fails before anything is compiled.
  evaluate_every = config.evals.every if config.evals.metrics else 0
  evaluator = evaluation.Evaluator(config, generator) if evaluate_every and is_main else None
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)

  # ---- Checkpoints: a finished run says so and returns. ----
  ckpt = checkpointing.Checkpointer(workdir, keep=config.train.keep_checkpoints)
  latest = ckpt.latest_step()
  template, init_state = abstract_state(config, generator, discriminator, spec, mesh)
  if latest is not None and latest >= total_steps:
    logging.info('%s already finished: checkpoint at step %d >= train.steps=%d. Nothing to do; '
                 'raise --config.train.steps to train further.', workdir, latest, total_steps)
    state, _ = ckpt.restore(template, latest)
    ckpt.close()
    return state

  # ---- State: restore the latest checkpoint or initialise. ----
  root_key = jax.random.PRNGKey(config.seed)
  if latest is not None:
    state, data_state = ckpt.restore(template, latest)
    batches.set_state(data_state)
    logging.info('Resumed from the checkpoint of step %d in %s.', latest, ckpt.directory)
  else:
    state = init_state(root_key)
  if is_main:
    _write_config(config, workdir)
    logging.info('Generator: %d parameters; discriminator: %d parameters; %d device(s).',
                 state_lib.count_params(state.g.params), state_lib.count_params(state.d.params),
                 mesh.size)

  # ---- The update step, sharded over the mesh. ----
  step_fn = sharded_step(config, generator, discriminator, objective, mesh)

  # ---- Samples from a fixed latent batch, comparable across steps. ----
  generate = sampling.make_generate(generator)
  discriminate = sampling.make_discriminate(discriminator)
  num_samples = config.train.num_samples if spec.kind == 'image' else sampling.NUM_POINTS
  fixed_z = sampling.latents(config.seed, num_samples, config.model.z_dim)
  writer = writers.create(workdir)

  def save_samples(step):
    if not is_main:
      return
    # Host copies of the replicated state: process 0 then samples on its own devices, with no
    # computation that the other processes would have to join.
    ema, g_stats, d_params, d_stats = jax.device_get(
        (state.ema_params, state.g.batch_stats, state.d.params, state.d.batch_stats))
    samples = np.asarray(generate(ema, g_stats, fixed_z))
    path = os.path.join(workdir, 'samples', f'step_{step}.png')
    d_curve = None
    if spec.shape == (1,) and config.model.get('pack', 1) == 1:  # a packed D judges packs
      d_curve = sampling.d_curve_1d(config, objective, discriminate, d_params, d_stats)
    sampling.save_picture(config, spec, samples, path, title=f'step {step}', d_curve=d_curve)
    writer.image(step, 'samples', sampling.read_png(path))

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
    improved, value = False, None
    if evaluator is not None:
      scalars = evaluator(state.ema_params, state.g.batch_stats, seed=config.seed)
      writer.scalars(step, scalars)
      value = scalars.get(f'eval/{best_metric}')
      if best_metric and value is not None and np.isfinite(value):
        better = (value < best['value'] if evaluation.lower_is_better(best_metric)
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
        _write_json(os.path.join(workdir, 'best.json'), best)
        logging.info('New best %s %.4g at step %d: saved in %s.', best_metric, value, step,
                     best_ckpt.directory)

  def save_checkpoint(step):
    nonlocal saved_step
    metrics.fetch()  # raises before a non-finite state can be saved
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
  return state
