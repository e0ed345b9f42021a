"""Pictures: image grids as PNG, 1-D and 2-D sample plots over the data, loss curves.

matplotlib is imported lazily with the Agg backend, so no display is ever needed.
"""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image

from gan_jax import files
from gan_jax.data import convert


def _pyplot():
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  return plt


to_uint8 = convert.to_uint8


def image_grid(images: np.ndarray, columns: int | None = None, pad: int = 1) -> np.ndarray:
  """(N, H, W, C) images in [-1, 1] -> one (rows*(H+pad)+pad, ..., 3) uint8 grid."""
  images = to_uint8(images)
  if images.shape[-1] == 1:
    images = np.repeat(images, 3, axis=-1)
  n, h, w, c = images.shape
  columns = columns or int(math.ceil(math.sqrt(n)))
  rows = int(math.ceil(n / columns))
  grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255, np.uint8)
  for i, img in enumerate(images):
    r, col = divmod(i, columns)
    grid[pad + r * (h + pad):pad + r * (h + pad) + h,
         pad + col * (w + pad):pad + col * (w + pad) + w] = img
  return grid


def _write_atomically(path: str, write) -> None:
  """`write(file)` into a new file at `path`, atomically (a reader never sees half a picture)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  files.write_atomically(path, write)


def save_png(array: np.ndarray, path: str) -> None:
  _write_atomically(path, lambda tmp: Image.fromarray(array).save(tmp, format='PNG'))


def _save_figure(fig, path):
  _write_atomically(path, lambda tmp: fig.savefig(tmp, format='png', dpi=100,
                                                  bbox_inches='tight'))
  _pyplot().close(fig)


def plot_1d(samples, path, *, means, std, d_curve=None, title=''):
  """Samples (N, 1) as a histogram over the data density; D's output along x if given.

  `d_curve` is (xs, values, label), e.g. D(x) as a probability, which approaches 1/2 where the
  generator has matched the data (Goodfellow et al. 2014, figure 1).
  """
  plt = _pyplot()
  samples = np.asarray(samples).reshape(-1)
  centres = np.asarray(means).reshape(-1)
  lo = min(centres.min() - 5 * std, np.percentile(samples, 0.5))
  hi = max(centres.max() + 5 * std, np.percentile(samples, 99.5))
  xs = np.linspace(lo, hi, 400)
  density = np.mean([np.exp(-0.5 * ((xs - m) / std) ** 2) for m in centres], axis=0)
  density /= std * np.sqrt(2 * np.pi)
  fig, ax = plt.subplots(figsize=(6, 4))
  ax.plot(xs, density, color='black', label='data density')
  ax.hist(samples, bins=60, range=(lo, hi), density=True, color='green', alpha=0.5,
          label='generated samples')
  if d_curve is not None:
    d_xs, d_values, label = d_curve
    ax.plot(d_xs, d_values, color='blue', linestyle='--', label=label)
    ax.axhline(0.5, color='blue', linewidth=0.5, alpha=0.4)
  ax.set_xlim(lo, hi)
  ax.set_title(title)
  ax.legend(loc='upper right', fontsize=8)
  _save_figure(fig, path)


def plot_2d(samples, path, *, means, std, data=None, title=''):
  """Samples over the data (or the mixture's means and 3-sigma circles)."""
  plt = _pyplot()
  samples = np.asarray(samples)
  means = np.asarray(means)
  fig, ax = plt.subplots(figsize=(5, 5))
  if data is not None:
    ax.scatter(data[:, 0], data[:, 1], s=2, color='black', alpha=0.3, label='data')
  for m in means:
    ax.add_patch(plt.Circle(m, 3 * std, fill=False, color='black', linewidth=0.8))
  ax.scatter(samples[:, 0], samples[:, 1], s=3, color='green', alpha=0.5, label='generated')
  span = np.abs(means).max() + 1.0
  ax.set_xlim(-span, span)
  ax.set_ylim(-span, span)
  ax.set_aspect('equal')
  ax.set_title(title)
  ax.legend(loc='upper right', fontsize=8)
  _save_figure(fig, path)


def plot_losses(records: list[dict], path: str) -> None:
  """Loss curves from metrics.jsonl records (the last record of each step wins)."""
  plt = _pyplot()
  by_step = {}
  for r in records:
    by_step[r['step']] = r
  steps = sorted(by_step)
  fig, ax = plt.subplots(figsize=(7, 4))
  for key in ('d_loss', 'g_loss'):
    values = [by_step[s].get(key, np.nan) for s in steps]
    ax.plot(steps, values, label=key)
  ax.set_xlabel('step')
  ax.set_ylabel('loss')
  ax.legend()
  ax.grid(alpha=0.3)
  _save_figure(fig, path)
