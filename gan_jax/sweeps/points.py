"""Sweeps as data (experiment files: `from gan_jax import sweeps`): an experiment file's optional `get_sweep(name=None)` returns a list of points,
each a dict of config overrides ({'optim.d_lr': 1e-4, 'seed': 1}). `product` and `zipped` build
such lists; `expand` turns one into runs, each with its own workdir named after its overrides.

  def get_sweep(name=None):
    if name in (None, 'lr'):
      return sweeps.product(**{'optim.g_lr': [1e-4, 2e-4], 'optim.d_lr': [1e-4, 2e-4]})
    if name == 'seeds':
      return sweeps.product(seed=[0, 1, 2])
    raise ValueError(f'unknown sweep {name!r}')
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import itertools
import os
import re
import shlex


def product(**axes) -> list[dict]:
  """Every combination of the axes' values: product(a=[1, 2], b=[3]) -> [{a: 1, b: 3}, ...]."""
  keys = list(axes)
  return [dict(zip(keys, values)) for values in itertools.product(*axes.values())]


def zipped(**axes) -> list[dict]:
  """The axes' values side by side; all axes must have the same length."""
  lengths = {k: len(v) for k, v in axes.items()}
  if len(set(lengths.values())) > 1:
    raise ValueError(f'zipped() needs axes of one length, got {lengths}')
  keys = list(axes)
  return [dict(zip(keys, values)) for values in zip(*axes.values())]


def combine(*sweeps: list[dict]) -> list[dict]:
  """The product of whole sweeps: combine(zipped(...), product(...))."""
  return [dict(itertools.chain.from_iterable(p.items() for p in points))
          for points in itertools.product(*sweeps)]


def pacgan(batch_per_pack: int, packs=(1, 2, 3, 4), seeds=(0, 1, 2)) -> list[dict]:
  """GAN and PacGAN-k (`model.pack` = k) over seeds; a batch holds `batch_per_pack` packs, so
  the discriminator judges as many inputs per step whatever k."""
  return combine(
      zipped(**{'model.pack': list(packs),
                'train.batch_size': [batch_per_pack * k for k in packs]}),
      product(seed=list(seeds)))


def mixture(name: str | None) -> list[dict]:
  """The sweeps of the 2-D mixture experiments (gan_ring, gan_grid): 'seeds' (the default; the
  papers report means over runs) or 'pacgan' (GAN and PacGAN2-4, D sees 100 packs per batch)."""
  if name in (None, 'seeds'):
    return product(seed=[0, 1, 2, 3, 4])
  if name == 'pacgan':
    return pacgan(batch_per_pack=100)
  raise ValueError(f'unknown sweep {name!r}; choose seeds or pacgan')


@dataclasses.dataclass
class Run:
  name: str           # directory name, from the overrides
  overrides: dict     # dotted config key -> value
  workdir: str
  steps: int          # train.steps of the run's config
  command: list[str]  # argv of the training command


