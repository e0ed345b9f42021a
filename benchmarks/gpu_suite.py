"""The GPU suite: one command that measures what docs/PERFORMANCE.md's GPU section asks for.

  bash benchmarks/gpu_suite.sh [--dry] [--out=DIR] [--parts=step,throughput,...] [--budget=S]
      [--jobs=N]

(gpu_suite.sh installs carried wheels first, then runs this file with the same arguments.)

Parts, each a set of subprocesses with their own timeouts; a case that fails is recorded with
its error and the suite goes on:
1. `smoke`: experiments/dcgan_digits.py trained in float32 and in bfloat16 (the two runs side
   by side), each stopped with SIGTERM once its metrics show `smoke_stop_after` steps (200),
   then resumed from its workdir for `smoke_resume_steps` (200) more; the resumed run must say
   it resumed from the step the stopped one saved, and its first metrics record must follow
   that step. Then samples (`python -m gan_jax.sample`) and an evaluation (`python -m
   gan_jax.evaluate`, domain_fd with a digits classifier trained first) from the checkpoint. Logs, sample grids and the loss plot
   go into OUT/smoke/<dtype>/.
2. `step`: benchmarks/step.py on experiments/dcgan_celeba.py at batch 128 against the PyTorch
   peer, eager and under torch.compile (`--peer_compile`), in float32 and bfloat16 (autocast on
   the peer): `speedup_vs_torch` of each run. Without torch, gan_jax alone is timed and the peer
   is skipped with the reason (a failure outside --dry).
3. `throughput`: dcgan_celeba at batch 1024 in bfloat16: images/s and the model FLOP
   utilisation, FLOPs from XLA's cost analysis of the compiled step (step.py --json) over the
   median step time, against the chip's peak dense bfloat16 FLOP/s from `PEAK_BF16_FLOPS` (an
   unknown chip, the CPU included: MFU null, with the reason).
4. `families`: the other families' experiments (conditional, BigGAN, Pix2Pix, CycleGAN,
   StyleGAN2, StackGAN, Age-cGAN) through step.py at their own batch sizes, float32 and
   bfloat16: images/s.
5. `input`: benchmarks/input.py on generated CelebA-sized JPEGs at batch 128 (images/s
   decoding every image, and from the in-memory cache), with the config's reader threads and
   with one per host core, against what the step of part 2 consumes (its gan_jax images/s in
   each dtype), with their ratio.
They run in the order smoke (first, as the check that training works at all, and given 150 s
at most), step, throughput, input, families: if the time budget (`--budget`, 440 s, so that the
command ends within 8 minutes) runs out, what is lost is what the goals need least. Cases left
when it runs out are recorded as failed, saying so; `--parts` runs their parts again.

Writes OUT/suite.json (every figure, the device kind, the driver version from nvidia-smi where
present, the versions of jax, flax, torch, ...), OUT/suite.txt (the table it prints) and each
subprocess's log and JSON under OUT. Exits 0 when every part succeeded, 1 when a part failed, 2
when the environment lacks packages (nothing then runs; the JSON says which and how to carry
them). OUT (default runs/gpu_suite) loses its smoke/ folder first, whose workdirs would
otherwise be resumed.

`--dry`: the same parts and the same code paths on the CPU, at smoke sizes (the experiments'
`:smoke` variants, a few steps, tiny batches, XLA's backend optimisations off to compile
faster), two cases at a time (`--jobs`), so that it takes a minute or two on two cores; part 3
at part 2's batch (whose compiled step JAX's cache then holds) and part 4 with each family in
one dtype, float32 and bfloat16 in turn (the other recorded as skipped, saying so). Its figures
say nothing about any GPU, nor about the CPU (XLA's optimisations are off). Outside --dry the
suite refuses to run unless JAX sees a GPU.

The subprocesses run with PYTHONPATH holding the repository, JAX's persistent compilation
cache on (JAX_COMPILATION_CACHE_DIR, unless set: a folder in the temporary directory), which
spares the resumed runs and the second compile of step.py's FLOP count, and in --dry with one
CPU device (a --xla_force_host_platform_device_count in XLA_FLAGS is dropped). The smoke runs
share the GPU, so JAX does not preallocate its memory in them.

This is a measurement tool: it asserts the smoke test's behaviour, not the figures.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTS = ('smoke', 'step', 'throughput', 'input', 'families')  # the order they run in
DTYPES = ('float32', 'bfloat16')

# Peak dense bfloat16 FLOP/s by `jax.devices()[0].device_kind`, from the vendor's data sheets
# (without sparsity). MFU is reported only for these chips.
PEAK_BF16_FLOPS = {
    'NVIDIA H100 80GB HBM3': 989e12,   # H100 SXM
    'NVIDIA H100 PCIe': 756e12,
    'NVIDIA H200': 989e12,             # H200 SXM
    'NVIDIA A100-SXM4-80GB': 312e12,
    'NVIDIA A100-SXM4-40GB': 312e12,
    'NVIDIA A100 80GB PCIe': 312e12,
    'NVIDIA A100-PCIE-40GB': 312e12,
}

# Modules the suite's commands import, by the package that provides them. The GPU machines
# lack the first five (grain brings array_record and portpicker in): gpu_suite.sh installs them
# from wheels/ (CARRY says how to fill it).
REQUIRED = {'ml_collections': 'ml_collections', 'grain': 'grain', 'array_record': 'array_record',
            'portpicker': 'portpicker', 'tensorboardX': 'tensorboardX', 'jax': 'jax',
            'flax': 'flax', 'optax': 'optax', 'orbax.checkpoint': 'orbax-checkpoint',
            'absl': 'absl-py', 'numpy': 'numpy', 'PIL': 'pillow', 'sklearn': 'scikit-learn',
            'scipy': 'scipy', 'matplotlib': 'matplotlib', 'yaml': 'pyyaml', 'etils': 'etils',
            'cloudpickle': 'cloudpickle'}
VERSIONS = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'chex', 'numpy', 'torch',
            'ml_collections', 'grain', 'scikit-learn')
CARRY = ("carry the missing packages as wheels: where pip reaches PyPI, in the repository's "
         'root, run\n'
         '  echo /wheels/ >> .git/info/exclude\n'
         '  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 '
         '--implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 '
         '--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d wheels '
         'ml_collections==1.1.0 grain==0.2.18 array_record==0.8.6 portpicker==1.6.0 '
         'tensorboardX==2.6.5\n'
         '(and any other missing package, by name), send wheels/ with the working tree (name '
         'it in the device run\'s carry) and run benchmarks/gpu_suite.sh, which installs '
         'wheels/*.whl before it starts')


@dataclasses.dataclass(frozen=True)
class Sizes:
  """What each part runs: the GPU sizes, or the CPU's tiny ones of --dry."""
  smoke_config: str
  smoke_stop_after: int       # steps the stopped run must have logged before its SIGTERM
  smoke_resume_steps: int     # steps the resumed run trains past the saved one
  smoke_log_every: int
  smoke_sample_every: int
  classifier_args: tuple
  evaluate_args: tuple
  step_config: str
  step_batch: int
  step_args: tuple            # --steps, --warmup, --peer_rounds for part 2
  compile_warmup: int         # warmup calls of the torch.compile runs
  throughput_batch: int
  throughput_args: tuple
  family_suffix: str          # ':smoke' or ''
  family_args: tuple
  family_dtypes: str          # 'both', or 'alternate': each family in one dtype, in turn
  input_config: str
  input_batch: int
  input_args: tuple
  timeout: int                # one subprocess's limit, seconds (the torch.compile runs: 2x)
  smoke_budget: int           # the smoke part's, seconds, so that it cannot hold up the rest
  budget: int                 # the whole suite's, seconds


