"""Evaluates a run's checkpoint, without the training code path.

  python -m gan_jax.evaluate --workdir=DIR [--metrics=fid,kid] [--num_samples=N] [--step=S]
      [--best] [--seed=S] [--truncation=T] [--truncation_sweep]

Restores the latest checkpoint (or `--step`, or with `--best` the best one kept during
training) from the workdir alone, draws `--num_samples` samples from its EMA generator and
computes the metrics (gan_jax/evaluators/registry.py; default: the run's `evals.metrics`, else
the natural ones for its data: `domain_fd` on digits, plus `class_accuracy` and `intra_fd` for a
conditional run). Writes workdir/eval_<step>.json with the values and the protocol. The work is
`runs.evaluate_run`; this module holds only the command line.

The truncation trick (BigGAN, Brock et al. 2019; `gan_jax/truncation.py`): `--truncation=T`
draws the samples from latents truncated at T. `--truncation_sweep` also evaluates at the
thresholds 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2 and untruncated, all from the same latents, adding
the rows to the JSON ('truncation_sweep') and plotting the trade-off to
workdir/truncation_<step>.png: the Fréchet distance against class_accuracy for a conditional
run (else against the threshold), each point marked with its threshold.
"""

from __future__ import annotations

from absl import app, flags, logging

from gan_jax import runs, truncation, writers
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
_TRUNCATION = flags.DEFINE_float('truncation', None, 'Truncation trick: resample latent '
                                 'entries beyond +-t until inside (t > 0; default: none).')
_SWEEP = flags.DEFINE_bool('truncation_sweep', False, 'Also evaluate at the thresholds '
                           '0.25 ... 2 and untruncated; plot the trade-off.')
flags.mark_flags_as_required(['workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.INFO)
  writers.quiet_library_logs()
  try:
    truncation.check_threshold(_TRUNCATION.value)
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  path, result = runs.evaluate_run(_WORKDIR.value, metrics=_METRICS.value,
                                  num_samples=_NUM.value, num_real=_NUM_REAL.value,
                                  step=_STEP.value, best=_BEST.value, seed=_SEED.value,
                                  truncation=_TRUNCATION.value, sweep=_SWEEP.value)
  for name, value in result['values'].items():
    print(f'{name} {value:.6g}')
  for row in result.get('truncation_sweep', ()):
    t = 'none' if row['truncation'] is None else f"{row['truncation']:g}"
    print(f'truncation {t}: ' + ', '.join(f'{k} {v:.6g}' for k, v in row.items()
                                          if k != 'truncation'))
  if 'truncation_plot' in result:
    print(f"trade-off curve in {result['truncation_plot']}")
  print(f'written to {path}')


if __name__ == '__main__':
  app.run(main)
