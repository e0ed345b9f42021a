"""GANState: everything training changes, in one pytree, so that saving and restoring it is one
call and resume is exact.

- `players`: the networks that train, by name (`'g'`, `'d'`, later `'g_ab'`, `'e'`, ...), each a
  flax TrainState with its own optimizer, learning-rate schedule and batch-norm statistics.
- `ema`: exponential moving averages of players' parameters, by player name, each with the
  batch-norm statistics that belong to those averaged parameters (`EMA`), so that it runs on
  its own. A family computes them (standing statistics, `steps.standing_stats`).
- `step`, and `rng`: the base key from which every step folds in its own.
- `extra`: whatever else a family keeps (a path-length mean, an image pool); {} when nothing.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
from flax.training import train_state


class TrainState(train_state.TrainState):
  batch_stats: Any


@flax.struct.dataclass
class EMA:
  params: Any        # the average of a player's parameters
  batch_stats: Any   # batch-norm statistics of the averaged network itself ({} without BN)

  def variables(self) -> dict:
    return {'params': self.params, 'batch_stats': self.batch_stats}


@flax.struct.dataclass
class GANState:
  step: jax.Array
  players: dict[str, TrainState]
  ema: dict[str, EMA]
  rng: jax.Array
  extra: dict[str, Any]


def create_player(module, variables: dict, tx) -> TrainState:
  return TrainState.create(apply_fn=module.apply, params=variables['params'],
                           batch_stats=variables.get('batch_stats', {}), tx=tx)


def ema_from(player: TrainState) -> EMA:
  """An EMA starting at the player's parameters and statistics (copies, not aliases)."""
  return EMA(params=jax.tree.map(jnp.copy, player.params),
             batch_stats=jax.tree.map(jnp.copy, player.batch_stats))


def ema_decay_at(step: jax.Array, ema_decay: float) -> jax.Array:
  """The EMA warms up: early on it averages over the steps taken so far, not over the random
  initialisation: min(ema_decay, (1 + t) / (10 + t)) at step t."""
  t = step.astype(jnp.float32)
  return jnp.minimum(ema_decay, (1.0 + t) / (10.0 + t))


def update_ema_params(ema_params, params, decay):
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema_params, params)


def count_params(params) -> int:
  return sum(int(p.size) for p in jax.tree.leaves(params))