GPU = Sizes(
    smoke_config='experiments/dcgan_digits.py', smoke_stop_after=200, smoke_resume_steps=200,
    smoke_log_every=25, smoke_sample_every=100, classifier_args=(), evaluate_args=(),
    step_config='experiments/dcgan_celeba.py', step_batch=128,
    step_args=('--steps=50', '--warmup=5', '--peer_rounds=6'), compile_warmup=20,
    throughput_batch=1024, throughput_args=('--steps=30', '--warmup=5'),
    family_suffix='', family_args=('--steps=30', '--warmup=3'), family_dtypes='both',
    input_config='experiments/dcgan_celeba.py', input_batch=128,
    input_args=('--num_images=2000', '--batches=20', '--rounds=5'),
    timeout=180, smoke_budget=150, budget=440)

DRY = Sizes(
    smoke_config='experiments/dcgan_digits.py:smoke', smoke_stop_after=3, smoke_resume_steps=3,
    smoke_log_every=1, smoke_sample_every=2, classifier_args=('--steps=10',),
    evaluate_args=('--num_samples=64', '--num_real=64'),
    step_config='experiments/dcgan_celeba.py:smoke', step_batch=16,
    step_args=('--steps=3', '--warmup=1', '--peer_rounds=1'), compile_warmup=2,
    throughput_batch=16, throughput_args=('--steps=3', '--warmup=1'),
    family_suffix=':smoke', family_args=('--steps=2', '--warmup=1'), family_dtypes='alternate',
    input_config='experiments/dcgan_celeba.py:smoke', input_batch=16,
    input_args=('--num_images=48', '--batches=2', '--rounds=2'),
    timeout=300, smoke_budget=300, budget=600)

FAMILIES = (('conditional', 'cdcgan_digits'), ('biggan', 'biggan_cifar10'),
            ('pix2pix', 'pix2pix_facades'), ('cyclegan', 'cyclegan_horse2zebra'),
            ('stylegan2', 'stylegan2_cifar10'), ('stackgan', 'stackgan_digits'),
            ('agecgan', 'agecgan_digits'))


class BudgetSpent(Exception):
  """No time was left to start a command."""


