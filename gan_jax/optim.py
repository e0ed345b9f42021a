"""Optimizers by name, one per player: learning-rate schedules and per-module multipliers.

`make_optimizer(optim_config, player, ...)` builds the optax transformation of one player. Its
learning rate is `optim.<player>_lr` (`g_lr`, `d_lr`, ...), shaped by `optim.schedule`:

- `constant`;
- `linear_decay`: constant for `optim.decay_start` steps, then linearly to zero at the last
  training step (Pix2Pix and CycleGAN: 100 epochs constant, 100 decaying);
- `warmup`: linearly from zero to the rate over `optim.warmup_steps`, then constant;
- `step_decay`: multiplied by `optim.decay_factor` every `optim.decay_every` steps (StackGAN:
  halved every 100 epochs).

Schedules count training steps, not updates: a player updated `updates_per_step` times a step
(`train.d_steps`, `train.g_steps`) sees the rate of the step it is in.

`optim.lr_multipliers` scales the rate of parts of a player: entries 'PLAYER/PATH=FACTOR', where
PATH is a prefix of the parameters' module path, e.g. 'g/mapping=0.01' for StyleGAN2's mapping
network. The factor multiplies the player's updates, which for Adam, RMSProp and SGD is the
same as multiplying its learning rate.
"""

from __future__ import annotations

import optax
import jax
import jax.numpy as jnp
from flax import traverse_util

SCHEDULES = ('constant', 'linear_decay', 'warmup', 'step_decay')

OPTIMIZERS = {
    'adam': lambda lr, c: optax.adam(lr, b1=c.b1, b2=c.b2, eps=c.eps),
    'rmsprop': lambda lr, c: optax.rmsprop(lr, eps=c.eps),
    'sgd': lambda lr, c: optax.sgd(lr, momentum=c.get('momentum', 0.0) or None),
}


def schedule(optim_config, base_lr: float, *, total_steps: int,
             updates_per_step: int = 1) -> optax.Schedule:
  """The learning rate as a function of the player's update count."""
  name = optim_config.get('schedule', 'constant')
  if name not in SCHEDULES:
    raise ValueError(f'unknown optim.schedule {name!r}; choose one of {list(SCHEDULES)}')

  def lr(count):
    step = (count // updates_per_step).astype(jnp.float32)
    if name == 'linear_decay':
      start = optim_config.get('decay_start', 0)
      # Pix2Pix's factor 1 - max(0, epoch + 1 - n_epochs) / (n_epochs_decay + 1), in steps:
      # the last step trains at base / (decay steps + 1), the next would be at zero.
      frac = 1.0 - jnp.maximum(0.0, step + 1 - start) / (total_steps - start + 1)
      return base_lr * jnp.clip(frac, 0.0, 1.0)
    if name == 'step_decay':
      every = max(optim_config.get('decay_every', 0), 1)
      return base_lr * optim_config.get('decay_factor', 0.5) ** jnp.floor(step / every)
    if name == 'warmup':
      warmup = optim_config.get('warmup_steps', 0)
      return base_lr * jnp.minimum(1.0, (step + 1) / max(warmup, 1))
    return jnp.full((), base_lr, jnp.float32)
  return lr


def parse_multipliers(entries) -> dict[str, dict[str, float]]:
  """'PLAYER/PATH=FACTOR' entries -> {player: {path: factor}}; raises on malformed ones."""
  out: dict[str, dict[str, float]] = {}
  for entry in entries or ():
    try:
      where, factor = entry.split('=')
      player, path = where.split('/', 1)
      value = float(factor)
    except ValueError:
      raise ValueError(f"optim.lr_multipliers entry {entry!r} is not 'PLAYER/PATH=FACTOR', "
                       "e.g. 'g/mapping=0.01'") from None
    if not value > 0:
      raise ValueError(f'optim.lr_multipliers entry {entry!r}: the factor must be positive')
    out.setdefault(player, {})[path.strip('/')] = value
  return out


def multiplier_tree(params, multipliers: dict[str, float]):
  """A tree of factors shaped like `params`: the longest matching path prefix's, else 1."""
  flat = traverse_util.flatten_dict(params, sep='/')
  used = set()

  def factor(path):
    best, value = -1, 1.0
    for prefix, f in multipliers.items():
      if (path == prefix or path.startswith(prefix + '/')) and len(prefix) > best:
        best, value = len(prefix), f
        used.add(prefix)
    return value
  tree = traverse_util.unflatten_dict({k: factor(k) for k in flat}, sep='/')
  unknown = set(multipliers) - used
  if unknown:
    raise ValueError(f'optim.lr_multipliers names {sorted(unknown)}, which match no parameters; '
                     f'module paths are e.g. {sorted({k.rsplit("/", 1)[0] for k in flat})[:8]}')
  return tree


def scale_by_tree(factors) -> optax.GradientTransformation:
  """Multiplies each update by a fixed factor of its own."""
  def update(updates, state, params=None):
    del params
    return jax.tree.map(lambda u, f: u * f, updates, factors), state
  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def make_optimizer(optim_config, player: str, *, params=None, total_steps: int,
                   updates_per_step: int = 1) -> optax.GradientTransformation:
  """Player `player`'s optimizer; `params` (or their shapes) is needed for multipliers."""
  if optim_config.name not in OPTIMIZERS:
    raise ValueError(f'unknown optim.name {optim_config.name!r}; '
                     f'choose one of {sorted(OPTIMIZERS)}')
  base_lr = optim_config[f'{player}_lr']
  # A constant rate stays a number: the optimizer state then has no schedule count, as before
  # schedules existed, so checkpoints of such runs keep their layout.
  lr = base_lr if optim_config.get('schedule', 'constant') == 'constant' else schedule(
      optim_config, base_lr, total_steps=total_steps, updates_per_step=updates_per_step)
  tx = OPTIMIZERS[optim_config.name](lr, optim_config)
  multipliers = parse_multipliers(optim_config.get('lr_multipliers', ())).get(player)
  if multipliers:
    tx = optax.chain(tx, scale_by_tree(multiplier_tree(params, multipliers)))
  return tx