def load_module(path: str):
  if not os.path.isfile(path):
    raise FileNotFoundError(f'no experiment file {path!r}')
  spec = importlib.util.spec_from_file_location(
      'experiment_' + os.path.splitext(os.path.basename(path))[0], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def split_config_arg(config: str) -> tuple[str, str | None]:
  """'experiments/x.py:smoke' -> ('experiments/x.py', 'smoke')."""
  path, _, arg = config.partition(':')
  return path, arg or None


def format_value(value) -> str:
  """A value as `--config.key=VALUE` parses it back."""
  if isinstance(value, (tuple, list)):
    return '(' + ', '.join(format_value(v) for v in value) + (',)' if len(value) == 1 else ')')
  if isinstance(value, float):
    return repr(value)
  return str(value)


def _short(value) -> str:
  if isinstance(value, (tuple, list)):
    return '-'.join(_short(v) for v in value)
  if isinstance(value, float):
    return f'{value:g}'
  return str(value)


def point_name(overrides: dict) -> str:
  """A readable directory name: 'd_lr=0.0001,seed=1'. Keys go by their last component unless
  that is ambiguous; names longer than 100 characters end in a hash of the whole."""
  if not overrides:
    return 'default'
  lasts = [k.split('.')[-1] for k in overrides]
  parts = []
  for key, value in overrides.items():
    label = key.split('.')[-1] if lasts.count(key.split('.')[-1]) == 1 else key
    parts.append(f'{label}={_short(value)}')
  name = re.sub(r'[^A-Za-z0-9._=+,-]', '-', ','.join(parts))
  if len(name) > 100:
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    name = f'{name[:90]}..{digest}'
  return name


def apply_overrides(cfg, overrides: dict) -> None:
  """Sets dotted keys on a ConfigDict; every key must exist and every value fit its type."""
  for key, value in overrides.items():
    node, path = cfg, []
    for part in key.split('.'):
      if not hasattr(node, 'keys') or part not in node:
        choices = sorted(node.keys()) if hasattr(node, 'keys') else []
        raise KeyError(f'no field {key!r}: {".".join(path) or "the config"} has {choices}')
      path.append(part)
      if len(path) < len(key.split('.')):
        node = node[part]
    node[path[-1]] = value  # ConfigDict refuses a value of another type


def expand(config: str, sweep: str | None, runs_dir: str = 'runs',
           python: str = 'python') -> tuple[str, list[Run]]:
  """(sweep directory, runs) of `sweep` in the experiment `config` ('path.py[:arg]').

  Every point's overrides are applied and the config validated here, so a misspelt key or an
  impossible value fails before anything is launched.
  """
  path, _ = split_config_arg(config)
  module = load_module(path)
  if not hasattr(module, 'get_sweep'):
    if sweep is not None:
      raise ValueError(f'{path} defines no get_sweep(), so it has no sweep {sweep!r}')
    points = [{}]
  else:
    points = module.get_sweep(sweep)
  if not points:
    raise ValueError(f'sweep {sweep!r} of {path} has no points')
  experiment = os.path.splitext(os.path.basename(path))[0]
  sweep_dir = os.path.join(runs_dir, experiment, sweep or 'default')
  return expand_points(config, points, sweep_dir, python=python, label=repr(sweep))


def expand_points(config: str, points: list[dict], sweep_dir: str, *, python: str = 'python',
                  label: str = 'None') -> tuple[str, list[Run]]:
  """(sweep_dir, runs) for explicit `points` of the experiment `config` ('path.py[:arg]')."""
  from gan_jax import configs  # lazy: imports JAX
  path, arg = split_config_arg(config)
  module = load_module(path)
  runs, names = [], set()
  for i, overrides in enumerate(points):
    cfg = module.get_config(arg)
    try:
      apply_overrides(cfg, overrides)
    except (KeyError, AttributeError, TypeError, ValueError) as e:
      raise ValueError(f'point {i} of sweep {label} ({overrides}) does not fit the config of '
                       f'{config}: {type(e).__name__}: {e}') from None
    configs.validate(cfg, num_devices=1)
    name = point_name(overrides)
    if name in names:
      name = f'{name},{i}'
    names.add(name)
    workdir = os.path.join(sweep_dir, name)
    command = [python, '-m', 'gan_jax.main', f'--config={config}', f'--workdir={workdir}']
    command += [f'--config.{k}={format_value(v)}' for k, v in overrides.items()]
    runs.append(Run(name, dict(overrides), workdir, int(cfg.train.steps), command))
  return sweep_dir, runs


def shell(command: list[str]) -> str:
  return ' '.join(shlex.quote(c) for c in command)


def latest_checkpoint(workdir: str) -> int | None:
  """The newest complete checkpoint step in a workdir (Orbax's step directories), or None."""
  directory = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(directory):
    return None
  steps = [int(d) for d in os.listdir(directory)
           if d.isdigit() and os.path.isdir(os.path.join(directory, d))]
  return max(steps, default=None)


def status(run: Run) -> str:
  """'finished', 'started' (has a checkpoint, not the last) or 'new'."""
  step = latest_checkpoint(run.workdir)
  if step is None:
    return 'new'
  return 'finished' if step >= run.steps else 'started'