class Suite:
  """Runs the parts' subprocesses within the time budget and keeps their results."""

  def __init__(self, args):
    self.dry = args.dry
    self.sizes = DRY if args.dry else GPU
    self.out = os.path.abspath(args.out)
    self.budget = args.budget or self.sizes.budget
    self.jobs = args.jobs or (2 if args.dry else 1)
    self.start = time.monotonic()
    self.deadline = self.start + self.budget
    self.part_deadline = self.deadline  # the part running now may have an earlier one
    self.python = sys.executable
    self.env = self._environment()
    self.torch_reason = None   # why the peer cannot run, if it cannot
    self.results = {}

  def _environment(self):
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([REPO] + [p for p in env.get('PYTHONPATH', '').split(
        os.pathsep) if p])
    env['PYTHONUNBUFFERED'] = '1'
    env.setdefault('JAX_COMPILATION_CACHE_DIR', os.path.join(
        os.environ.get('TMPDIR', '/tmp'), f'gan_jax_gpu_suite_jax_cache_{os.getuid()}'))
    env.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0.5')
    flags = re.sub(r'--xla_force_host_platform_device_count=\S+', '', env.get('XLA_FLAGS', ''))
    if self.dry:
      env['JAX_PLATFORMS'] = 'cpu'
      flags += ' --xla_backend_optimization_level=0'  # compiles about twice as fast
    env['XLA_FLAGS'] = ' '.join(flags.split())
    if not env['XLA_FLAGS']:
      del env['XLA_FLAGS']
    return env

  def left(self):
    return min(self.deadline, self.part_deadline) - time.monotonic()

  def run(self, name, command, log, *, timeout=None, env=None):
    """Runs `command` in the repository with its output in `log`; returns (exit code, seconds).
    The code is None when it ran past its timeout (it is then ended, its process group
    first with SIGTERM). Raises BudgetSpent when no time is left to start it."""
    limit = min(timeout or self.sizes.timeout, self.left())
    if limit < 5:
      raise BudgetSpent(self.spent())
    os.makedirs(os.path.dirname(log), exist_ok=True)
    start = time.monotonic()
    with open(log, 'w', encoding='utf-8') as f:
      f.write('$ ' + ' '.join(command) + '\n')
      f.flush()
      proc = subprocess.Popen(command, cwd=REPO, env=env or self.env, stdout=f,
                              stderr=subprocess.STDOUT, start_new_session=True)
      try:
        code = proc.wait(timeout=limit)
      except subprocess.TimeoutExpired:
        stop(proc)
        code = None
        f.write(f'\n[gpu_suite] {name}: ended after its limit of {limit:.0f} s\n')
    return code, time.monotonic() - start

  def spent(self):
    """The error of a command that no time was left to start."""
    if self.part_deadline < self.deadline:
      return (f'not run: the part\'s time budget ({self.sizes.smoke_budget} s) was spent; run it '
              'again with --parts')
    return (f'not run: the suite\'s time budget ({self.budget} s) was spent; run the part again '
            'with --parts')

  def failure(self, what, code, log):
    """The error of a subprocess that did not exit as expected: its code and its last lines."""
    why = 'ran past its time limit' if code is None else f'exited with code {code}'
    return f'{what} {why}; the end of {os.path.relpath(log, self.out)}:\n{tail(log)}'

  def step_case(self, name, config, dtype, batch, extra=(), timeout=None):
    """One benchmarks/step.py run (at the config's batch when `batch` is None); returns its
    --json figures or raises CaseError."""
    raw = os.path.join(self.out, 'raw', f'{name}.json')
    log = os.path.join(self.out, 'logs', f'{name}.log')
    if os.path.exists(raw):
      os.remove(raw)
    command = [self.python, 'benchmarks/step.py', f'--config={config}', f'--dtype={dtype}',
               *([] if batch is None else [f'--batch_size={batch}']), f'--json={raw}', *extra]
    code, seconds = self.run(name, command, log, timeout=timeout)
    if code != 0 or not os.path.exists(raw):
      raise CaseError(self.failure('benchmarks/step.py', code, log))
    with open(raw, encoding='utf-8') as f:
      figures = json.load(f)
    return {'status': 'ok', 'wall_s': seconds, 'log': os.path.relpath(log, self.out),
            'command': ' '.join(command[1:]), **figures}


class CaseError(Exception):
  """A case that failed; `partial` holds what it had found by then."""

  def __init__(self, message, partial=None):
    super().__init__(message)
    self.partial = partial or {}


def stop(proc, grace=10.0):
  """Ends a process this suite started, and the processes it started: SIGTERM, then SIGKILL."""
  for sig in (signal.SIGTERM, signal.SIGKILL):
    try:
      os.killpg(proc.pid, sig)
    except ProcessLookupError:
      return
    try:
      proc.wait(timeout=grace)
      return
    except subprocess.TimeoutExpired:
      continue


def tail(path, lines=15):
  """The last lines of a log, for an error."""
  try:
    with open(path, encoding='utf-8', errors='replace') as f:
      return ''.join(f.readlines()[-lines:]).rstrip()
  except OSError:
    return '(no log)'


def case(function, *args):
  """Runs one case; a failure becomes {'status': 'failed', 'error': ...} instead of an
  exception, so that the other cases go on."""
  start = time.monotonic()
  try:
    return function(*args)
  except BudgetSpent as e:
    return {'status': 'failed', 'error': str(e)}
  except CaseError as e:
    return {**e.partial, 'status': 'failed', 'error': str(e),
            'wall_s': time.monotonic() - start}
  except Exception as e:  # a bug or an unexpected file: recorded, the suite goes on
    return {'status': 'failed', 'error': f'{type(e).__name__}: {e}',
            'wall_s': time.monotonic() - start}


def run_cases(suite, cases, jobs):
  """{name: result} of `cases` ({name: (function, *args)}), `jobs` at a time."""
  if jobs <= 1:
    return {name: case(*spec) for name, spec in cases.items()}
  with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
    futures = {name: pool.submit(case, *spec) for name, spec in cases.items()}
    return {name: future.result() for name, future in futures.items()}


# ---- Environment ----

