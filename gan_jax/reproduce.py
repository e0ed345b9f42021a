"""Runs the configs behind a published table over several seeds and writes our numbers beside
the published ones into docs/RESULTS.md.

  python -m gan_jax.reproduce mixtures [--seeds=3] [--steps=N] [--parallel=2] [--runs_dir=runs]
  python -m gan_jax.reproduce stacked  [--seeds=3] [--steps=N] [--packs=1,2] [--parallel=1]

Tables:
- `mixtures`: the ring of 8 and grid of 25 Gaussians (VEEGAN Table 1, PacGAN Table 1) with GAN
  and PacGAN2-4: experiments/gan_ring.py and gan_grid.py, `model.pack` = 1..4.
- `stacked`: stacked digits (PacGAN Table 2) with DCGAN and PacDCGAN2-4:
  experiments/dcgan_stacked_digits.py. Needs the digit classifier
  (`python -m gan_jax.classifier --dataset=digits`).

Each (config, pack, seed) trains in runs/reproduce/<table>/<point>, through the local launcher:
finished runs are skipped, interrupted ones resumed. Each final checkpoint is evaluated with
the papers' protocol (runs_lib.evaluate_run; eval_<step>.json in its workdir), and the table
of mean ± standard deviation over seeds, with the protocol actually run, replaces the table's
section of docs/RESULTS.md. `--steps` shortens training for a quick look; the table then says
so. Nothing is hard-coded but the published rows, copied from the papers (REFERENCES.md).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform

from absl import app, flags, logging
import numpy as np

from gan_jax import files, runs as runs_lib, writers
from gan_jax.sweeps import backends, points as points_lib

_SEEDS = flags.DEFINE_integer('seeds', 3, 'Seeds per configuration (0 .. N-1).', lower_bound=1)
_STEPS = flags.DEFINE_integer('steps', None, 'Override train.steps (default: the config\'s).',
                              lower_bound=1)
_PACKS = flags.DEFINE_list('packs', None, 'Only these rows, by pack size (1 = the plain GAN); '
                           'default: every row of the table.')
_PARALLEL = flags.DEFINE_integer('parallel', 1, 'Concurrent training runs.', lower_bound=1)
_RUNS_DIR = flags.DEFINE_string('runs_dir', 'runs', 'Root of the run directories.')
_RESULTS = flags.DEFINE_string('results', 'docs/RESULTS.md', 'The Markdown file to update.')


@dataclasses.dataclass(frozen=True)
class Table:
  experiments: tuple[str, ...]    # experiment files, one column group each
  packs: tuple[int, ...]
  batch_per_pack: int              # train.batch_size = batch_per_pack * pack
  columns: tuple[tuple[str, str], ...]  # (scalar, header) per experiment
  published: str                   # Markdown rows, from the papers
  row_names: dict


TABLES = {
    'mixtures': Table(
        experiments=('experiments/gan_ring.py', 'experiments/gan_grid.py'),
        packs=(1, 2, 3, 4), batch_per_pack=100,
        columns=(('modes', 'modes'), ('high_quality', '% HQ'), ('reverse_kl', 'rev-KL')),
        row_names={1: 'GAN', 2: 'PacGAN2', 3: 'PacGAN3', 4: 'PacGAN4'},
        published='''| PacGAN Table 1 (10 trials, mean ± s.e.) | ring modes | ring % HQ | ring rev-KL | grid modes | grid % HQ | grid rev-KL |
|---|---|---|---|---|---|---|
| GAN | 6.3 ± 0.5 | 98.2 ± 0.2 | 0.45 ± 0.09 | 17.3 ± 0.8 | 94.8 ± 0.7 | 0.70 ± 0.07 |
| PacGAN2 | 7.9 ± 0.1 | 95.6 ± 2.0 | 0.07 ± 0.03 | 23.8 ± 0.7 | 91.3 ± 0.8 | 0.13 ± 0.04 |
| PacGAN3 | 7.8 ± 0.1 | 97.7 ± 0.3 | 0.10 ± 0.02 | 24.6 ± 0.4 | 94.2 ± 0.4 | 0.06 ± 0.02 |
| PacGAN4 | 7.8 ± 0.1 | 95.9 ± 1.4 | 0.07 ± 0.02 | 24.8 ± 0.2 | 93.6 ± 0.6 | 0.04 ± 0.01 |

| VEEGAN Table 1 (5 runs) | ring modes | ring % HQ | grid modes | grid % HQ |
|---|---|---|---|---|
| GAN | 1 | 99.3 | 3.3 | 0.5 |
| Unrolled GAN | 7.6 | 35.6 | 23.6 | 16 |
| VEEGAN | 8 | 52.9 | 24.6 | 40 |'''),
    'stacked': Table(
        experiments=('experiments/dcgan_stacked_digits.py',),
        packs=(1, 2, 3, 4), batch_per_pack=64,
        columns=(('stacked_modes', 'modes'), ('stacked_kl', 'KL')),
        row_names={1: 'DCGAN', 2: 'PacDCGAN2', 3: 'PacDCGAN3', 4: 'PacDCGAN4'},
        published='''| Stacked MNIST, published | modes | KL |
|---|---|---|
| DCGAN (PacGAN Table 2) | 78.9 ± 6.5 | 4.50 ± 0.13 |
| PacDCGAN2 / 3 / 4 (PacGAN Table 2) | 1000 / 1000 / 1000 | 0.06 / 0.06 / 0.07 |
| DCGAN (VEEGAN Table 2) | 99 | 3.4 |
| VEEGAN (VEEGAN Table 2) | 150 | 2.95 |'''),
}


def plan(table: Table, name: str, seeds: int, steps: int | None, runs_dir: str):
  """The runs of a table: {(experiment, pack): [Run per seed]}."""
  groups = {}
  for experiment in table.experiments:
    points = points_lib.pacgan(table.batch_per_pack, table.packs, range(seeds))
    if steps:
      points = [dict(p, **{'train.steps': steps}) for p in points]
    stem = os.path.splitext(os.path.basename(experiment))[0]
    _, runs = points_lib.expand_points(experiment, points, os.path.join(runs_dir, 'reproduce', name,
                                                                   stem))
    for run in runs:
      groups.setdefault((experiment, run.overrides['model.pack']), []).append(run)
  return groups


def final_evaluation(run) -> dict:
  """The run's final checkpoint evaluated with the table's protocol (cached in eval_<step>)."""
  path = os.path.join(run.workdir, f'eval_{run.steps}.json')
  if os.path.exists(path):
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  _, result = runs_lib.evaluate_run(run.workdir)
  return result


def _number(value: float, digits: int = 3) -> str:
  """`digits` significant digits, but whole numbers of 1,000 and more in full (no 1e+03)."""
  return f'{value:.0f}' if abs(value) >= 10 ** digits else f'{value:.{digits}g}'


def _mean_std(values):
  """'mean ± std' over seeds; a single seed's value alone (it has no spread to show)."""
  values = np.asarray(values, np.float64)
  if len(values) == 1:
    return _number(values[0])
  return f'{_number(values.mean())} ± {_number(values.std(ddof=1), 2)}'


