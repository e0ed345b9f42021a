"""The GPU suite's dry mode (`benchmarks/gpu_suite.sh --dry`): every part runs on the CPU at
smoke sizes, and its JSON holds positive figures for what ran, the smoke test's stop and resume
at the same step, and the reason for each case that was skipped."""

import json
import math
import os
import subprocess
import sys

from conftest import REPO

PARTS = ('smoke', 'step', 'throughput', 'input', 'families')
EXPERIMENTS = ('cdcgan_digits', 'biggan_cifar10', 'pix2pix_facades', 'cyclegan_horse2zebra',
               'stylegan2_cifar10', 'stackgan_digits', 'agecgan_digits')


def positive(value):
  return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def rates(tree):
  """Every figure named like images_per_s, anywhere in `tree`."""
  if isinstance(tree, dict):
    for key, value in tree.items():
      if key.endswith('images_per_s') and not isinstance(value, dict):
        yield key, value
      else:
        yield from rates(value)
  elif isinstance(tree, list):
    for value in tree:
      yield from rates(value)


def test_dry_suite_runs_every_part_and_records_the_figures(tmp_path):
  out = tmp_path / 'out'
  # The suite gives its subprocesses one CPU device itself (the tests' fake 8 are dropped) and
  # shares JAX's compilation cache that the tests use.
  env = dict(os.environ, PYTHON=sys.executable)
  ran = subprocess.run(['bash', 'benchmarks/gpu_suite.sh', '--dry', f'--out={out}'], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=900, check=False)
  assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
  report = json.loads((out / 'suite.json').read_text())
  assert (out / 'suite.txt').read_text().strip() in ran.stdout
  parts = report['parts']
  assert tuple(parts) == PARTS and report['suite']['failed_parts'] == []
  assert report['environment']['device_kind'] == 'cpu'
  assert report['environment']['versions']['jax']
  torch = report['environment']['torch']

  for name, part in parts.items():
    assert part['status'] == 'ok', (name, part)
    for case, result in part['cases'].items():
      assert result['status'] in ('ok', 'skipped'), (name, case, result)
      if result['status'] == 'skipped':
        assert result['reason'], (name, case)
  for key, value in rates(parts):
    assert value is None or positive(value), (key, value)

  # 1. Each dtype's run stopped by SIGTERM, resumed where it stopped, sampled and evaluated.
  for dtype in ('float32', 'bfloat16'):
    run = parts['smoke']['cases'][dtype]
    assert run['status'] == 'ok', run
    assert run['signalled_after_step'] >= 3
    assert run['resumed_from'] == run['stopped_at'] >= run['signalled_after_step']
    assert run['first_resumed_step'] == run['stopped_at'] + 1  # dry: a record every step
    assert run['last_step'] == run['target_step'] == run['stopped_at'] + 3
    assert run['stopped_at'] in run['checkpoints'] and run['target_step'] in run['checkpoints']
    assert (out / run['sample_grid']).stat().st_size > 0
    assert positive(run['evaluation']['eval/domain_fd'])
    assert (out / 'smoke' / dtype / 'train.log').exists()

  # 2. gan_jax's step in both dtypes; the peer ran, or was skipped saying why.
  step = parts['step']['cases']
  assert len(step) == 4
  for name, result in step.items():
    if name.endswith('_eager') or torch:
      assert result['status'] == 'ok' and positive(result['gan_jax']['images_per_s'])
    if torch:
      assert positive(result['speedup_vs_torch'])
    elif name.endswith('_compile'):
      assert result['status'] == 'skipped' and 'torch is not installed' in result['reason']
    else:
      assert result['speedup_vs_torch'] is None
      assert 'torch is not installed' in result['torch']['reason']

  # 3. FLOPs from XLA's cost analysis; no MFU on a CPU, with the reason.
  (throughput,) = parts['throughput']['cases'].values()
  assert positive(throughput['images_per_s'])
  assert positive(throughput['flops_per_step_per_device'])
  assert 'cost_analysis' in throughput['flops_source']
  assert throughput['mfu'] is None and "'cpu'" in throughput['mfu_reason']

  # 4. Each family timed in one dtype, float32 and bfloat16 both used; the other one skipped.
  families = parts['families']['cases']
  timed = {name for name, r in families.items() if r['status'] == 'ok'}
  assert len(families) == 2 * len(EXPERIMENTS) and len(timed) == len(EXPERIMENTS)
  for experiment in EXPERIMENTS:
    assert len({f'{experiment}_float32', f'{experiment}_bfloat16'} & timed) == 1
  assert {name.rsplit('_', 1)[1] for name in timed} == {'float32', 'bfloat16'}
  assert all(positive(families[name]['images_per_s']) for name in timed)

  # 5. The input against what part 2's step consumes.
  feed = parts['input']['cases']['celeba_jpeg_config_workers']
  consumed = feed['step_images_per_s']
  assert sorted(consumed) == ['bfloat16', 'float32']
  assert math.isclose(feed['input_over_step'],
                      feed['input_images_per_s'] / max(consumed.values()))