_PROBE = r'''
import importlib.metadata, importlib.util, json, sys
required = json.loads(sys.argv[1])
info = {'python': sys.version.split()[0], 'versions': {}, 'missing': []}
for name in json.loads(sys.argv[2]):
  try:
    info['versions'][name] = importlib.metadata.version(name)
  except importlib.metadata.PackageNotFoundError:
    info['versions'][name] = None
for module, package in required.items():
  try:
    found = importlib.util.find_spec(module) is not None
  except ModuleNotFoundError:
    found = False
  if not found:
    info['missing'].append(package)
info['torch'] = importlib.util.find_spec('torch') is not None
if 'jax' not in [m.split('.')[0] for m in info['missing']]:
  import jax
  devices = jax.devices()
  info.update(backend=jax.default_backend(), device_kind=devices[0].device_kind,
              device_count=len(devices))
print('PROBE ' + json.dumps(info))
'''


def environment(suite):
  """Versions, the device and the driver, and the missing packages (a subprocess, so that this
  process never touches the GPU)."""
  log = os.path.join(suite.out, 'logs', 'environment.log')
  command = [suite.python, '-c', _PROBE, json.dumps(REQUIRED), json.dumps(VERSIONS)]
  code, _ = suite.run('environment', command, log, timeout=120)
  with open(log, encoding='utf-8', errors='replace') as f:
    found = [line[6:] for line in f if line.startswith('PROBE ')]
  if code != 0 or not found:
    raise CaseError(suite.failure('the environment probe', code, log))
  info = json.loads(found[-1])
  info['host_cpus'] = os.cpu_count()
  info['nvidia_smi'] = nvidia_smi()
  return info


def nvidia_smi():
  """GPU name, driver version and memory from nvidia-smi, or why there are none."""
  if shutil.which('nvidia-smi') is None:
    return {'error': 'nvidia-smi not found'}
  try:
    out = subprocess.run(['nvidia-smi', '--query-gpu=name,driver_version,memory.total',
                          '--format=csv,noheader'], capture_output=True, text=True, timeout=30)
  except (OSError, subprocess.TimeoutExpired) as e:
    return {'error': f'nvidia-smi failed: {e}'}
  if out.returncode != 0:
    return {'error': f'nvidia-smi exited with code {out.returncode}: {out.stderr.strip()}'}
  gpus = [dict(zip(('name', 'driver_version', 'memory'), (v.strip() for v in line.split(','))))
          for line in out.stdout.strip().splitlines()]
  return {'gpus': gpus, 'driver_version': gpus[0]['driver_version'] if gpus else None}


# ---- 1. The smoke test ----

STOPPED = re.compile(r'Stopped by SIGTERM at step (\d+)')
RESUMED = re.compile(r'Resumed from the checkpoint of step (\d+)')
NEVER = 10 ** 7  # train.steps of the run that is stopped, and its checkpoint_every


def read_records(path):
  """The records of a workdir's metrics.jsonl (complete lines only: it may be being written)."""
  if not os.path.exists(path):
    return []
  with open(path, encoding='utf-8') as f:
    lines = f.read().split('\n')[:-1]
  return [json.loads(line) for line in lines if line.strip()]


def checkpoint_steps(workdir):
  """The steps of the checkpoints in a workdir."""
  directory = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(directory):
    return []
  return sorted(int(n) for n in os.listdir(directory) if n.isdigit())


def smoke_run(suite, dtype, classifier_ready):
  """Trains, stops with SIGTERM, resumes, samples and evaluates one dtype's run; a failure
  keeps what was found before it."""
  result = {}
  try:
    return _smoke_run(suite, dtype, classifier_ready, result)
  except CaseError as e:
    e.partial = result
    raise


