"""Trains a GAN from an experiment file.

  python -m gan_jax.main --config=experiments/dcgan_digits.py [--workdir=DIR] \
      [--config.train.steps=2000 ...]

`--config=FILE:ARG` passes ARG to the file's `get_config` (e.g. `:smoke`, the tiny variant).
The workdir defaults to runs/<config file stem>; running again in it resumes.

Several processes (hosts) train one model together when started by SLURM (srun), Open MPI or
on a TPU VM slice, which JAX detects, or with --coordinator_address, --num_processes and
--process_id given to every process. All processes write to the same workdir: Orbax
coordinates the checkpoints, and only process 0 writes logs and pictures.
"""

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from gan_jax import checkpointing, parallel, train, writers
from gan_jax.data import tfds_source

# Failures whose message says what to do: reported without a traceback.
_EXPLAINED = (tfds_source.DatasetNotReadyError, checkpointing.CheckpointError,
              train.NonFiniteLossError)

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment file (experiments/*.py).',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None,
                               'Where checkpoints, logs and samples go '
                               '(default: runs/<config file stem>).')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'host:port of process 0, for multi-process training without '
    'a cluster manager that JAX detects (SLURM, Open MPI and TPU VMs are detected).')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Processes in the run.',
                                      lower_bound=1)
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'This process, 0 .. num_processes - 1.',
                                   lower_bound=0)
flags.mark_flags_as_required(['config'])


def default_workdir(config_path: str) -> str:
  stem = os.path.splitext(os.path.basename(config_path.split(':')[0]))[0]
  return os.path.join('runs', stem)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.INFO)
  writers.quiet_library_logs()
  parallel.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  workdir = _WORKDIR.value or default_workdir(flags.FLAGS['config'].config_filename)
  logging.info('Workdir: %s', os.path.abspath(workdir))
  try:
    train.train_and_evaluate(_CONFIG.value, workdir)
  except _EXPLAINED as e:
    logging.error('%s: %s', type(e).__name__, e)
    sys.exit(1)


if __name__ == '__main__':
  app.run(main)
