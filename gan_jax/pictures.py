"""Pictures of samples: an image grid, or for 1-D and 2-D points a plot over the data's density
(1-D with the discriminator's output curve). Used by the trainer's periodic samples and by the
`gan_jax.sample` command."""

from __future__ import annotations

import numpy as np

from gan_jax import plots
from gan_jax.data import toy

NUM_POINTS = 2500  # points per 1-D / 2-D plot: the VEEGAN / PacGAN evaluation sample size


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


def d_curve_1d(config, objective, discriminate):
  """D's output along x for the 1-D figure (`discriminate` maps (n, 1) points to logits): a
  probability for probabilistic objectives."""
  means = toy.mixture_means(config.data).reshape(-1)
  xs = np.linspace(means.min() - 5 * config.data.std - 2, means.max() + 5 * config.data.std + 2,
                   400, dtype=np.float32)
  logits = np.asarray(discriminate(xs[:, None]))
  if objective.probabilistic:
    return xs, 1.0 / (1.0 + np.exp(-logits)), 'D(x)'
  return xs, logits, 'D(x) (critic output)'


def read_png(path: str) -> np.ndarray:
  from PIL import Image
  with Image.open(path) as im:
    return np.asarray(im.convert('RGB'))
