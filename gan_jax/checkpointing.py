"""Orbax checkpoints in `workdir/checkpoints`: the whole GANState plus the data stream position.

Saves are asynchronous and atomic (Orbax writes to a temporary directory and renames it), so an
interrupted save never damages the checkpoints already written. Restores take a template whose
leaves carry the current mesh's sharding, so a checkpoint restores on any device count.
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
  pass


class Checkpointer:

  def __init__(self, workdir: str, keep: int = 3, *, read_only: bool = False,
               subdir: str = 'checkpoints'):
    self.directory = os.path.join(os.path.abspath(workdir), subdir)
    if read_only and not os.path.isdir(self.directory):
      raise CheckpointError(f'no checkpoints in {self.directory}: is {workdir!r} the workdir of '
                            'a training run (python -m gan_jax.main ... --workdir=DIR)?')
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only,
                                             read_only=read_only))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def save(self, step: int, state, data_state: dict) -> None:
    """Starts an asynchronous save; `wait()` blocks until it is on disk.

    The state is replicated, so its host copy is the whole of it: saving that skips Orbax's
    per-replica slicing of device arrays, which compiled one small program per array and took
    seconds for a small model. The write itself stays asynchronous.
    """
    host_state = jax.device_get(state)
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(host_state), data=ocp.args.JsonSave(data_state)), force=True)

  def _restore(self, step: int, template):
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, 'sharding', None)),
        template)
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()))
    return restored['state'], restored['data']

  def restore(self, template, step: int | None = None, *, legacy_template=None):
    """(state, data_state, legacy) of `step` (default: latest), shaped and sharded as
    `template`. A checkpoint that does not fit it is tried with `legacy_template` (an older
    layout of the same state); `legacy` says whether that one fitted."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise CheckpointError(f'no checkpoint found in {self.directory}')
    if step not in self.all_steps():
      raise CheckpointError(f'no checkpoint for step {step} in {self.directory}; '
                            f'available steps: {self.all_steps()}')
    try:
      return (*self._restore(step, template), False)
    except Exception as e:  # orbax raises many types for damaged or mismatched checkpoints
      error = e
    if legacy_template is not None:
      try:
        return (*self._restore(step, legacy_template), True)
      except Exception:  # not the older layout either: report the first failure
        pass
    raise CheckpointError(
        f'could not restore the checkpoint of step {step} in {self.directory}: '
        f'{type(error).__name__}: {error}\nIt is damaged, or was written by a run with a '
        'different family, model or optimizer configuration. Restore with the matching config, '
        'move that step directory aside to fall back to an earlier one, or start in a fresh '
        '--workdir.') from error

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