def _smoke_run(suite, dtype, classifier_ready, result):
  s = suite.sizes
  folder = os.path.join(suite.out, 'smoke', dtype)
  workdir = os.path.join(folder, 'workdir')
  env = dict(suite.env, XLA_PYTHON_CLIENT_PREALLOCATE='false')  # the runs share the device
  train = [suite.python, '-m', 'gan_jax.main', f'--config={s.smoke_config}',
           f'--workdir={workdir}', f'--config.train.dtype={dtype}',
           f'--config.train.log_every={s.smoke_log_every}',
           f'--config.train.sample_every={s.smoke_sample_every}',
           f'--config.train.checkpoint_every={NEVER}']
  result.update(workdir=os.path.relpath(workdir, suite.out), seconds={})
  start = time.monotonic()

  # The run that is stopped: it would train for ever; SIGTERM once it has logged enough steps.
  log = os.path.join(folder, 'train.log')
  metrics = os.path.join(workdir, 'metrics.jsonl')
  limit = min(s.timeout, suite.left())
  if limit < 5:
    raise BudgetSpent(suite.spent())
  os.makedirs(folder, exist_ok=True)
  with open(log, 'w', encoding='utf-8') as f:
    command = train + [f'--config.train.steps={NEVER}']
    f.write('$ ' + ' '.join(command) + '\n')
    f.flush()
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT,
                            start_new_session=True)
    begun = time.monotonic()
    signalled_at = None
    while proc.poll() is None and time.monotonic() - begun < limit:
      records = read_records(metrics)
      if records and records[-1]['step'] >= s.smoke_stop_after:
        signalled_at = records[-1]['step']
        proc.send_signal(signal.SIGTERM)
        break
      time.sleep(0.2)
    if signalled_at is None:
      stop(proc)
      raise CaseError(suite.failure(
          f'the training run (never reached step {s.smoke_stop_after})', proc.returncode, log))
    try:
      code = proc.wait(timeout=max(limit - (time.monotonic() - begun), 30))
    except subprocess.TimeoutExpired:
      stop(proc)
      code = None
    result['seconds']['train'] = time.monotonic() - begun
  if code != 128 + signal.SIGTERM:
    raise CaseError(suite.failure(f'the training run stopped with SIGTERM (expected exit code '
                                  f'{128 + signal.SIGTERM})', code, log))
  with open(log, encoding='utf-8', errors='replace') as f:
    found = STOPPED.findall(f.read())
  if not found:
    raise CaseError(suite.failure('the stopped run logged no "Stopped by SIGTERM at step"', code,
                                  log))
  stopped_at = int(found[-1])
  saved = checkpoint_steps(workdir)
  result.update(signalled_after_step=signalled_at, stopped_at=stopped_at,
                checkpoints_after_stop=saved)
  if stopped_at not in saved:
    raise CaseError(f'the stopped run says it saved step {stopped_at}, but its checkpoints are '
                    f'{saved}')
  records_before = len(read_records(metrics))

  # The resumed run: from the saved step to `smoke_resume_steps` past it.
  target = stopped_at + s.smoke_resume_steps
  log = os.path.join(folder, 'resume.log')
  code, result['seconds']['resume'] = suite.run(
      f'smoke {dtype} resume', train + [f'--config.train.steps={target}'], log, env=env)
  if code != 0:
    raise CaseError(suite.failure('the resumed run', code, log))
  with open(log, encoding='utf-8', errors='replace') as f:
    found = RESUMED.findall(f.read())
  if not found:
    raise CaseError(suite.failure('the resumed run logged no "Resumed from the checkpoint"', code,
                                  log))
  resumed_from = int(found[-1])
  resumed = read_records(metrics)[records_before:]
  if not resumed:
    raise CaseError(f'the resumed run wrote no metrics to {metrics}')
  rates = [r['images_per_sec'] for r in resumed if r.get('images_per_sec', 0) > 0]
  result.update(resumed_from=resumed_from, first_resumed_step=resumed[0]['step'],
                last_step=resumed[-1]['step'], target_step=target,
                checkpoints=checkpoint_steps(workdir),
                train_images_per_s=sum(rates) / len(rates) if rates else None,
                last_losses={k: v for k, v in resumed[-1].items() if k.endswith('_loss')})
  problems = []
  if resumed_from != stopped_at:
    problems.append(f'resumed from step {resumed_from}, not the saved {stopped_at}')
  if not stopped_at < resumed[0]['step'] <= stopped_at + s.smoke_log_every:
    problems.append(f'its first metrics record is step {resumed[0]["step"]}, which does not '
                    f'follow step {stopped_at}')
  if resumed[-1]['step'] != target or target not in result['checkpoints']:
    problems.append(f'it did not reach and save step {target}')
  if problems:
    raise CaseError('the resumed run ' + '; '.join(problems))
  # The trainer's last sample grid and its loss plot, beside the logs.
  for source, copy in ((os.path.join('samples', f'step_{target}.png'), f'train_step_{target}.png'),
                       ('losses.png', 'losses.png')):
    if os.path.exists(os.path.join(workdir, source)):
      shutil.copy(os.path.join(workdir, source), os.path.join(folder, copy))

  # Samples from the checkpoint.
  grid = os.path.join(folder, f'sample_{target}.png')
  log = os.path.join(folder, 'sample.log')
  code, result['seconds']['sample'] = suite.run(
      f'smoke {dtype} sample', [suite.python, '-m', 'gan_jax.sample', f'--workdir={workdir}',
                                f'--out={grid}'], log, env=env)
  if code != 0 or not os.path.exists(grid):
    raise CaseError(suite.failure('gan_jax.sample', code, log))
  result['sample_grid'] = os.path.relpath(grid, suite.out)

  # The evaluation, once the classifier is trained.
  classifiers = classifier_ready.result()
  log = os.path.join(folder, 'evaluate.log')
  code, result['seconds']['evaluate'] = suite.run(
      f'smoke {dtype} evaluate', [suite.python, '-m', 'gan_jax.evaluate',
                                  f'--workdir={workdir}', *s.evaluate_args], log,
      env=dict(env, GAN_JAX_CLASSIFIERS=classifiers))
  evaluation = os.path.join(workdir, f'eval_{target}.json')
  if code != 0 or not os.path.exists(evaluation):
    raise CaseError(suite.failure('gan_jax.evaluate', code, log))
  with open(evaluation, encoding='utf-8') as f:
    result['evaluation'] = json.load(f)['values']
  result.update(status='ok', wall_s=time.monotonic() - start)
  return result


def train_classifier(suite):
  """The digits classifier that gan_jax.evaluate's domain_fd reads; returns its folder."""
  directory = os.path.join(suite.out, 'smoke', 'classifiers')
  log = os.path.join(suite.out, 'smoke', 'classifier.log')
  env = dict(suite.env, XLA_PYTHON_CLIENT_PREALLOCATE='false')
  code, _ = suite.run('classifier', [suite.python, '-m', 'gan_jax.classifier',
                                     '--dataset=digits', f'--out_dir={directory}',
                                     *suite.sizes.classifier_args], log, env=env)
  if code != 0:
    raise CaseError(suite.failure('gan_jax.classifier', code, log))
  return directory


