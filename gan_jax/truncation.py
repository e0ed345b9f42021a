"""The truncation trick (BigGAN, Brock et al. 2019): latents drawn from a normal whose entries
beyond a threshold t are resampled, trading variety for fidelity as t shrinks.

`truncate_latents(key, shape, t)` draws `jax.random.normal(key, shape)`, exactly the untruncated
latents, and redraws only the entries with |z| > t, each from fresh normal draws (keys folded
from `key`, one per round), until every entry lies in [-t, t]. Entries already inside are kept
as they were; an entry's value is the first of its draws that lands inside, so the result is a
fixed function of `key`, however many rounds the other entries needed. Each entry is therefore
distributed as the standard normal truncated to [-t, t].

Used by `GanFamily.latents(seed, num, truncation=t)`, the sample command's `--truncation` and
the evaluate command's `--truncation` and `--truncation_sweep`. `check(family, t)` is the
start-up check those commands run on the family built from the config alone, before any
checkpoint is read.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax import lax

# The thresholds of `python -m gan_jax.evaluate --truncation_sweep` (and no truncation).
SWEEP = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
# Resampling rounds before giving up: at t = 0.01 (an entry lands inside with probability
# 0.008) a million entries need about 1,700.
MAX_ROUNDS = 20_000
_RESAMPLE = 0x7C0A  # the purpose folded into the key for the redraws


def check_threshold(threshold, flag: str = '--truncation') -> float | None:
  """`threshold` as a float, which must be positive and finite (None: no truncation)."""
  if threshold is None:
    return None
  try:
    value = float(threshold)
  except (TypeError, ValueError):
    raise ValueError(f'{flag}={threshold!r}: give a positive number, the latent threshold '
                     '(e.g. 0.5)') from None
  if not (value > 0 and math.isfinite(value)):
    raise ValueError(f'{flag}={threshold!r}: the truncation threshold must be a positive '
                     'finite number (latent entries beyond +-t are resampled), e.g. 0.5')
  return value


def check(family, threshold=None, *, flag: str = '--truncation') -> None:
  """Whether `family` can sample with truncation `threshold` (None: any threshold, as a
  sweep). Raises ValueError for an invalid threshold or a family without a latent."""
  check_threshold(threshold, flag)
  if not getattr(family, 'has_latent', False):
    config = getattr(family, 'config', None)
    name = config.get('family', 'gan') if config is not None else type(family).__name__
    raise ValueError(f'{flag}: family {name!r} has no latent: truncation applies to '
                     'latent-variable generators, whose latent z it truncates')


@functools.partial(jax.jit, static_argnames=('max_rounds',))
def _resample_outside(key, z, threshold, max_rounds: int):
  """(z with its entries beyond +-threshold redrawn until inside, rounds taken)."""
  keys = jax.random.fold_in(key, _RESAMPLE)

  def outside(z):
    return jnp.abs(z) > threshold

  def cond(carry):
    rounds, z = carry
    return jnp.logical_and(rounds < max_rounds, jnp.any(outside(z)))

  def body(carry):
    rounds, z = carry
    fresh = jax.random.normal(jax.random.fold_in(keys, rounds), z.shape, z.dtype)
    return rounds + 1, jnp.where(outside(z), fresh, z)

  rounds, z = lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), z))
  return z, rounds


def truncate_latents(key: jax.Array, shape, threshold: float | None, *,
                     max_rounds: int = MAX_ROUNDS) -> jax.Array:
  """Standard normal latents of `shape` from `key`, truncated to [-threshold, threshold] by
  resampling the entries beyond it (None: plain `jax.random.normal(key, shape)`)."""
  z = jax.random.normal(key, tuple(shape))
  if threshold is None:
    return z
  threshold = check_threshold(threshold)
  z, rounds = _resample_outside(key, z, jnp.asarray(threshold, z.dtype), max_rounds)
  if int(rounds) >= max_rounds and bool(jnp.any(jnp.abs(z) > threshold)):
    raise ValueError(f'truncation {threshold}: entries still beyond it after {max_rounds} '
                     'rounds of resampling; choose a larger threshold')
  return z


def seeded_latents(seed: int, num: int, z_dim: int, truncation: float | None = None):
  """(num, z_dim) latents determined by `seed` alone (sampling and evaluation; the trainer's
  fixed batch uses the run's key): standard normals, or with `truncation` = t > 0 the same
  latents with every entry beyond +-t resampled until inside (`truncate_latents`)."""
  key = jax.random.fold_in(jax.random.PRNGKey(seed), 0x5A3F)
  if truncation is None:
    return jax.random.normal(key, (num, z_dim))
  return truncate_latents(key, (num, z_dim), truncation)
