"""Tabulates a sweep: one row per run with its overrides, last step, last losses and best
evaluation; printed, and written as <sweep dir>/summary.csv.

  python -m gan_jax.sweeps.summarize runs/<experiment>/<sweep>

Runs are those of the sweep's sweep.json (written by `python -m gan_jax.sweeps`), or else every
subdirectory holding a config.json. Evaluation scalars are the logged metrics named `eval/...`;
the best value is the lowest for distances and divergences (FID, KID, KL, ...) and the highest
otherwise (`evaluators.registry.direction`).
"""

from __future__ import annotations

import csv
import json
import os
import sys

from absl import app

from gan_jax import files
from gan_jax.evaluators import registry
from gan_jax.sweeps import points

def _records(workdir):
  path = os.path.join(workdir, 'metrics.jsonl')
  if not os.path.exists(path):
    return []
  records = []
  with open(path, encoding='utf-8') as f:
    for line in f:
      try:
        records.append(json.loads(line))
      except json.JSONDecodeError:
        pass  # a line cut short by a crash
  return records


def _runs(sweep_dir):
  manifest = os.path.join(sweep_dir, 'sweep.json')
  if os.path.exists(manifest):
    with open(manifest, encoding='utf-8') as f:
      return [(r['name'], r['overrides'], r['workdir'], r.get('steps'))
              for r in json.load(f)['runs']]
  names = sorted(d for d in os.listdir(sweep_dir)
                 if os.path.exists(os.path.join(sweep_dir, d, 'config.json')))
  return [(n, {}, os.path.join(sweep_dir, n), None) for n in names]


def summarize(sweep_dir: str) -> list[dict]:
  """One row per run (dicts with the same keys, in column order)."""
  if not os.path.isdir(sweep_dir):
    raise FileNotFoundError(f'{sweep_dir} is not a directory')
  runs = _runs(sweep_dir)
  if not runs:
    raise FileNotFoundError(f'no runs in {sweep_dir}: neither a sweep.json nor run directories '
                            'with a config.json')
  override_keys = list(dict.fromkeys(k for _, overrides, _, _ in runs for k in overrides))
  rows = []
  for name, overrides, workdir, steps in runs:
    records = _records(workdir)
    last = records[-1] if records else {}
    checkpoint = points.latest_checkpoint(workdir)
    if checkpoint is None:
      state = 'started' if records else 'new'
    else:
      state = 'finished' if steps is not None and checkpoint >= steps else 'started'
    row = {'run': name, **{k: overrides.get(k, '') for k in override_keys},
           'status': state, 'step': last.get('step', checkpoint if checkpoint else ''),
           'd_loss': last.get('d_loss', ''), 'g_loss': last.get('g_loss', '')}
    evals = sorted({k for r in records for k in r if k.startswith('eval/')})
    best = []
    for metric in evals:
      if registry.direction(metric) == registry.NEITHER:
        continue  # a spread, not a score
      values = [(r[metric], r['step']) for r in records if metric in r]
      value, step = (min if registry.lower_is_better(metric) else max)(values)
      best.append(f'{metric[5:]} {value:.4g} @ {step}')
    row['best_eval'] = '; '.join(best)
    rows.append(row)
  return rows


def _cell(value) -> str:
  return f'{value:.4f}' if isinstance(value, float) else str(value)


def format_table(rows: list[dict]) -> str:
  columns = list(rows[0])
  cells = [[_cell(row[c]) for c in columns] for row in rows]
  widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
  lines = ['  '.join(c.ljust(w) for c, w in zip(columns, widths))]
  lines.append('  '.join('-' * w for w in widths))
  lines += ['  '.join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
  return '\n'.join(lines)


def write_csv(rows: list[dict], path: str) -> None:
  def write(f):
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  files.write_atomically(path, write, binary=False)


def main(argv):
  if len(argv) != 2:
    raise app.UsageError('usage: python -m gan_jax.sweeps.summarize runs/<experiment>/<sweep>')
  rows = summarize(argv[1])
  print(format_table(rows))
  path = os.path.join(argv[1], 'summary.csv')
  write_csv(rows, path)
  print(f'\nwritten to {path}', file=sys.stderr)


if __name__ == '__main__':
  app.run(main)
