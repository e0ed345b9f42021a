"""The update step: `d_steps` discriminator updates, then `g_steps` generator updates.

The generator's updates are taken against the discriminator as its updates left it
(alternating, the default), or against the discriminator the step started from
(`simultaneous`: both players' gradients at the same point, as the PacGAN and ALI code train).
Each update draws its own latents.

Written as a per-device program, pmap style: each device sees its share of the global batch,
and gradients, losses and batch-norm statistics are averaged over the named mesh axis with
explicit collectives. `parallel.shard_step` runs it over every device with `jax.shard_map`
under `jax.jit`, donating the state.

Randomness: the step key is `fold_in(state.rng, step)`; every example then gets its own key
from its index in the global batch (device index x local batch + position). Latents therefore
depend on the seed, the step and the device, are never reused, and do not change when the same
global batch is split over a different number of devices.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax import lax

from gan_jax import penalties
from gan_jax.losses import Objective

# Purposes folded into the step key, so that no two uses share random numbers.
_D_LATENTS, _D_EPSILON, _G_LATENTS = 0, 1, 2
# ... and the discriminator's dropout masks (used only by discriminators with dropout).
_DROPOUT_REAL, _DROPOUT_FAKE, _DROPOUT_PENALTY, _DROPOUT_G = 3, 4, 5, 6


def example_keys(key: jax.Array, local_batch: int, axis_name: str) -> jax.Array:
  """One key per example, indexed by the example's position in the global batch."""
  first = lax.axis_index(axis_name) * local_batch
  return jax.vmap(lambda i: jax.random.fold_in(key, i))(first + jnp.arange(local_batch))


def _latents(key, local_batch, z_dim, axis_name):
  keys = example_keys(key, local_batch, axis_name)
  return jax.vmap(lambda k: jax.random.normal(k, (z_dim,)))(keys)


def images_to_float(x: jax.Array) -> jax.Array:
  """uint8 images (as image sources deliver them) to float32 in [-1, 1]; floats unchanged."""
  if jnp.issubdtype(x.dtype, jnp.integer):
    return x.astype(jnp.float32) * (2.0 / 255.0) - 1.0
  return x


def _probabilities(objective: Objective, real_logits, fake_logits):
  if not objective.probabilistic:
    return {}
  return {'d_real_prob': jnp.mean(jax.nn.sigmoid(real_logits)),
          'd_fake_prob': jnp.mean(jax.nn.sigmoid(fake_logits))}