def markdown(table: Table, name: str, groups, results, seeds, steps) -> str:
  header = ['ours, mean ± std over seeds']
  for experiment in table.experiments:
    stem = os.path.splitext(os.path.basename(experiment))[0].split('_')[-1]
    header += [f'{stem} {label}' for _, label in table.columns]
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for pack in table.packs:
    cells = [table.row_names[pack]]
    for experiment in table.experiments:
      evals = [results[run.name, experiment] for run in groups[experiment, pack]]
      for scalar, _ in table.columns:
        cells.append(_mean_std([e['values'][f'eval/{scalar}'] for e in evals]))
    lines.append('| ' + ' | '.join(cells) + ' |')
  any_run = next(iter(groups.values()))[0]
  num_samples = next(iter(results.values()))['num_samples']
  schedule = ' (shortened with --steps)' if steps else ' (the experiment default)'
  seed_text = f'{seeds} seeds (0..{seeds - 1})' if seeds > 1 else '1 seed (0)'
  protocol = (f'{seed_text} per row; {any_run.steps:,} training steps per '
              f'run{schedule}; the final checkpoint evaluated on {num_samples:,} samples. '
              f'Measured {datetime.date.today().isoformat()} on {platform.machine()}, '
              f'{os.cpu_count()} CPUs.')
  return '\n'.join([f'<!-- reproduce:{name} -->', f'### {name}', '', protocol, '',
                    *lines, '', table.published, f'<!-- /reproduce:{name} -->'])


def write_section(path: str, name: str, section: str) -> None:
  text = open(path, encoding='utf-8').read() if os.path.exists(path) else '# Results\n'
  start, end = f'<!-- reproduce:{name} -->', f'<!-- /reproduce:{name} -->'
  if start in text and end in text:
    text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
  else:
    text = text.rstrip('\n') + '\n\n' + section + '\n'
  files.write_text(path, text)


def only_packs(table: Table, name: str, packs) -> Table:
  """The table restricted to the rows of these pack sizes (all of them when `packs` is empty)."""
  if not packs:
    return table
  try:
    packs = tuple(int(p) for p in packs)
  except ValueError:
    raise ValueError(f'--packs takes pack sizes such as 1,2; got {",".join(packs)}') from None
  if not set(packs) <= set(table.packs):
    raise ValueError(f'--packs={",".join(map(str, packs))}: the {name} table has rows for '
                     f'packs {",".join(map(str, table.packs))}')
  return dataclasses.replace(table, packs=packs)


def reproduce(name: str, *, seeds: int, steps: int | None, parallel: int, runs_dir: str,
              results_path: str, packs=None) -> str:
  if name not in TABLES:
    raise ValueError(f'unknown table {name!r}; choose one of {sorted(TABLES)}')
  table = only_packs(TABLES[name], name, packs)
  groups = plan(table, name, seeds, steps, runs_dir)
  runs = [run for group in groups.values() for run in group]
  todo = [run for run in runs if points_lib.status(run) != 'finished']
  logging.info('%s: %d runs, %d to train.', name, len(runs), len(todo))
  if todo:
    failed = [n for n, code in backends.run_local(todo, parallel=parallel).items() if code]
    if failed:
      raise RuntimeError(f'{len(failed)} run(s) failed: {failed}; see their launch.log')
  results = {(run.name, experiment): final_evaluation(run)
             for (experiment, _), group in groups.items() for run in group}
  section = markdown(table, name, groups, results, seeds, steps)
  write_section(results_path, name, section)
  return section


def main(argv):
  if len(argv) != 2:
    raise app.UsageError(f'usage: python -m gan_jax.reproduce {{{",".join(TABLES)}}} [flags]')
  writers.quiet_library_logs()
  logging.set_verbosity(logging.INFO)
  print(reproduce(argv[1], seeds=_SEEDS.value, steps=_STEPS.value, parallel=_PARALLEL.value,
                  runs_dir=_RUNS_DIR.value, results_path=_RESULTS.value, packs=_PACKS.value))


if __name__ == '__main__':
  app.run(main)