def part_smoke(suite):
  """The two dtypes' runs side by side, beside the classifier their evaluations need."""
  shutil.rmtree(os.path.join(suite.out, 'smoke'), ignore_errors=True)  # no stale workdirs
  suite.part_deadline = time.monotonic() + suite.sizes.smoke_budget
  try:
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
      classifier = pool.submit(train_classifier, suite)
      runs = {dtype: pool.submit(case, smoke_run, suite, dtype, classifier) for dtype in DTYPES}
      cases = {dtype: future.result() for dtype, future in runs.items()}
  finally:
    suite.part_deadline = suite.deadline
  return {'cases': cases}


# ---- 2. The step against the PyTorch peer ----

def part_step(suite):
  """dcgan_celeba's step against the peer: each dtype, eager and compiled."""
  s = suite.sizes
  cases = {}
  for dtype in DTYPES:
    for mode in ('eager', 'compile'):
      name = f'dcgan_celeba_b{s.step_batch}_{dtype}_{mode}'
      if suite.torch_reason is None:
        extra = ['--peer=torch', *s.step_args]
        if mode == 'compile':
          extra += ['--peer_compile', f'--warmup={s.compile_warmup}']
        cases[name] = (peer_case, suite, name, dtype, extra, mode)
      elif mode == 'eager':  # gan_jax alone, which part 5 compares the input with
        cases[name] = (peer_case, suite, name, dtype, list(s.step_args), mode)
      elif suite.dry:
        cases[name] = (skipped, suite.torch_reason)
      else:
        cases[name] = (failed, suite.torch_reason)
  return {'cases': run_cases(suite, cases, suite.jobs)}


def peer_case(suite, name, dtype, extra, mode):
  """One step.py run of part 2; without torch, gan_jax's side alone (a failure outside --dry)."""
  s = suite.sizes
  timeout = s.timeout * (2 if mode == 'compile' else 1)
  result = suite.step_case(name, s.step_config, dtype, s.step_batch, extra, timeout)
  result['mode'] = mode
  if suite.torch_reason is not None:
    result['torch'] = {'status': 'skipped', 'reason': suite.torch_reason}
    result['speedup_vs_torch'] = None
    if not suite.dry:
      result['status'] = 'failed'
      result['error'] = suite.torch_reason
  elif 'speedup_vs_torch' not in result:
    raise CaseError(f'{result["log"]} has no speedup_vs_torch')
  return result


def skipped(reason):
  """A case not run, and why."""
  return {'status': 'skipped', 'reason': reason}


def failed(error):
  """A case that cannot run where it must."""
  return {'status': 'failed', 'error': error}


# ---- 3. Throughput and MFU ----

def part_throughput(suite):
  """dcgan_celeba at the large batch in bfloat16."""
  s = suite.sizes
  name = f'dcgan_celeba_b{s.throughput_batch}_bfloat16'
  return {'cases': run_cases(suite, {name: (throughput_case, suite, name)}, 1)}


def throughput_case(suite, name):
  """Images/s, and the MFU where the chip's peak is known."""
  s = suite.sizes
  result = suite.step_case(name, s.step_config, 'bfloat16', s.throughput_batch,
                           s.throughput_args)
  ours = result['gan_jax']
  kind = result['jax']['device_kind']
  flops = ours.get('flops_per_step_per_device')
  peak = PEAK_BF16_FLOPS.get(kind)
  result.update(images_per_s=ours['images_per_s'], flops_per_step_per_device=flops,
                flops_source=ours.get('flops_source'), device_kind=kind,
                peak_bf16_flops=peak)
  if flops is None:
    result.update(mfu=None, mfu_reason='XLA\'s cost analysis gave no FLOP count')
  elif peak is None:
    result.update(mfu=None, mfu_reason=f'no peak bfloat16 FLOP/s is known for device kind '
                                       f'{kind!r} (PEAK_BF16_FLOPS in benchmarks/gpu_suite.py)')
  else:
    achieved = flops / ours['median_step_s']
    result.update(achieved_flops_per_s=achieved, mfu=achieved / peak,
                  mfu_basis=f'XLA cost-analysis FLOPs of one compiled step per device / median '
                            f'step time / {peak:.4g} FLOP/s, the dense bfloat16 peak of {kind}')
  return result


# ---- 4. The other families ----

def part_families(suite):
  """Every other family's experiment in both dtypes (--dry: one each, in turn)."""
  cases = {}
  for i, (family, experiment) in enumerate(FAMILIES):
    for j, dtype in enumerate(DTYPES):
      name = f'{experiment}_{dtype}'
      if suite.sizes.family_dtypes == 'alternate' and (i + j) % 2:
        cases[name] = (skipped, '--dry times each family in one dtype, float32 and bfloat16 '
                                'in turn, to stay short on the CPU; the GPU run times both')
      else:
        cases[name] = (family_case, suite, name, family, experiment, dtype)
  return {'cases': run_cases(suite, cases, suite.jobs)}


def family_case(suite, name, family, experiment, dtype):
  """One step.py run of an experiment at its own batch."""
  s = suite.sizes
  result = suite.step_case(name, f'experiments/{experiment}.py{s.family_suffix}', dtype, None,
                           s.family_args)
  return {**result, 'family_name': family, 'images_per_s': result['gan_jax']['images_per_s']}


