"""Evaluates a run's checkpoint, without the training code path.

  python -m gan_jax.evaluate --workdir=DIR [--metrics=fid,kid] [--num_samples=N] [--step=S]
      [--best] [--seed=S]

Restores the latest checkpoint (or `--step`, or with `--best` the best one kept during
training) from the workdir alone, draws `--num_samples` samples from its EMA generator and
computes the metrics (gan_jax/evaluators/registry.py; default: the run's `evals.metrics`, else
the natural ones for its data: `domain_fd` on digits, plus `class_accuracy` and `intra_fd` for a
conditional run). Writes workdir/eval_<step>.json with the values and the protocol. The work is
`runs.evaluate_run`; this module holds only the command line.
"""

from __future__ import annotations

from absl import app, flags, logging

from gan_jax import runs, writers
from gan_jax.evaluators import registry

_WORKDIR = flags.DEFINE_string('workdir', None, 'The run directory (holds config.json).')
_METRICS = flags.DEFINE_list('metrics', None, f'Metrics among {sorted(registry.METRICS)}.')
_NUM = flags.DEFINE_integer('num_samples', None, 'Generated samples (default: the config\'s '
                            'evals.num_samples).', lower_bound=2)
_NUM_REAL = flags.DEFINE_integer('num_real', None, 'Real examples for the reference '
                                 'statistics (default: evals.num_real).', lower_bound=2)
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
_BEST = flags.DEFINE_bool('best', False, 'Evaluate the best checkpoint kept in training.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the latents.')
flags.mark_flags_as_required(['workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.INFO)
  writers.quiet_library_logs()
  path, result = runs.evaluate_run(_WORKDIR.value, metrics=_METRICS.value,
                                  num_samples=_NUM.value, num_real=_NUM_REAL.value,
                                  step=_STEP.value, best=_BEST.value, seed=_SEED.value)
  for name, value in result['values'].items():
    print(f'{name} {value:.6g}')
  print(f'written to {path}')


if __name__ == '__main__':
  app.run(main)
