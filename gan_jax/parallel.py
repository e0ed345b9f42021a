"""The device mesh, shardings, and host-local batches turned into global arrays.

One mesh axis, 'batch', over every device of every process. The state is replicated; batches
are split along their example axis. `shard_step` runs a per-device program (see steps.py) with
`jax.shard_map` inside `jax.jit`.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

AXIS = 'batch'


def make_mesh(devices=None) -> Mesh:
  devices = list(jax.devices() if devices is None else devices)
  return Mesh(np.array(devices), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, leading_axes: int = 1) -> NamedSharding:
  """Split the example axis, which follows `leading_axes - 1` unsplit axes (e.g. d_steps)."""
  return NamedSharding(mesh, P(*([None] * (leading_axes - 1)), AXIS))


def global_batch_array(local: np.ndarray, mesh: Mesh, leading_axes: int = 2) -> jax.Array:
  """This process's share (..., local_batch, ...) -> a global array sharded along the batch."""
  sharding = batch_sharding(mesh, leading_axes)
  shape = list(local.shape)
  shape[leading_axes - 1] *= jax.process_count()
  return jax.make_array_from_process_local_data(sharding, local, tuple(shape))


def shard_step(step_fn, mesh: Mesh, batch_leading_axes: int = 2):
  """jit(shard_map(step_fn)): state replicated and donated, batch split, metrics replicated."""
  sharded = jax.shard_map(
      step_fn, mesh=mesh,
      in_specs=(P(), batch_sharding(mesh, batch_leading_axes).spec),
      out_specs=(P(), P()),
      # pmap semantics: collectives are written out in the step, nothing is inserted for us.
      check_vma=False)
  return jax.jit(sharded, donate_argnums=0,
                 in_shardings=(replicated(mesh), batch_sharding(mesh, batch_leading_axes)),
                 out_shardings=(replicated(mesh), replicated(mesh)))