# ---- 5. The input pipeline against the step ----

def part_input(suite):
  """The JPEG pipeline, with the config's reader threads and with one per host core."""
  cases = {'celeba_jpeg_config_workers': (input_case, suite, 'celeba_jpeg_config_workers', None),
           'celeba_jpeg_all_cores': (input_case, suite, 'celeba_jpeg_all_cores',
                                     os.cpu_count())}
  return {'cases': run_cases(suite, cases, suite.jobs)}


def input_case(suite, name, workers):
  """benchmarks/input.py with the config's reader threads (data.workers, what training uses),
  or `workers` of them."""
  s = suite.sizes
  raw = os.path.join(suite.out, 'raw', f'{name}.json')
  log = os.path.join(suite.out, 'logs', f'{name}.log')
  command = [suite.python, 'benchmarks/input.py', f'--config={s.input_config}',
             f'--batch_size={s.input_batch}', '--no_step', f'--json={raw}', *s.input_args,
             *([] if workers is None else [f'--workers={workers}'])]
  code, seconds = suite.run(name, command, log)
  if code != 0 or not os.path.exists(raw):
    raise CaseError(suite.failure('benchmarks/input.py', code, log))
  with open(raw, encoding='utf-8') as f:
    figures = json.load(f)['input']
  result = {'status': 'ok', 'wall_s': seconds, 'log': os.path.relpath(log, suite.out),
            'command': ' '.join(command[1:]), **figures,
            'input_images_per_s': figures['decoding']['images_per_s'],
            'cached_images_per_s': figures['cached']['images_per_s']}
  # What the step of part 2 consumes, at the same batch, in each dtype.
  step = suite.results.get('step', {}).get('cases', {})
  consumed = {}
  for dtype in DTYPES:
    for mode in ('eager', 'compile'):
      r = step.get(f'dcgan_celeba_b{s.step_batch}_{dtype}_{mode}', {})
      if 'gan_jax' in r and dtype not in consumed:
        consumed[dtype] = r['gan_jax']['images_per_s']
  result['step_images_per_s'] = consumed
  if not consumed:
    result['input_over_step'] = None
    result['input_over_step_reason'] = ('part step has no gan_jax images/s in this run (not '
                                        'run or failed)')
  else:
    fastest = max(consumed, key=consumed.get)
    result['input_over_step'] = result['input_images_per_s'] / consumed[fastest]
    result['input_over_step_basis'] = (f'input decoding every image / the {fastest} step at '
                                       f'batch {s.step_batch} (the fastest of part step)')
    result['input_over_step_by_dtype'] = {d: result['input_images_per_s'] / rate
                                          for d, rate in consumed.items()}
    result['cached_over_step'] = result['cached_images_per_s'] / consumed[fastest]
  return result


PART_FUNCTIONS = {'smoke': part_smoke, 'step': part_step, 'throughput': part_throughput,
                  'families': part_families, 'input': part_input}


# ---- The table ----

def rate(value):
  """Images/s for the table."""
  if value is None:
    return '-'
  return f'{value:,.0f} images/s' if value >= 100 else f'{value:.3g} images/s'


def describe(part, name, r):
  """One line of the table for a case."""
  if r.get('status') == 'skipped':
    return f'skipped: {r["reason"]}'
  if r.get('status') != 'ok' and 'error' in r:
    return 'FAILED: ' + r['error'].splitlines()[0]
  if part == 'smoke':
    fd = ', '.join(f'{k} {v:.4g}' for k, v in r['evaluation'].items())
    return (f'SIGTERM after step {r["signalled_after_step"]}, saved step {r["stopped_at"]}; '
            f'resumed from {r["resumed_from"]} (first record {r["first_resumed_step"]}) to '
            f'{r["last_step"]}; sampled; {fd}')
  if part == 'step':
    text = f'gan_jax {rate(r["gan_jax"]["images_per_s"])}'
    if r.get('speedup_vs_torch') is not None:
      text += (f', torch {rate(r["torch"]["images_per_s"])}, '
               f'speedup_vs_torch {r["speedup_vs_torch"]:.3f}')
    else:
      text += f'; torch skipped: {r["torch"]["reason"]}'
    return text
  if part == 'throughput':
    flops = r['flops_per_step_per_device']
    text = f'{rate(r["images_per_s"])}, ' + ('no FLOP count' if flops is None else
                                              f'{flops:.4g} FLOPs/step')
    if r.get('mfu') is not None:
      return text + f', MFU {100 * r["mfu"]:.1f}% of {r["peak_bf16_flops"]:.4g}'
    return text + f', MFU null: {r["mfu_reason"]}'
  if part == 'families':
    return rate(r['images_per_s'])
  if part == 'input':
    text = (f'{r["workers"]} threads: decoding {rate(r["input_images_per_s"])}, cached '
            f'{rate(r["cached_images_per_s"])}; step '
            + (', '.join(f'{d} {rate(v)}' for d, v in r['step_images_per_s'].items()) or '-'))
    if r.get('input_over_step') is None:
      return text + f'; ratio null: {r["input_over_step_reason"]}'
    return text + f'; input/step {r["input_over_step"]:.2f}'
  return json.dumps(r)


