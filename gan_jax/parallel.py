"""The device mesh, shardings, and host-local batches turned into global arrays.

One mesh axis, 'batch', over every device of every process. The state is replicated; batches
are split along their example axis. `shard_step` runs a family's per-device step (families/) with
`jax.shard_map` inside `jax.jit`.
"""

from __future__ import annotations

import functools
import os

from absl import logging
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

AXIS = 'batch'


def cluster_environment() -> str | None:
  """The multi-process launcher this process runs under, if any (one that
  `jax.distributed.initialize()` detects by itself), else None."""
  env = os.environ
  if int(env.get('SLURM_NTASKS', '1')) > 1 and 'SLURM_JOB_ID' in env:
    return 'SLURM'
  if int(env.get('OMPI_COMM_WORLD_SIZE', '1')) > 1:
    return 'Open MPI'
  if len([h for h in env.get('TPU_WORKER_HOSTNAMES', '').split(',') if h]) > 1:
    return 'TPU VM'
  if env.get('JAX_COORDINATOR_ADDRESS'):
    return 'JAX_COORDINATOR_ADDRESS'
  return None


def initialize_distributed(coordinator_address: str | None = None,
                           num_processes: int | None = None,
                           process_id: int | None = None) -> bool:
  """Starts JAX's multi-controller runtime when this is one of several processes: from the
  arguments when given, else from the cluster's environment (SLURM, Open MPI, TPU VMs).
  Returns whether it did. Must run before anything touches a JAX device."""
  explicit = coordinator_address is not None or num_processes is not None
  if explicit:
    missing = [name for name, value in (('coordinator_address', coordinator_address),
                                        ('num_processes', num_processes),
                                        ('process_id', process_id)) if value is None]
    if missing:
      raise ValueError(f'multi-process training needs --coordinator_address, --num_processes '
                       f'and --process_id together; missing: {", ".join(missing)}')
    if not 0 <= process_id < num_processes:
      raise ValueError(f'--process_id={process_id} must be in [0, {num_processes})')
    if num_processes == 1:
      return False
  elif cluster_environment() is None:
    return False
  # Cross-process collectives on CPU devices need gloo; accelerators use their own.
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  if explicit:
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes, process_id=process_id)
  else:
    jax.distributed.initialize()
  logging.info('Process %d of %d (%s); %d local device(s), %d in all.', jax.process_index(),
               jax.process_count(), 'flags' if explicit else cluster_environment(),
               jax.local_device_count(), jax.device_count())
  return True


def make_mesh(devices=None) -> Mesh:
  devices = list(jax.devices() if devices is None else devices)
  return Mesh(np.array(devices), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, leading_axes: int = 1) -> NamedSharding:
  """Split the example axis, which follows `leading_axes - 1` unsplit axes (e.g. d_steps)."""
  return NamedSharding(mesh, P(*([None] * (leading_axes - 1)), AXIS))


def global_batch_array(local, mesh: Mesh, leading_axes: int = 2):
  """This process's share (..., local_batch, ...) of every entry of a batch (an array or a
  dict of them) -> global arrays sharded along the batch."""
  sharding = batch_sharding(mesh, leading_axes)

  def one(x):
    shape = list(x.shape)
    shape[leading_axes - 1] *= jax.process_count()
    return jax.make_array_from_process_local_data(sharding, x, tuple(shape))
  return jax.tree.map(one, local)


# XLA:CPU's libraries for convolutions (`train.cpu_convolutions`). By default jaxlib 0.10 hands
# convolutions, dots and reductions to YNNPACK, which runs each convolution on one thread; with
# 'eigen' the convolutions go to Eigen's, which use every core (dots and reductions stay with
# YNNPACK). On 2 cores this made the dcgan_digits step 15% faster and dcgan_celeba's 16%
# (docs/PERFORMANCE.md, change 8). Same function; the rounding may differ.
CPU_CONVOLUTIONS = ('eigen', 'default')
_EIGEN_CONVOLUTIONS = {'xla_cpu_experimental_ynn_fusion_type':
                       'LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE'}


@functools.cache
def _cpu_option_supported(name: str, value: str) -> bool:
  """Whether this jaxlib's CPU compiler accepts the option (it is experimental)."""
  conv = lambda x: jax.lax.conv_general_dilated(x, x, (1, 1), 'SAME')
  try:
    jax.jit(conv, compiler_options={name: value}).lower(
        jax.ShapeDtypeStruct((1, 1, 2, 2), np.float32)).compile()
    return True
  except jax.errors.JaxRuntimeError as e:
    logging.warning('This jaxlib does not take the XLA:CPU option %s=%s (%s); compiling with '
                    'its defaults instead.', name, value, str(e).splitlines()[0])
    return False


def compiler_options(mesh: Mesh, cpu_convolutions: str = 'eigen') -> dict[str, str] | None:
  """Compiler options for a program over `mesh`: on CPU meshes, the convolution library."""
  if cpu_convolutions not in CPU_CONVOLUTIONS:
    raise ValueError(f'unknown train.cpu_convolutions {cpu_convolutions!r}; choose one of '
                     f'{list(CPU_CONVOLUTIONS)}')
  if cpu_convolutions == 'default' or mesh.devices.flat[0].platform != 'cpu':
    return None
  if not all(_cpu_option_supported(k, v) for k, v in _EIGEN_CONVOLUTIONS.items()):
    return None
  return dict(_EIGEN_CONVOLUTIONS)


def shard_state_fn(fn, mesh: Mesh, compiler_options: dict[str, str] | None = None):
  """jit(shard_map(fn)) for `fn(state, indices) -> state`, per device: the state replicated and
  donated, `indices` (a global (n,) array) split so each device gets its share."""
  sharded = jax.shard_map(fn, mesh=mesh, in_specs=(P(), P(AXIS)), out_specs=P(),
                          check_vma=False)
  return jax.jit(sharded, donate_argnums=0, in_shardings=(replicated(mesh), batch_sharding(mesh)),
                 out_shardings=replicated(mesh), compiler_options=compiler_options)


def shard_step(step_fn, mesh: Mesh, batch_leading_axes: int = 2,
               compiler_options: dict[str, str] | None = None):
  """jit(shard_map(step_fn)): state replicated and donated, batch split, metrics replicated."""
  sharded = jax.shard_map(
      step_fn, mesh=mesh,
      in_specs=(P(), batch_sharding(mesh, batch_leading_axes).spec),
      out_specs=(P(), P()),
      # pmap semantics: collectives are written out in the step, nothing is inserted for us.
      check_vma=False)
  return jax.jit(sharded, donate_argnums=0,
                 in_shardings=(replicated(mesh), batch_sharding(mesh, batch_leading_axes)),
                 out_shardings=(replicated(mesh), replicated(mesh)),
                 compiler_options=compiler_options)
