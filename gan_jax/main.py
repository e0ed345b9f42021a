"""Trains a GAN from an experiment file.

  python -m gan_jax.main --config=experiments/dcgan_digits.py [--workdir=DIR] \
      [--config.train.steps=2000 ...]

`--config=FILE:ARG` passes ARG to the file's `get_config` (e.g. `:smoke`, the tiny variant).
The workdir defaults to runs/<config file stem>; running again in it resumes.
"""

import os

from absl import app, flags, logging
from ml_collections import config_flags

from gan_jax import train, writers

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment file (experiments/*.py).',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None,
                               'Where checkpoints, logs and samples go '
                               '(default: runs/<config file stem>).')
flags.mark_flags_as_required(['config'])


def default_workdir(config_path: str) -> str:
  stem = os.path.splitext(os.path.basename(config_path.split(':')[0]))[0]
  return os.path.join('runs', stem)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.INFO)
  writers.quiet_library_logs()
  workdir = _WORKDIR.value or default_workdir(flags.FLAGS['config'].config_filename)
  logging.info('Workdir: %s', os.path.abspath(workdir))
  train.train_and_evaluate(_CONFIG.value, workdir)


if __name__ == '__main__':
  app.run(main)
