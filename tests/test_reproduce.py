"""The reproduction command's plan and its Markdown: the runs behind a table, the table of
means and standard deviations beside the published rows, and the section replaced in place."""

import numpy as np
import pytest

from gan_jax import reproduce


def test_plan_covers_every_pack_and_seed_with_the_papers_batch(tmp_path):
  groups = reproduce.plan(reproduce.TABLES['mixtures'], 'mixtures', 3, None, str(tmp_path))
  assert sorted(groups) == sorted((e, k) for e in ('experiments/gan_ring.py',
                                                  'experiments/gan_grid.py') for k in (1, 2, 3, 4))
  runs = groups['experiments/gan_grid.py', 3]
  assert [r.overrides for r in runs] == [
      {'model.pack': 3, 'train.batch_size': 300, 'seed': s} for s in range(3)]
  assert all(r.steps == 50_000 and '/reproduce/mixtures/gan_grid/' in r.workdir for r in runs)
  short = reproduce.plan(reproduce.TABLES['stacked'], 'stacked', 2, 100, str(tmp_path))
  assert all(r.steps == 100 for group in short.values() for r in group)
  # --packs keeps only some rows; a pack the table does not have is refused.
  two = reproduce.only_packs(reproduce.TABLES['stacked'], 'stacked', ['1', '2'])
  assert sorted(reproduce.plan(two, 'stacked', 1, 100, str(tmp_path))) == [
      ('experiments/dcgan_stacked_digits.py', 1), ('experiments/dcgan_stacked_digits.py', 2)]
  with pytest.raises(ValueError, match='rows for packs 1,2,3,4'):
    reproduce.only_packs(reproduce.TABLES['stacked'], 'stacked', ['5'])
  with pytest.raises(ValueError, match='pack sizes such as 1,2; got two'):
    reproduce.only_packs(reproduce.TABLES['stacked'], 'stacked', ['two'])


def test_markdown_reports_mean_and_std_and_replaces_its_section(tmp_path):
  table = reproduce.TABLES['mixtures']
  groups = reproduce.plan(table, 'mixtures', 2, 10, str(tmp_path))
  rng = np.random.default_rng(0)
  results = {}
  for (experiment, pack), runs in groups.items():
    for run in runs:
      results[run.name, experiment] = {'num_samples': 2500, 'values': {
          'eval/modes': float(pack + run.overrides['seed']),
          'eval/high_quality': float(rng.uniform(0, 100)), 'eval/reverse_kl': 0.5}}
  section = reproduce.markdown(table, 'mixtures', groups, results, 2, 10)
  pac3 = next(line for line in section.splitlines() if line.startswith('| PacGAN3 |'))
  assert pac3.split(' | ')[1] == '3.5 ± 0.71'  # modes 3 and 4 over seeds 0 and 1
  assert '2 seeds (0..1) per row; 10 training steps per run (shortened with --steps)' in section
  assert '| GAN | 6.3 ± 0.5 | 98.2 ± 0.2 |' in section  # the published rows beside ours

  # One seed has no spread to show, and 1,000 modes read as 1000, not 1e+03.
  assert reproduce._mean_std([1000.0]) == '1000' and reproduce._mean_std([0.2566]) == '0.257'
  assert reproduce._mean_std([998.0, 1000.0]) == '999 ± 1.4'

  path = tmp_path / 'RESULTS.md'
  path.write_text('# Results\n\nintro\n')
  reproduce.write_section(str(path), 'mixtures', section)
  reproduce.write_section(str(path), 'mixtures', section.replace('3.5 ± 0.71', 'X'))
  text = path.read_text()
  assert text.count('<!-- reproduce:mixtures -->') == 1 and 'intro' in text
  assert '| PacGAN3 | X |' in text
