"""GAN objectives by name: small pure functions of the discriminator's logits.

Each objective has a discriminator loss `d_loss(*, real_logits, fake_logits)` and a generator
loss `g_loss(*, fake_logits)`; both return `(loss, scalars_to_log)` and average over the
per-device batch (the step averages gradients over devices). Penalties that need the
discriminator itself (WGAN-GP, R1) live in penalties.py.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp


def _saturating_d_loss(*, real_logits, fake_logits):
  # -log D(x) - log(1 - D(G(z))) with D = sigmoid(logits), written stably with softplus.
  loss = jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))
  return loss, {}


def minimax_g_loss(*, fake_logits):
  # The original game: G minimises log(1 - D(G(z))) = -softplus(logit).
  return -jnp.mean(jax.nn.softplus(fake_logits)), {}


def non_saturating_g_loss(*, fake_logits):
  # G maximises log D(G(z)), i.e. minimises softplus(-logit).
  return jnp.mean(jax.nn.softplus(-fake_logits)), {}


def least_squares_d_loss(*, real_logits, fake_logits):
  # LSGAN with targets a=0 (fake), b=1 (real).
  loss = 0.5 * jnp.mean((real_logits - 1.0) ** 2) + 0.5 * jnp.mean(fake_logits ** 2)
  return loss, {}


def least_squares_g_loss(*, fake_logits):
  return 0.5 * jnp.mean((fake_logits - 1.0) ** 2), {}


def wasserstein_d_loss(*, real_logits, fake_logits):
  estimate = jnp.mean(real_logits) - jnp.mean(fake_logits)
  return -estimate, {'wasserstein_estimate': estimate}


def wasserstein_g_loss(*, fake_logits):
  return -jnp.mean(fake_logits), {}


def hinge_d_loss(*, real_logits, fake_logits):
  loss = jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))
  return loss, {}


@dataclasses.dataclass(frozen=True)
class Objective:
  d_loss: Callable
  g_loss: Callable
  probabilistic: bool          # logits are log-odds of "real": log D(x) as a probability
  gradient_penalty: bool = False  # WGAN-GP's penalty on interpolates (penalties.py)
  weight_clipping: bool = False   # clip D's weights to [-loss.clip, loss.clip] after each update


OBJECTIVES = {
    'minimax': Objective(_saturating_d_loss, minimax_g_loss, probabilistic=True),
    'non_saturating': Objective(_saturating_d_loss, non_saturating_g_loss, probabilistic=True),
    'least_squares': Objective(least_squares_d_loss, least_squares_g_loss, probabilistic=False),
    'wasserstein': Objective(wasserstein_d_loss, wasserstein_g_loss, probabilistic=False,
                             weight_clipping=True),
    'wasserstein_gp': Objective(wasserstein_d_loss, wasserstein_g_loss, probabilistic=False,
                                gradient_penalty=True),
    'hinge': Objective(hinge_d_loss, wasserstein_g_loss, probabilistic=False),
}


def get(name: str) -> Objective:
  if name not in OBJECTIVES:
    raise ValueError(f'unknown loss.name {name!r}; choose one of {sorted(OBJECTIVES)}')
  return OBJECTIVES[name]
