"""Penalties on the discriminator's input gradient: WGAN-GP, R1, R2 and DRAGAN; and BigGAN's
orthogonal regularisation of the generator's weights.

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


def orthogonal_penalty(params, exclude=()) -> jax.Array:
  """BigGAN's orthogonal regularisation in its off-diagonal form (Brock et al. 2019, eq. 3):
  the sum over weights W of ||W^T W * (1 - I)||_F^2, W a kernel read as a matrix (fan-in,
  outputs), so that W^T W holds the inner products of the output filters. Every parameter of
  rank 2 or more counts (kernels, class embeddings) except those under a module named in
  `exclude` (BigGAN leaves out its shared embedding). Biases and gains are left alone.

  BigGAN-PyTorch adds beta * 2 (W W^T * (1 - I)) W to the gradient, which is the gradient of
  beta / 2 times this sum for its (outputs, fan-in) layout: the same regulariser at half the
  weight. Weights are as stored, before spectral normalisation."""
  total = jnp.zeros((), jnp.float32)
  for path, p in jax.tree_util.tree_flatten_with_path(params)[0]:
    names = [getattr(k, 'key', '') for k in path]
    if p.ndim < 2 or any(n in exclude for n in names):
      continue
    w = p.reshape(-1, p.shape[-1]).astype(jnp.float32)
    gram = w.T @ w
    total = total + jnp.sum(jnp.square(gram * (1.0 - jnp.eye(gram.shape[0]))))
  return total