def generate(generator, params, batch_stats, z, slots: int = 1):
  """The generator in training mode on latents `z`: (samples, updated batch_stats).

  `slots` = k > 1 runs it once per slot of the discriminator's packs (examples i, i + k, ...),
  as PacGAN's code does: batch norm then normalises each slot over its own examples, and the
  running statistics take the mean of the k updates. With 1, one run over all examples.
  """
  variables = {'params': params, 'batch_stats': batch_stats}
  if slots == 1:
    fake, updates = generator.apply(variables, z, train=True, mutable=['batch_stats'])
    return fake, updates['batch_stats']
  per_slot = z.reshape(z.shape[0] // slots, slots, *z.shape[1:])
  runs = [generator.apply(variables, per_slot[:, i], train=True, mutable=['batch_stats'])
          for i in range(slots)]
  fake = jnp.stack([x for x, _ in runs], axis=1)  # (packs, slots, ...): a pack's examples
  stats = jax.tree.map(lambda *s: jnp.mean(jnp.stack(s), axis=0),
                       *[updates['batch_stats'] for _, updates in runs])
  return fake.reshape(z.shape[0], *fake.shape[2:]), stats


def d_step(d_state, g_state, real, key, *, generator, discriminator, objective: Objective,
           z_dim: int, gp_weight: float, r1_gamma: float, clip: float, axis_name: str,
           slots: int = 1):
  """One discriminator update on one real minibatch. Returns (d_state, metrics)."""
  local_batch = real.shape[0]
  z = _latents(jax.random.fold_in(key, _D_LATENTS), local_batch, z_dim, axis_name)
  fake, _ = generate(generator, g_state.params, g_state.batch_stats, z, slots)
  fake = lax.stop_gradient(fake)

  def loss_fn(params):
    def d_apply(x, stats, purpose):
      return discriminator.apply({'params': params, 'batch_stats': stats}, x, train=True,
                                 mutable=['batch_stats'],
                                 rngs={'dropout': jax.random.fold_in(key, purpose)})
    real_logits, updates = d_apply(real, d_state.batch_stats, _DROPOUT_REAL)
    fake_logits, updates = d_apply(fake, updates['batch_stats'], _DROPOUT_FAKE)
    loss, scalars = objective.d_loss(real_logits=real_logits, fake_logits=fake_logits)
    # Penalties see D with the statistics of this update and leave them unchanged.
    d_fn = lambda x: d_apply(x, updates['batch_stats'], _DROPOUT_PENALTY)[0]
    if objective.gradient_penalty:
      eps_keys = example_keys(jax.random.fold_in(key, _D_EPSILON), local_batch, axis_name)
      epsilon = jax.vmap(jax.random.uniform)(eps_keys)
      gp = penalties.gradient_penalty(d_fn, real=real, fake=fake, epsilon=epsilon)
      loss = loss + gp_weight * gp
      scalars = {**scalars, 'gradient_penalty': gp}
    if r1_gamma > 0:
      r1 = penalties.r1_penalty(d_fn, real=real)
      loss = loss + 0.5 * r1_gamma * r1
      scalars = {**scalars, 'r1_penalty': r1}
    scalars = {**scalars, 'd_real_logit': jnp.mean(real_logits),
               'd_fake_logit': jnp.mean(fake_logits),
               **_probabilities(objective, real_logits, fake_logits)}
    return loss, (updates['batch_stats'], scalars)

  (loss, (batch_stats, scalars)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      d_state.params)
  grads = lax.pmean(grads, axis_name)
  d_state = d_state.apply_gradients(grads=grads, batch_stats=batch_stats)
  if objective.weight_clipping and clip > 0:
    d_state = d_state.replace(params=jax.tree.map(lambda p: jnp.clip(p, -clip, clip),
                                                  d_state.params))
  metrics = {'d_loss': loss, 'd_grad_norm': optax.global_norm(grads), **scalars}
  return d_state, lax.pmean(metrics, axis_name)


def g_step(g_state, d_state, key, *, local_batch: int, generator, discriminator,
           objective: Objective, z_dim: int, axis_name: str, slots: int = 1):
  """One generator update against the current discriminator. Returns (g_state, metrics)."""
  z = _latents(jax.random.fold_in(key, _G_LATENTS), local_batch, z_dim, axis_name)

  def loss_fn(params):
    fake, batch_stats = generate(generator, params, g_state.batch_stats, z, slots)
    # D's statistics are not updated by the generator's step.
    fake_logits, _ = discriminator.apply(
        {'params': d_state.params, 'batch_stats': d_state.batch_stats}, fake, train=True,
        mutable=['batch_stats'], rngs={'dropout': jax.random.fold_in(key, _DROPOUT_G)})
    loss, scalars = objective.g_loss(fake_logits=fake_logits)
    return loss, (batch_stats, scalars)

  (loss, (batch_stats, scalars)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      g_state.params)
  grads = lax.pmean(grads, axis_name)
  g_state = g_state.apply_gradients(grads=grads, batch_stats=batch_stats)
  metrics = {'g_loss': loss, 'g_grad_norm': optax.global_norm(grads), **scalars}
  return g_state, lax.pmean(metrics, axis_name)


def _mean(metrics: list[dict]) -> dict:
  """The mean of each metric over one player's updates in a step."""
  return jax.tree.map(lambda *values: jnp.mean(jnp.stack(values)), *metrics)


def train_step(state, real_batches, *, generator, discriminator, objective: Objective,
               z_dim: int, ema_decay: float, gp_weight: float = 10.0, r1_gamma: float = 0.0,
               clip: float = 0.0, g_steps: int = 1, simultaneous: bool = False,
               slots: int = 1, axis_name: str = 'batch'):
  """`real_batches` is this device's (d_steps, local_batch, ...) share. Returns (state, metrics).

  `slots` > 1 runs the generator once per pack slot (`generate`). Metrics are averaged over
  devices, and over each player's updates in the step.
  """
  num_d_steps, local_batch = real_batches.shape[:2]
  real_batches = images_to_float(real_batches)
  step_key = jax.random.fold_in(state.rng, state.step)
  d_keys = jax.random.split(jax.random.fold_in(step_key, 0), num_d_steps)

  def one_d_step(d_state, inputs):
    real, key = inputs
    return d_step(d_state, state.g, real, key, generator=generator, discriminator=discriminator,
                  objective=objective, z_dim=z_dim, gp_weight=gp_weight, r1_gamma=r1_gamma,
                  clip=clip, axis_name=axis_name, slots=slots)

  # A Python loop, not lax.scan: on XLA:CPU the same step inside a scan (even one with
  # unroll=True) ran 14x slower (docs/PERFORMANCE.md). d_steps is small, so unrolling it costs
  # little compile time.
  d_state, d_metrics = state.d, []
  for i in range(num_d_steps):
    d_state, m = one_d_step(d_state, (real_batches[i], d_keys[i]))
    d_metrics.append(m)
  # The generator's updates take keys fold_in 1, 2, ...; fold_in 0 is the discriminator's.
  g_state, g_metrics = state.g, []
  for i in range(g_steps):
    g_state, m = g_step(g_state, state.d if simultaneous else d_state,
                        jax.random.fold_in(step_key, 1 + i), local_batch=local_batch,
                        generator=generator, discriminator=discriminator, objective=objective,
                        z_dim=z_dim, axis_name=axis_name, slots=slots)
    g_metrics.append(m)
  # The EMA warms up: early on it averages over the steps taken so far, not over the
  # random initialisation (the decay is min(ema_decay, (1 + t) / (10 + t)) at step t).
  t = state.step.astype(jnp.float32)
  decay = jnp.minimum(ema_decay, (1.0 + t) / (10.0 + t))
  ema_params = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p,
                            state.ema_params, g_state.params)
  metrics = {**_mean(d_metrics), **_mean(g_metrics)}
  new_state = state.replace(step=state.step + 1, g=g_state, d=d_state, ema_params=ema_params)
  return new_state, metrics
