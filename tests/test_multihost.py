"""Real multi-process training on this machine: 2 processes x 2 CPU devices, talking through
JAX's distributed runtime and gloo collectives (launch/local.sh), against 1 process x 4
devices on the same global batch; the 2-process run resuming from its own checkpoint; and a
SIGTERM reaching one process stopping both at the same step with a checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np

from conftest import REPO, load_experiment
from gan_jax import checkpointing, parallel, train
from gan_jax.sweeps import points

EXPERIMENT = 'experiments/dcgan_digits.py:smoke'  # batch norm: statistics cross processes


def _env(**extra):
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  return dict(env, PYTHONPATH=str(REPO), **extra)


def _two_processes(workdir, log_dir, steps):
  result = subprocess.run(
      ['bash', str(REPO / 'launch' / 'local.sh'), '2', f'--config={EXPERIMENT}',
       f'--workdir={workdir}', f'--config.train.steps={steps}'],
      cwd=REPO, env=_env(DEVICES_PER_PROCESS='2', LOG_DIR=str(log_dir), PYTHON=sys.executable),
      capture_output=True, text=True, timeout=300, check=False)
  logs = '\n'.join((log_dir / f'process_{i}.log').read_text() for i in range(2))
  assert result.returncode == 0, result.stderr + logs[-4000:]
  return [(log_dir / f'process_{i}.log').read_text() for i in range(2)]


def _restore(workdir):
  config = load_experiment('dcgan_digits')
  _, family = train.build(config)
  mesh = parallel.make_mesh(jax.devices()[:1])
  template, _ = train.abstract_state(family, mesh)
  ckpt = checkpointing.Checkpointer(str(workdir), read_only=True)
  state, data_state, _ = ckpt.restore(template)
  ckpt.close()
  return jax.device_get(state), data_state


def test_two_processes_match_one_and_resume_from_their_checkpoint(tmp_path):
  # One process, 4 devices, 4 steps straight.
  single = subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', f'--config={EXPERIMENT}',
       f'--workdir={tmp_path / "single"}'],
      cwd=REPO, env=_env(JAX_PLATFORMS='cpu', XLA_FLAGS='--xla_force_host_platform_device_count=4'),
      capture_output=True, text=True, timeout=300, check=False)
  assert single.returncode == 0, single.stderr[-4000:]

  # Two processes of 2 devices: 2 steps, then a relaunch that resumes to 4.
  multi = tmp_path / 'multi'
  first = _two_processes(multi, tmp_path / 'logs1', steps=2)
  assert 'Process 0 of 2 (flags); 2 local device(s), 4 in all.' in first[0]
  assert 'Process 1 of 2 (flags); 2 local device(s), 4 in all.' in first[1]
  second = _two_processes(multi, tmp_path / 'logs2', steps=4)
  for log in second:
    assert 'Resumed from the checkpoint of step 2' in log

  state_1, data_1 = _restore(tmp_path / 'single')
  state_2, data_2 = _restore(multi)
  assert int(state_1.step) == int(state_2.step) == 4
  assert data_1 == data_2  # the same position in the same data stream
  for name in ('g', 'd'):
    for a, b in zip(jax.tree.leaves(state_1.players[name]),
                    jax.tree.leaves(state_2.players[name])):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
  # The EMA generator with its own (standing) statistics, computed on 2 processes alike.
  for a, b in zip(jax.tree.leaves(state_1.ema), jax.tree.leaves(state_2.ema)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)

  # Only process 0 wrote logs and pictures: one line per log step, not one per process.
  records = [json.loads(line) for line in (multi / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in records] == [2, 4]
  single_records = [json.loads(line) for line in
                    (tmp_path / 'single' / 'metrics.jsonl').read_text().splitlines()]
  np.testing.assert_allclose([r['d_loss'] for r in records],
                             [r['d_loss'] for r in single_records], rtol=1e-4)
  assert sorted(os.listdir(multi / 'samples')) == ['step_2.png', 'step_4.png']


def test_a_signal_to_one_process_stops_all_at_one_step_with_a_checkpoint(tmp_path):
  workdir, log_dir = tmp_path / 'run', tmp_path / 'logs'
  launcher = subprocess.Popen(
      ['bash', str(REPO / 'launch' / 'local.sh'), '2', '--config=experiments/gan_ring.py:smoke',
       f'--workdir={workdir}', '--config.train.steps=100000', '--config.train.log_every=1000',
       '--config.train.checkpoint_every=100000'],
      cwd=REPO, env=_env(DEVICES_PER_PROCESS='2', LOG_DIR=str(log_dir), PYTHON=sys.executable),
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  logs = [log_dir / f'process_{i}.log' for i in range(2)]
  deadline = time.time() + 240
  while not all(p.exists() and 'Compiled and ran the first step' in p.read_text() for p in logs):
    assert launcher.poll() is None and time.time() < deadline, launcher.stdout.read()
    time.sleep(0.5)
  pid = subprocess.run(['pgrep', '-f', f'workdir={workdir} .*--process_id=1'],
                       capture_output=True, text=True, check=True).stdout.split()[0]
  os.kill(int(pid), signal.SIGTERM)  # process 1 only, as a scheduler may deliver it unevenly
  output, _ = launcher.communicate(timeout=240)
  assert launcher.returncode == 128 + signal.SIGTERM, output
  stopped = [[line for line in p.read_text().splitlines() if 'Stopped by SIGTERM at step' in line]
             for p in logs]
  assert all(len(s) == 1 for s in stopped), stopped
  steps = {s[0].split('at step ')[1].split(';')[0] for s in stopped}
  assert len(steps) == 1  # both processes stopped after the same step...
  assert points.latest_checkpoint(str(workdir)) == int(steps.pop())  # ...and saved it
