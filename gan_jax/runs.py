"""A finished or running training run, read back from its workdir alone: its config and a
checkpoint, restored on one device. Used by the sample and evaluate commands."""

from __future__ import annotations

import json
import os

import jax
import ml_collections

from gan_jax import checkpointing, configs, parallel, train


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The run's config.json. Fields a newer version of gan_jax added since the run was written
  take their defaults, so older runs can still be sampled and evaluated."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} not found: is {workdir!r} the workdir of a training run?')
  with open(path, encoding='utf-8') as f:
    saved = json.load(f)
  base = configs.base_config()
  family = {'dcgan': configs.dcgan_model, 'mlp': configs.mlp_model}.get(
      saved.get('model', {}).get('name'))
  if family:
    family(base)
  defaults = base.to_dict()
  for section, fields in defaults.items():
    if isinstance(fields, dict):
      saved.setdefault(section, {})
      for key, value in fields.items():
        saved[section].setdefault(key, value)
    else:
      saved.setdefault(section, fields)
  return ml_collections.ConfigDict(saved)


def restore(workdir: str, step: int | None = None, subdir: str = 'checkpoints'):
  """(config, data spec, generator, state) of a run's checkpoint, on one device."""
  config = load_config(workdir)
  spec, generator, discriminator, _ = train.build(config)
  mesh = parallel.make_mesh(jax.devices()[:1])
  template, _ = train.abstract_state(config, generator, discriminator, spec, mesh)
  ckpt = checkpointing.Checkpointer(workdir, read_only=True, subdir=subdir)
  try:
    state, _ = ckpt.restore(template, step)
  finally:
    ckpt.close()
  return config, spec, generator, state
