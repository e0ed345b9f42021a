"""Penalties on the discriminator's input gradient.

`d_fn` maps a batch to one logit per example. Gradients are of the summed logits, which equals
each example's own input gradient when D has no batch-dependent layers (use `model.d_norm` of
'layer' or 'none' with these penalties, as the WGAN-GP paper does).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _input_grad_sq_norms(d_fn, x):
  grads = jax.grad(lambda inputs: jnp.sum(d_fn(inputs)))(x)
  return jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=-1)


def gradient_penalty(d_fn, *, real, fake, epsilon):
  """WGAN-GP: E[(||grad D(x_hat)|| - 1)^2] at x_hat = eps x + (1 - eps) G(z).

  `epsilon` has one uniform draw per example.
  """
  eps = epsilon.reshape(-1, *([1] * (real.ndim - 1)))
  interpolates = eps * real + (1.0 - eps) * fake
  norms = jnp.sqrt(_input_grad_sq_norms(d_fn, interpolates) + 1e-12)
  return jnp.mean(jnp.square(norms - 1.0))


def r1_penalty(d_fn, *, real):
  """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real data; scaled by gamma / 2 outside."""
  return jnp.mean(_input_grad_sq_norms(d_fn, real))
