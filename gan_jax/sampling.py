"""Drawing from a generator: fixed latent batches, jitted generation in inference mode,
spherical interpolation, and the picture for a set of samples (grid, or plot for points).
Used by the trainer for its periodic samples and by the `gan_jax.sample` command."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import plots
from gan_jax.data import toy

NUM_POINTS = 2500  # points per 1-D / 2-D plot: the VEEGAN / PacGAN evaluation sample size


def latents(seed: int, num: int, z_dim: int) -> jax.Array:
  """A latent batch determined by `seed` alone (the trainer's fixed batch uses the run's seed)."""
  key = jax.random.fold_in(jax.random.PRNGKey(seed), 0x5A3F)
  return jax.random.normal(key, (num, z_dim))


def make_generate(generator):
  @jax.jit
  def generate(params, batch_stats, z):
    return generator.apply({'params': params, 'batch_stats': batch_stats}, z, train=False)
  return generate


def make_discriminate(discriminator):
  @jax.jit
  def discriminate(params, batch_stats, x):
    return discriminator.apply({'params': params, 'batch_stats': batch_stats}, x, train=False)
  return discriminate


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  """Spherical interpolation between latent vectors `a` and `b` (rows) at fractions `t`."""
  a_n = a / jnp.linalg.norm(a, axis=-1, keepdims=True)
  b_n = b / jnp.linalg.norm(b, axis=-1, keepdims=True)
  omega = jnp.arccos(jnp.clip(jnp.sum(a_n * b_n, axis=-1, keepdims=True), -1.0, 1.0))
  so = jnp.sin(omega)
  t = t[:, None]
  safe = so > 1e-6
  w_a = jnp.where(safe, jnp.sin((1.0 - t) * omega) / jnp.where(safe, so, 1.0), 1.0 - t)
  w_b = jnp.where(safe, jnp.sin(t * omega) / jnp.where(safe, so, 1.0), t)
  return w_a * a + w_b * b


def save_picture(config, spec, samples: np.ndarray, path: str, *, title: str = '',
                 d_curve=None, columns: int | None = None) -> None:
  """A PNG for `samples`: an image grid, or samples plotted over the data for points."""
  samples = np.asarray(samples)
  if spec.kind == 'image':
    plots.save_png(plots.image_grid(samples, columns=columns), path)
  elif spec.shape == (1,):
    plots.plot_1d(samples, path, means=toy.mixture_means(config.data), std=config.data.std,
                  d_curve=d_curve, title=title)
  elif spec.shape == (2,):
    plots.plot_2d(samples, path, means=toy.mixture_means(config.data), std=config.data.std,
                  title=title)
  else:
    raise ValueError(f'no picture for samples of shape {spec.shape}')


def d_curve_1d(config, objective, discriminate, d_params, d_stats):
  """D's output along x for the 1-D figure: a probability for probabilistic objectives."""
  means = toy.mixture_means(config.data).reshape(-1)
  xs = np.linspace(means.min() - 5 * config.data.std - 2, means.max() + 5 * config.data.std + 2,
                   400, dtype=np.float32)
  logits = np.asarray(discriminate(d_params, d_stats, xs[:, None]))
  if objective.probabilistic:
    return xs, 1.0 / (1.0 + np.exp(-logits)), 'D(x)'
  return xs, logits, 'D(x) (critic output)'


def read_png(path: str) -> np.ndarray:
  from PIL import Image
  with Image.open(path) as im:
    return np.asarray(im.convert('RGB'))

