"""Pictures: image grids as PNG, 1-D and 2-D sample plots over the data, loss curves, the
truncation trick's trade-off curve.

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


FRECHET_METRICS = ('fid', 'domain_fd', 'intra_fd')  # the distance a truncation curve plots


def truncation_axes(rows: list[dict]) -> tuple[str, str]:
  """(x, y) of a truncation sweep's curve: x class_accuracy when the rows have it, else the
  threshold; y the first Fréchet distance among FRECHET_METRICS they have, else their first
  metric."""
  names = [k for k in rows[0] if k != 'truncation']
  if not names:
    raise ValueError('a truncation sweep without metrics has no curve')
  y = next((n for n in FRECHET_METRICS if n in names), names[0])
  x = 'class_accuracy' if 'class_accuracy' in names and y != 'class_accuracy' else 'truncation'
  return x, y


def plot_truncation_sweep(rows: list[dict], path: str, *, title: str = '') -> None:
  """The truncation trick's trade-off (BigGAN, Brock et al. 2019): one point per row of
  {'truncation': t or None, <metric>: value, ...}, annotated with its threshold ('none' for
  no truncation). Axes as `truncation_axes`; on the threshold axis 'none' sits to the right
  of the largest threshold."""
  plt = _pyplot()
  x_key, y_key = truncation_axes(rows)
  thresholds = [r['truncation'] for r in rows if r['truncation'] is not None]
  beyond = 1.25 * max(thresholds) if thresholds else 1.0  # where 'none' goes on a t axis
  points = []  # (x, y, label, untruncated), in order of threshold: the curve's path
  for r in sorted(rows, key=lambda r: math.inf if r['truncation'] is None else r['truncation']):
    t = r['truncation']
    x = (beyond if t is None else t) if x_key == 'truncation' else r[x_key]
    points.append((x, r[y_key], 'none' if t is None else f'{t:g}', t is None))
  fig, ax = plt.subplots(figsize=(6, 4))
  curve = [p for p in points if not p[3]]
  ax.plot([p[0] for p in curve], [p[1] for p in curve], marker='o', color='tab:blue',
          label='truncated at t')
  for x, y, label, untruncated in points:
    if untruncated:
      ax.scatter([x], [y], marker='s', color='tab:red', zorder=3, label='no truncation')
    ax.annotate(label, (x, y), textcoords='offset points', xytext=(4, 4), fontsize=8)
  ax.set_xlabel('truncation threshold t' if x_key == 'truncation' else x_key)
  ax.set_ylabel(y_key + (' (lower is better)' if y_key in FRECHET_METRICS else ''))
  ax.set_title(title or 'truncation trade-off')
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  _save_figure(fig, path)