def table(results):
  """The printed table: one row per case (or per part that did not run)."""
  rows = [('part', 'case', 'result')]
  for part in PARTS:
    if part not in results:
      continue
    p = results[part]
    if 'cases' not in p:
      why = (p.get('error') or p.get('reason') or '').splitlines()[:1]
      rows.append((part, '-', ': '.join([p['status'], *why])))
      continue
    for name, r in p['cases'].items():
      rows.append((part, name, describe(part, name, r)))
  widths = [max(len(row[i]) for row in rows) for i in range(2)]
  lines = [f'{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}' for row in rows]
  lines.insert(1, '-' * min(120, widths[0] + widths[1] + 40))
  return '\n'.join(lines)


def part_status(p):
  """'failed' if a case failed, 'skipped' if every case was, else 'ok'."""
  statuses = [r.get('status') for r in p.get('cases', {}).values()]
  if p.get('status') == 'failed' or 'failed' in statuses:
    return 'failed'
  if statuses and all(s == 'skipped' for s in statuses):
    return 'skipped'
  return 'ok'


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--dry', action='store_true', help='the same parts on the CPU, tiny')
  parser.add_argument('--out', default=os.path.join(REPO, 'runs', 'gpu_suite'),
                      help='output folder (default runs/gpu_suite)')
  parser.add_argument('--parts', default=','.join(PARTS),
                      help=f'comma-separated, from {",".join(PARTS)} (default: all)')
  parser.add_argument('--budget', type=int, default=None,
                      help='seconds for the whole suite (default 440; --dry 600)')
  parser.add_argument('--jobs', type=int, default=None,
                      help='cases run at a time within a part (default 1; --dry 2)')
  args = parser.parse_args(argv)
  parts = [p.strip() for p in args.parts.split(',') if p.strip()]
  unknown = sorted(set(parts) - set(PARTS))
  if unknown:
    parser.error(f'unknown parts {unknown}; choose from {list(PARTS)}')

  suite = Suite(args)
  os.makedirs(suite.out, exist_ok=True)
  started = datetime.datetime.now(datetime.timezone.utc)
  report = {'suite': {'mode': 'dry (CPU, smoke sizes: not GPU figures)' if suite.dry else 'gpu',
                      'command': ' '.join(['benchmarks/gpu_suite.sh'] + (argv or sys.argv[1:])),
                      'started': started.isoformat(timespec='seconds'),
                      'budget_s': suite.budget, 'jobs': suite.jobs, 'parts': parts,
                      'sizes': dataclasses.asdict(suite.sizes),
                      'jax_compilation_cache': suite.env.get('JAX_COMPILATION_CACHE_DIR')},
            'parts': suite.results}
  print(f'gpu_suite: {"--dry, on the CPU" if suite.dry else "GPU"}; parts {parts}; budget '
        f'{suite.budget} s; output in {suite.out}', flush=True)

  blocked = None
  try:
    env = environment(suite)
  except (CaseError, BudgetSpent) as e:
    env, blocked = {'error': str(e)}, f'the environment probe failed: {e}'
  report['environment'] = env
  if blocked is None and env.get('missing'):
    blocked = f'missing packages {env["missing"]}: {CARRY}'
  if blocked is None and not suite.dry and env.get('backend') != 'gpu':
    blocked = (f'JAX sees no GPU (backend {env.get("backend")!r}); run with --dry on a machine '
               'without one')
  if blocked is None and not env.get('torch'):
    suite.torch_reason = ('torch is not installed: the PyTorch peer (benchmarks/torch_peer.py) '
                          'cannot run')
  if blocked is not None:
    print(f'gpu_suite: {blocked}', file=sys.stderr)

  for part in parts:
    if blocked is not None:
      suite.results[part] = {'status': 'failed', 'error': f'not run: {blocked}'}
      continue
    print(f'gpu_suite: part {part} ({suite.left():.0f} s of the budget left)', flush=True)
    start = time.monotonic()
    try:
      result = PART_FUNCTIONS[part](suite)
    except Exception as e:  # a bug in a part: recorded, the other parts go on
      result = {'status': 'failed', 'error': f'{type(e).__name__}: {e}'}
    result['wall_s'] = time.monotonic() - start
    result['status'] = part_status(result)
    suite.results[part] = result
    print(f'gpu_suite: part {part}: {result["status"]} in {result["wall_s"]:.0f} s', flush=True)

  failed = [p for p in parts if suite.results[p]['status'] == 'failed']
  report['suite'].update(wall_s=time.monotonic() - suite.start, failed_parts=failed)
  with open(os.path.join(suite.out, 'suite.json'), 'w', encoding='utf-8') as f:
    json.dump(report, f, indent=2, sort_keys=False)
  text = table(suite.results)
  with open(os.path.join(suite.out, 'suite.txt'), 'w', encoding='utf-8') as f:
    f.write(text + '\n')
  print(text)
  kind = env.get('device_kind', '?')
  driver = env.get('nvidia_smi', {}).get('driver_version')
  print(f'device {kind}; driver {driver or "-"}; jax {env.get("versions", {}).get("jax")}; '
        f'torch {env.get("versions", {}).get("torch")}; {report["suite"]["wall_s"]:.0f} s; '
        f'failed parts: {failed or "none"}; figures in {os.path.join(suite.out, "suite.json")}')
  if blocked is not None and env.get('missing'):
    return 2
  return 1 if failed else 0


if __name__ == '__main__':
  sys.exit(main())
