"""Penalties on the discriminator's input gradient: WGAN-GP, R1, R2 and DRAGAN.

`d_fn` maps a batch to one logit per example, or with PacGAN's packing (`pack` = k > 1) one
logit per pack of k consecutive examples. Gradients are of the summed logits, which equals each
example's (or pack's) own input gradient when D has no batch-dependent layers (use
`model.d_norm` of 'layer' or 'none' with these penalties, as the WGAN-GP paper does). A packed
D's decision is a function of the whole pack, so its gradient norm is taken over the pack: the
squared norms of the pack's examples are summed, and the penalty is a mean over packs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def _input_grad_sq_norms(d_fn, x, pack: int = 1):
  """Squared norms of D's input gradient: one per example, or one per pack."""
  grads = jax.grad(lambda inputs: jnp.sum(d_fn(inputs)))(x)
  per_example = jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=-1)
  return per_example.reshape(-1, pack).sum(axis=1)


def _per_pack(values, pack: int, like):
  """One draw per pack (its first example's), shared by the pack's examples and broadcast
  against `like`."""
  values = jnp.repeat(values.reshape(-1, pack)[:, :1], pack, axis=1).reshape(-1)
  return values.reshape(-1, *([1] * (like.ndim - 1)))


def gradient_penalty(d_fn, *, real, fake, epsilon, pack: int = 1):
  """WGAN-GP: E[(||grad D(x_hat)|| - 1)^2] at x_hat = eps x + (1 - eps) G(z).

  `epsilon` has one uniform draw per example; a pack uses its first example's, so that the
  interpolate is a point on the segment between a real and a generated pack.
  """
  eps = _per_pack(epsilon, pack, real)
  interpolates = eps * real + (1.0 - eps) * fake
  norms = jnp.sqrt(_input_grad_sq_norms(d_fn, interpolates, pack) + 1e-12)
  return jnp.mean(jnp.square(norms - 1.0))


def r1_penalty(d_fn, *, real, pack: int = 1):
  """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real data; scaled by gamma / 2 outside."""
  return jnp.mean(_input_grad_sq_norms(d_fn, real, pack))


def r2_penalty(d_fn, *, fake, pack: int = 1):
  """R2 (Mescheder et al. 2018): E[||grad D(x)||^2] on generated data; gamma / 2 outside."""
  return jnp.mean(_input_grad_sq_norms(d_fn, fake, pack))


def dragan_penalty(d_fn, *, real, noise, alpha, axis_name: str | None, pack: int = 1):
  """DRAGAN (Kodali et al. 2017): E[(||grad D(x_hat)|| - 1)^2] at points near the data,
  x_hat = x + alpha * (x_p - x) with x_p = x + 0.5 std(x) u, as its reference code: u uniform
  in [0, 1) per element (`noise`, shaped like `real`), alpha uniform per example (a pack uses
  its first example's), std over every element of the global batch."""
  mean = jnp.mean(real)
  sq = jnp.mean(jnp.square(real))
  if axis_name is not None:
    mean, sq = lax.pmean(mean, axis_name), lax.pmean(sq, axis_name)
  std = jnp.sqrt(jnp.maximum(sq - mean ** 2, 0.0))
  perturbed = real + 0.5 * std * noise
  a = _per_pack(alpha, pack, real)
  points = real + a * (perturbed - real)
  norms = jnp.sqrt(_input_grad_sq_norms(d_fn, points, pack) + 1e-12)
  return jnp.mean(jnp.square(norms - 1.0))
