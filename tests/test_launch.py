"""Sweeps and launchers: sweep helpers, run names and commands, the local backend end to end
with relaunching, the summary, and the SLURM script (checked by content and by running it
with a stand-in srun)."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from gan_jax.sweeps import points, summarize


def test_product_zipped_and_combine():
  assert points.product(a=[1, 2], b=['x']) == [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'x'}]
  assert points.zipped(a=[1, 2], b=[3, 4]) == [{'a': 1, 'b': 3}, {'a': 2, 'b': 4}]
  with pytest.raises(ValueError, match='one length'):
    points.zipped(a=[1, 2], b=[3])
  assert points.combine(points.zipped(a=[1, 2]), points.product(c=[5, 6])) == [
      {'a': 1, 'c': 5}, {'a': 1, 'c': 6}, {'a': 2, 'c': 5}, {'a': 2, 'c': 6}]


def test_run_names_are_readable_unique_and_bounded():
  assert points.point_name({}) == 'default'
  assert points.point_name({'optim.d_lr': 1e-4, 'seed': 2}) == 'd_lr=0.0001,seed=2'
  # A last component shared by two keys keeps the full keys apart.
  assert points.point_name({'a.width': 1, 'b.width': 2}) == 'a.width=1,b.width=2'
  assert points.point_name({'model.g_hidden': (32, 32)}) == 'g_hidden=32-32'
  long = points.point_name({f'key{i}': 'value' * 3 for i in range(10)})
  assert len(long) <= 100
  assert long != points.point_name({f'key{i}': 'value' * 3 for i in range(11)})


def test_expand_builds_commands_and_refuses_bad_points(tmp_path):
  sweep_dir, runs = points.expand('experiments/gan_1d.py:smoke', 'smoke', str(tmp_path))
  assert sweep_dir == str(tmp_path / 'gan_1d' / 'smoke')
  assert [r.name for r in runs] == ['seed=0,d_lr=0.001', 'seed=1,d_lr=0.0005']
  assert runs[1].command[-2:] == ['--config.seed=1', '--config.optim.d_lr=0.0005']
  assert runs[1].workdir == os.path.join(sweep_dir, 'seed=1,d_lr=0.0005')
  assert runs[0].steps == 4

  # An experiment without get_sweep is one run with no overrides.
  _, runs = points.expand('experiments/dcgan_celeba.py:smoke', None, str(tmp_path))
  assert [r.name for r in runs] == ['default'] and runs[0].overrides == {}
  with pytest.raises(ValueError, match='defines no get_sweep'):
    points.expand('experiments/dcgan_celeba.py', 'lr', str(tmp_path))
  with pytest.raises(ValueError, match="unknown sweep 'nope'"):
    points.expand('experiments/gan_1d.py', 'nope', str(tmp_path))
  with pytest.raises(FileNotFoundError, match='no experiment file'):
    points.expand('experiments/missing.py', None, str(tmp_path))


def test_a_point_that_does_not_fit_the_config_fails_before_launching(tmp_path):
  experiment = tmp_path / 'exp.py'
  experiment.write_text(
      'import sys\n'
      f'sys.path.insert(0, {str(REPO / "experiments")!r})\n'
      'from gan_1d import get_config\n'
      'def get_sweep(name=None):\n'
      '  return [{"optim.d_lr": 1e-3}, {"optim.dlr": 1e-3}]\n')
  with pytest.raises(ValueError, match=r"point 1 of sweep None \(\{'optim.dlr': 0.001\}\)"):
    points.expand(str(experiment), None, str(tmp_path / 'runs'))
  assert not (tmp_path / 'runs').exists()


def _launch(*args, **kwargs):
  env = dict(os.environ, XLA_FLAGS='', PYTHONPATH=str(REPO))
  return subprocess.run([sys.executable, '-m', 'gan_jax.sweeps', *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=600, check=False, **kwargs)


def test_print_backend_prints_one_command_per_point(tmp_path):
  result = _launch('--config=experiments/dcgan_digits.py', '--sweep=lr', '--backend=print',
                   f'--runs_dir={tmp_path}')
  assert result.returncode == 0, result.stderr
  lines = result.stdout.strip().splitlines()
  assert len(lines) == 6
  assert lines[0] == ('python -m gan_jax.main --config=experiments/dcgan_digits.py '
                      f'--workdir={tmp_path}/dcgan_digits/lr/g_lr=0.0001,d_lr=0.0001 '
                      '--config.optim.g_lr=0.0001 --config.optim.d_lr=0.0001')
  assert not tmp_path.joinpath('dcgan_digits').exists()  # printing writes nothing


def test_local_backend_runs_a_sweep_resumes_and_skips_then_summarizes(tmp_path):
  args = ['--config=experiments/gan_1d.py:smoke', '--sweep=smoke', '--backend=local',
          '--parallel=2', f'--runs_dir={tmp_path}']
  result = _launch(*args)
  assert result.returncode == 0, result.stdout + result.stderr
  assert '2 runs; 0 finished (skipped), 0 to resume, 2 new' in result.stdout
  sweep_dir = tmp_path / 'gan_1d' / 'smoke'
  for name, seed, d_lr in (('seed=0,d_lr=0.001', 0, 1e-3), ('seed=1,d_lr=0.0005', 1, 5e-4)):
    config = json.loads((sweep_dir / name / 'config.json').read_text())
    assert (config['seed'], config['optim']['d_lr']) == (seed, d_lr)  # the overrides arrived
    assert points.latest_checkpoint(str(sweep_dir / name)) == 4
  assert json.loads((sweep_dir / 'sweep.json').read_text())['runs'][1]['overrides'] == {
      'seed': 1, 'optim.d_lr': 0.0005}

  # Relaunching skips finished runs and resumes a started one.
  metrics = sweep_dir / 'seed=0,d_lr=0.001' / 'metrics.jsonl'
  before = metrics.read_text()
  checkpoint_4 = sweep_dir / 'seed=1,d_lr=0.0005' / 'checkpoints' / '4'
  for path in sorted(checkpoint_4.rglob('*'), reverse=True):
    path.rmdir() if path.is_dir() else path.unlink()
  checkpoint_4.rmdir()
  result = _launch(*args)
  assert result.returncode == 0, result.stdout + result.stderr
  assert '2 runs; 1 finished (skipped), 1 to resume, 0 new' in result.stdout
  assert metrics.read_text() == before
  log = (sweep_dir / 'seed=1,d_lr=0.0005' / 'launch.log').read_text()
  assert 'Resumed from the checkpoint of step 2' in log
  assert points.latest_checkpoint(str(sweep_dir / 'seed=1,d_lr=0.0005')) == 4

  result = subprocess.run([sys.executable, '-m', 'gan_jax.sweeps.summarize', str(sweep_dir)],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 0, result.stderr
  header, rule, *rows = result.stdout.strip().splitlines()
  assert header.split() == ['run', 'seed', 'optim.d_lr', 'status', 'step', 'd_loss', 'g_loss',
                            'best_eval']
  assert len(rows) == 2 and all(' finished ' in r and ' 4 ' in r for r in rows)
  with open(sweep_dir / 'summary.csv', encoding='utf-8') as f:
    table = list(csv.DictReader(f))
  assert [r['run'] for r in table] == ['seed=0,d_lr=0.001', 'seed=1,d_lr=0.0005']
  last = json.loads(metrics.read_text().splitlines()[-1])
  assert float(table[0]['d_loss']) == pytest.approx(last['d_loss'])
  assert np.isfinite(float(table[1]['g_loss']))


def test_summary_takes_the_best_evaluation_in_the_right_direction(tmp_path):
  run = tmp_path / 'sweep' / 'a'
  run.mkdir(parents=True)
  (run / 'config.json').write_text('{}')
  records = [{'step': 10, 'd_loss': 1.0, 'g_loss': 2.0, 'eval/fid': 30.0, 'eval/recall': 0.2},
             {'step': 20, 'd_loss': 0.9, 'g_loss': 2.1, 'eval/fid': 25.0, 'eval/recall': 0.5},
             {'step': 30, 'd_loss': 0.8, 'g_loss': 2.2, 'eval/fid': 27.0, 'eval/recall': 0.4}]
  (run / 'metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in records))
  rows = summarize.summarize(str(tmp_path / 'sweep'))
  assert rows[0]['step'] == 30 and rows[0]['d_loss'] == 0.8
  assert rows[0]['best_eval'] == 'fid 25 @ 20; recall 0.5 @ 20'
  with pytest.raises(FileNotFoundError, match='no runs in'):
    summarize.summarize(str(tmp_path))


def test_slurm_backend_writes_an_array_script_that_runs_each_point(tmp_path):
  result = _launch('--config=experiments/gan_1d.py:smoke', '--sweep=smoke', '--backend=slurm',
                   '--parallel=1', '--slurm_nodes=2', '--slurm_gpus_per_node=4',
                   '--slurm_partition=gpu', f'--runs_dir={tmp_path}')
  assert result.returncode == 0, result.stderr
  script = tmp_path / 'gan_1d' / 'smoke' / 'sweep.sbatch'
  assert f'sbatch is not available here; the script is {script}' in result.stdout
  text = script.read_text()
  for line in ('#SBATCH --array=0-1%1', '#SBATCH --nodes=2', '#SBATCH --ntasks-per-node=1',
               '#SBATCH --gpus-per-node=4', '#SBATCH --partition=gpu',
               f'#SBATCH --output={tmp_path}/gan_1d/smoke/slurm-%A_%a.out', f'cd {REPO}'):
    assert line in text.splitlines()
  assert not (tmp_path / 'gan_1d' / 'smoke' / 'seed=0,d_lr=0.001').exists()  # nothing ran

  # Run the script as SLURM would for array task 1, with an srun that only prints its argv.
  fake_bin = tmp_path / 'bin'
  fake_bin.mkdir()
  (fake_bin / 'srun').write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
  (fake_bin / 'srun').chmod(0o755)
  env = dict(os.environ, PATH=f'{fake_bin}:{os.environ["PATH"]}', SLURM_ARRAY_TASK_ID='1')
  ran = subprocess.run(['bash', str(script)], env=env, capture_output=True, text=True,
                       timeout=60, check=True)
  assert ran.stdout.splitlines() == [
      'python', '-m', 'gan_jax.main', '--config=experiments/gan_1d.py:smoke',
      f'--workdir={tmp_path}/gan_1d/smoke/seed=1,d_lr=0.0005', '--config.seed=1',
      '--config.optim.d_lr=0.0005']


def test_overrides_must_name_existing_fields_with_fitting_values():
  from gan_jax import configs
  config = configs.base_config()
  points.apply_overrides(config, {'optim.d_lr': 1, 'train.batch_size': 32})
  assert config.optim.d_lr == 1.0 and isinstance(config.optim.d_lr, float)
  with pytest.raises(KeyError, match=r"no field 'optim.dlr': optim has \[.*'d_lr'"):
    points.apply_overrides(config, {'optim.dlr': 1e-3})
  with pytest.raises(KeyError, match="no field 'optim.d_lr.x'"):
    points.apply_overrides(config, {'optim.d_lr.x': 1})
  with pytest.raises(TypeError, match='could not override|cannot be casted'):
    points.apply_overrides(config, {'optim.d_lr': 'fast'})
