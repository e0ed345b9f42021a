"""GANState: everything training changes, in one pytree, so that saving and restoring it is one
call and resume is exact.

The generator and the discriminator are flax TrainStates, each with its own optax optimizer,
learning rate and batch-norm statistics. Beside them: the exponential moving average of the
generator's parameters (equal to the parameters when `train.ema_decay` is 0), the step, and the
base random key from which every step folds in its own.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state


class TrainState(train_state.TrainState):
  batch_stats: Any


@flax.struct.dataclass
class GANState:
  step: jax.Array
  g: TrainState
  d: TrainState
  ema_params: Any
  rng: jax.Array


OPTIMIZERS = {
    'adam': lambda lr, c: optax.adam(lr, b1=c.b1, b2=c.b2, eps=c.eps),
    'rmsprop': lambda lr, c: optax.rmsprop(lr, eps=c.eps),
    'sgd': lambda lr, c: optax.sgd(lr, momentum=c.b1 or None),
}


def make_optimizer(optim_config, learning_rate: float) -> optax.GradientTransformation:
  if optim_config.name not in OPTIMIZERS:
    raise ValueError(f'unknown optim.name {optim_config.name!r}; '
                     f'choose one of {sorted(OPTIMIZERS)}')
  return OPTIMIZERS[optim_config.name](learning_rate, optim_config)


def create_state(config, generator, discriminator, data_shape, rng: jax.Array) -> GANState:
  """A fresh state. Pure in `rng`: `jax.eval_shape` of it gives the restore template."""
  g_key, d_key, train_key = jax.random.split(rng, 3)
  z = jnp.zeros((1, config.model.z_dim), jnp.float32)
  x = jnp.zeros((config.model.get('pack', 1), *data_shape), jnp.float32)  # one (packed) input
  g_vars = generator.init(g_key, z, train=False)
  d_vars = discriminator.init(d_key, x, train=False)
  g = TrainState.create(apply_fn=generator.apply, params=g_vars['params'],
                        batch_stats=g_vars.get('batch_stats', {}),
                        tx=make_optimizer(config.optim, config.optim.g_lr))
  d = TrainState.create(apply_fn=discriminator.apply, params=d_vars['params'],
                        batch_stats=d_vars.get('batch_stats', {}),
                        tx=make_optimizer(config.optim, config.optim.d_lr))
  return GANState(step=jnp.zeros((), jnp.int32), g=g, d=d,
                  ema_params=jax.tree.map(jnp.copy, g_vars['params']), rng=train_key)


def count_params(params) -> int:
  return sum(int(p.size) for p in jax.tree.leaves(params))
