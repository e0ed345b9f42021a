"""Small pure helpers that families compose into their per-device update steps.

A family's step is written as a per-device program, pmap style: each device sees its share of
the global batch, and gradients, losses and batch-norm statistics are averaged over the named
mesh axis with explicit collectives. `parallel.shard_step` runs it over every device with
`jax.shard_map` under `jax.jit`, donating the state.

Randomness: a step's key is `fold_in(state.rng, step)`, folded again with a distinct purpose for
each use (latents, labels, dropout, penalties' random points, noise inside the generator). Each
example then gets its own key from its index in the global batch (`example_keys`), so random
numbers are never reused and do not change when the same global batch is split over a
different number of devices.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax


def example_keys(key: jax.Array, local_batch: int, axis_name: str) -> jax.Array:
  """One key per example, indexed by the example's position in the global batch."""
  first = lax.axis_index(axis_name) * local_batch
  return jax.vmap(lambda i: jax.random.fold_in(key, i))(first + jnp.arange(local_batch))


def example_normals(key: jax.Array, local_batch: int, shape: tuple[int, ...],
                    axis_name: str) -> jax.Array:
  """(local_batch, *shape) standard normals, each example's from its own key (latents)."""
  keys = example_keys(key, local_batch, axis_name)
  return jax.vmap(lambda k: jax.random.normal(k, shape))(keys)


def example_uniforms(key: jax.Array, local_batch: int, axis_name: str) -> jax.Array:
  keys = example_keys(key, local_batch, axis_name)
  return jax.vmap(jax.random.uniform)(keys)


def example_labels(key: jax.Array, local_batch: int, num_classes: int,
                   axis_name: str) -> jax.Array:
  """(local_batch,) classes drawn uniformly, each example's from its own key."""
  keys = example_keys(key, local_batch, axis_name)
  return jax.vmap(lambda k: jax.random.randint(k, (), 0, num_classes))(keys)


def update(player, loss_fn: Callable, *, axis_name: str):
  """One optimizer update of a TrainState: `loss_fn(params) -> (loss, (batch_stats, scalars))`
  is differentiated, gradients are averaged over devices and applied. Returns
  (player, loss, scalars, grads); `batch_stats` None leaves the player's statistics alone."""
  (loss, (batch_stats, scalars)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      player.params)
  grads = lax.pmean(grads, axis_name)
  if batch_stats is None:
    batch_stats = player.batch_stats
  return player.apply_gradients(grads=grads, batch_stats=batch_stats), loss, scalars, grads


def mean_metrics(metrics: list[dict]) -> dict:
  """The mean of each metric over one player's updates in a step."""
  return jax.tree.map(lambda *values: jnp.mean(jnp.stack(values)), *metrics)


def every(interval: int, step: jax.Array, fn: Callable[[], jax.Array]) -> jax.Array:
  """`fn()` at steps divisible by `interval` (lazy regularisation), else 0 of the same shape;
  only the branch taken is computed. `interval` 1 calls it every step without a branch."""
  if interval <= 1:
    return fn()
  shape = jax.eval_shape(fn)
  return lax.cond(step % interval == 0, fn,
                  lambda: jnp.zeros(shape.shape, shape.dtype))


def _is_running_average(path) -> bool:
  """Batch-norm running statistics ('mean', 'var'), as against the other leaves that live in
  'batch_stats' (spectral normalisation's vectors, `layers.SPECTRAL_VECTOR`)."""
  return getattr(path[-1], 'key', None) in ('mean', 'var')


def _fill(stats, value):
  """The running statistics set to `value`; every other leaf kept."""
  return jax.tree_util.tree_map_with_path(
      lambda p, x: jnp.full_like(x, value) if _is_running_average(p) else x, stats)


def spectral_vectors_from(source, stats):
  """`stats` with every leaf that is not a batch-norm running statistic (spectral
  normalisation's power-iteration vectors) taken from `source`."""
  return jax.tree_util.tree_map_with_path(
      lambda p, s, x: x if _is_running_average(p) else s, source, stats)


def standing_stats(run: Callable, batch_stats, keys: jax.Array):
  """Batch-norm statistics that belong to a network: averages of its per-batch statistics over
  the batches that `run(batch_stats, key) -> updated batch_stats` draws for each of `keys`
  (BigGAN's "standing statistics").

  Flax's BatchNorm folds a batch into its running average as m * old + (1 - m) * batch. Run
  from zeros it gives (1 - m) * batch, and from ones m + (1 - m) * batch; the two give each
  layer's own m, so the batch's statistics come out exactly whatever momentum a layer has.

  Spectral normalisation's vectors are the network's own too: they start from those in
  `batch_stats` and advance one power iteration per run, on this network's weights.
  """
  momentum = jax.tree.map(lambda a, b: a - b, run(_fill(batch_stats, 1.0), keys[0]),
                          run(_fill(batch_stats, 0.0), keys[0]))
  zeros = _fill(batch_stats, 0.0)

  def one(carry, key):
    total, current = carry
    folded = run(_fill(current, 0.0), key)
    total = jax.tree.map(lambda t, f, m: t + f / (1.0 - m), total, folded, momentum)
    return (total, folded), None
  (total, last), _ = lax.scan(one, (zeros, batch_stats), keys)
  return spectral_vectors_from(last, jax.tree.map(lambda t: t / keys.shape[0], total))


def clip_params(params, bound: float):
  return jax.tree.map(lambda p: jnp.clip(p, -bound, bound), params)

