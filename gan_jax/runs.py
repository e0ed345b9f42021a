"""A finished or running training run, read back from its workdir alone: its config and a
checkpoint, restored on one device. Used by the sample and evaluate commands."""

from __future__ import annotations

import json
import os

import jax
import ml_collections

from gan_jax import checkpointing, parallel, train


def load_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} not found: is {workdir!r} the workdir of a training run?')
  with open(path, encoding='utf-8') as f:
    return ml_collections.ConfigDict(json.load(f))


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
