"""Expands an experiment's sweep into runs and launches them.

  python -m gan_jax.sweeps --config=experiments/x.py[:arg] [--sweep=name]
      --backend=local|slurm|print [--parallel=N] [--runs_dir=runs] [--slurm_* ...]

Each run (one point of the sweep) trains in runs/<experiment>/<sweep>/<point>, a directory
named after the point's overrides; runs/<experiment>/<sweep>/sweep.json records the points.
Launching the same sweep again skips the finished runs and resumes the others from their
checkpoints. Summarise with `python -m gan_jax.sweeps.summarize runs/<experiment>/<sweep>`.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from gan_jax import files
from gan_jax.sweeps import backends, points

_CONFIG = flags.DEFINE_string('config', None, 'Experiment file, optionally with :arg.')
_SWEEP = flags.DEFINE_string('sweep', None, "Name passed to the file's get_sweep (default: "
                             'its default sweep).')
_BACKEND = flags.DEFINE_enum('backend', 'print', ['local', 'slurm', 'print'],
                             'Run here, submit a SLURM array, or print the commands.')
_PARALLEL = flags.DEFINE_integer('parallel', None, 'Concurrent runs (local: default 1; slurm: '
                                 'the array throttle, default unlimited).', lower_bound=1)
_RUNS_DIR = flags.DEFINE_string('runs_dir', 'runs', 'Root of the run directories.')
_NODES = flags.DEFINE_integer('slurm_nodes', 1, 'Nodes per run (slurm).', lower_bound=1)
_GPUS = flags.DEFINE_integer('slurm_gpus_per_node', 0, 'GPUs per node (slurm).', lower_bound=0)
_CPUS = flags.DEFINE_integer('slurm_cpus_per_task', None, 'CPUs per task (slurm).')
_TIME = flags.DEFINE_string('slurm_time', '24:00:00', 'Time limit per run (slurm).')
_PARTITION = flags.DEFINE_string('slurm_partition', None, 'Partition (slurm).')
_ACCOUNT = flags.DEFINE_string('slurm_account', None, 'Account (slurm).')
flags.mark_flags_as_required(['config'])


def _write_manifest(sweep_dir, runs):
  os.makedirs(sweep_dir, exist_ok=True)
  manifest = {'config': _CONFIG.value, 'sweep': _SWEEP.value or 'default',
              'runs': [{'name': r.name, 'overrides': r.overrides, 'workdir': r.workdir,
                        'steps': r.steps, 'command': points.shell(r.command)} for r in runs]}
  path = os.path.join(sweep_dir, 'sweep.json')
  files.write_json(path, manifest, default=str)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  sweep_dir, runs = points.expand(_CONFIG.value, _SWEEP.value, _RUNS_DIR.value)
  if _BACKEND.value == 'print':
    backends.print_commands(runs)
    return
  _write_manifest(sweep_dir, runs)
  states = {r.name: points.status(r) for r in runs}
  todo = [r for r in runs if states[r.name] != 'finished']
  done = len(runs) - len(todo)
  resumed = sum(states[r.name] == 'started' for r in todo)
  print(f'{sweep_dir}: {len(runs)} runs; {done} finished (skipped), {resumed} to resume, '
        f'{len(todo) - resumed} new.', flush=True)
  if not todo:
    return
  if _BACKEND.value == 'local':
    results = backends.run_local(todo, parallel=_PARALLEL.value or 1)
    failed = [name for name, code in results.items() if code]
    if failed:
      print(f'{len(failed)} run(s) failed: {", ".join(failed)}', file=sys.stderr)
      sys.exit(1)
    return
  script = backends.write_slurm(
      todo, sweep_dir, config=_CONFIG.value, sweep=_SWEEP.value, parallel=_PARALLEL.value,
      nodes=_NODES.value, gpus_per_node=_GPUS.value, cpus_per_task=_CPUS.value,
      time_limit=_TIME.value, partition=_PARTITION.value, account=_ACCOUNT.value)
  print(backends.submit_slurm(script))


if __name__ == '__main__':
  app.run(main)
