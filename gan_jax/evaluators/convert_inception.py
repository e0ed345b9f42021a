"""Converts pytorch-fid's FID Inception weights (a PyTorch state_dict) to our `.npz` format.

  python -m gan_jax.evaluators.convert_inception \
      --src=pt_inception-2015-12-05-6726825d.pth [--dst=~/.cache/gan_jax/fid_inception.npz]

The .pth is pytorch-fid's release asset (`inception.FID_WEIGHTS_SOURCE`). Reading it needs torch,
imported only here; the conversion itself (`convert_state_dict`) is numpy. Flax submodules
carry the PyTorch module names, so each variable's PyTorch name follows from its Flax path:
'params/Mixed_5b/branch1x1/conv/kernel' <- 'Mixed_5b.branch1x1.conv.weight' (OIHW -> HWIO),
batch-norm weight/bias/running_mean/running_var -> scale/bias/mean/var, and
'fc.weight' (1008, 2048) -> 'params/fc/kernel' transposed.
"""

from __future__ import annotations

import os
import sys
from typing import Mapping

import numpy as np
from absl import app, flags
from flax import traverse_util

from gan_jax.evaluators import inception

# Flax leaf name -> PyTorch parameter or buffer name.
_TORCH_LEAF = {'kernel': 'weight', 'scale': 'weight', 'bias': 'bias',
               'mean': 'running_mean', 'var': 'running_var'}
# Batch-norm step counters: training state, meaningless at inference.
_IGNORED_SUFFIXES = ('.num_batches_tracked',)


def torch_name(flax_path: str) -> str:
  """'params/Mixed_5b/branch1x1/conv/kernel' -> 'Mixed_5b.branch1x1.conv.weight'."""
  _, *modules, leaf = flax_path.split('/')
  return '.'.join(modules + [_TORCH_LEAF[leaf]])


def _to_flax_layout(flax_path: str, value: np.ndarray) -> np.ndarray:
  if flax_path.endswith('/kernel'):
    if value.ndim == 4:
      return np.transpose(value, (2, 3, 1, 0))  # conv (out, in, h, w) -> (h, w, in, out)
    if value.ndim == 2:
      return value.T  # linear (out, in) -> (in, out)
  return value


def _listing(names: list[str]) -> str:
  return ', '.join(names[:5]) + (', ...' if len(names) > 5 else '')


def convert_state_dict(state_dict: Mapping[str, np.ndarray]) -> dict:
  """pytorch-fid's FID Inception state_dict (numpy arrays) -> `inception.InceptionV3` variables.

  Raises ValueError when a parameter is missing, left over or of the wrong shape.
  """
  expected = inception.variable_shapes()
  by_torch_name = {torch_name(path): path for path in expected}
  missing = [name for name in by_torch_name if name not in state_dict]
  unexpected = sorted(name for name in state_dict
                      if name not in by_torch_name and not name.endswith(_IGNORED_SUFFIXES))
  if missing or unexpected:
    problems = []
    if missing:
      problems.append(f'{len(missing)} missing: {_listing(missing)}')
    if unexpected:
      problems.append(f'{len(unexpected)} unexpected: {_listing(unexpected)}')
    raise ValueError('the state_dict is not the FID Inception (pytorch-fid, 1008 classes, '
                     'no auxiliary classifier): ' + '; '.join(problems))
  flat, misshapen = {}, []
  for name, path in by_torch_name.items():
    value = _to_flax_layout(path, np.asarray(state_dict[name], np.float32))
    if value.shape != expected[path]:
      misshapen.append(f'{name}: {tuple(np.shape(state_dict[name]))}')
    flat[path] = value
  if misshapen:
    raise ValueError(f'{len(misshapen)} state_dict entries have the wrong shape: '
                     + _listing(misshapen))
  return traverse_util.unflatten_dict(flat, sep='/')


def load_torch_state_dict(path: str) -> dict[str, np.ndarray]:
  import torch  # optional dependency: only this conversion needs it
  state_dict = torch.load(path, map_location='cpu', weights_only=True)
  return {name: value.detach().cpu().numpy() for name, value in state_dict.items()}


_SRC = flags.DEFINE_string('src', None, f'pytorch-fid weights ({inception.FID_WEIGHTS_FILE}, '
                           f'from {inception.FID_WEIGHTS_SOURCE})')
_DST = flags.DEFINE_string('dst', inception.DEFAULT_WEIGHTS,
                           'Where to write the .npz (default: $GAN_JAX_INCEPTION or '
                           '~/.cache/gan_jax/fid_inception.npz).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not _SRC.value:
    raise app.UsageError('--src is required')
  try:
    variables = convert_state_dict(load_torch_state_dict(_SRC.value))
  except ImportError:
    print('Reading the .pth needs PyTorch: pip install torch (the CPU wheel is enough).',
          file=sys.stderr)
    sys.exit(1)
  except (OSError, ValueError) as e:
    print(f'{type(e).__name__}: {e}', file=sys.stderr)
    sys.exit(1)
  dst = os.path.expanduser(_DST.value)
  inception.save_variables(dst, variables)
  print(f'Wrote {len(inception.flatten_variables(variables))} arrays to {dst}')


if __name__ == '__main__':
  app.run(main)
