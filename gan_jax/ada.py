"""Adaptive discriminator augmentation (ADA, from "Training Generative Adversarial Networks
with Limited Data", 2020): the augmentations of the official stylegan2-ada pipeline, applied to
every image D sees, and the controller that tunes their probability p from how sure D is of
the real images.

With little data D memorises the training set; augmenting both real and generated images stops
it, and as long as each augmentation is applied with probability p < ~0.8 the generator cannot
learn to produce augmented images ("non-leaking"). Rather than fixing p, ADA watches
r_t = E[sign(D(real))] and nudges p up when r_t exceeds a target (D is overfitting) and down
when it falls below.

Images are NHWC floats in [-1, 1], square, with 1 or 3 channels. The ops, in the order applied,
with the official default magnitudes (`MAGNITUDES`):

- Pixel blitting: xflip (x -> -x, i ~ {0, 1}); rotate90 (k quarter turns, k ~ {0, 1, 2, 3});
  xint (an integer shift of round(t * size) pixels per axis, t ~ U[-0.125, 0.125]).
- General geometry: scale (isotropic, 2^N(0, 0.2^2)); rotate (theta ~ U[-pi, pi], before and
  after aniso, each with probability 1 - sqrt(1 - p) so that either happens with p); aniso
  (x by s, y by 1 / s, s = 2^N(0, 0.2^2)); xfrac (a shift of N(0, 0.125^2) * size per axis).
- Colour, as a 4x4 matrix on homogeneous RGB: brightness (adds N(0, 0.2^2)); contrast (scales
  by 2^N(0, 0.5^2) around 0); lumaflip (a Householder reflection about the luma axis
  (1, 1, 1) / sqrt(3), i ~ {0, 1}); hue (a rotation about that axis by U[-pi, pi]); saturation
  (scales the part orthogonal to it by 2^N(0, 1)). For 1-channel images hue and saturation are
  skipped and the matrix reduces to the mean of its RGB rows, as official.

Each op is switched on for each example independently with probability p (u < p, u ~ U[0, 1)),
so at p = 0 the images come back unchanged and at p = 1 every op draws its parameter (xflip
then still flips only half the images, as official). `PIPELINES` names the official subsets
('blit', 'geom', 'color', 'bg', 'bgc', with 'b', 'g', 'c' for the first three); a tuple of op
names selects any other.

Geometry: the geometric ops compose one 3x3 matrix per example that maps output to input
positions, in pixel-centred coordinates (the image centre at 0, one unit per pixel), and the
image is resampled once. Official upsamples by 2 with a 12-tap wavelet filter, samples with
bilinear `grid_sample`, and filters and downsamples back. Here each output pixel averages 2x2
bilinear samples, taken at +-1/4 pixel, of the nearest-neighbour 2x upsampling of the input:
for pure translations this equals plain bilinear, while scaling down gets a box prefilter
against aliasing, and blits (flips, quarter turns, integer shifts) move whole pixels exactly,
as the official resampling does up to rounding. The border is an endless mirror reflection
without repeating the edge pixel (numpy's 'reflect'); official pads with that reflection by a
margin fitted to the batch and reads zeros beyond it, which only a few extreme
transformations reach. Everything is a gather and a weighted sum: differentiable with respect
to the images, which is what lets the generator train through D's augmented view.

Randomness comes only from one key per example (`steps.example_keys`): op number i in `OPS`
draws from fold_in(key, i), so an example's augmentation depends on its key alone and the op's
draws do not depend on which other ops are in the pipeline. p is an array argument: changing it
does not recompile.

The controller: the family sums sign(D(real logits)) and counts them each step, over all
devices, and calls `update_state`; every `interval` steps p moves by
sign(r_t - target) * batch * interval / (kimg * 1000) (p crosses 0..1 in `kimg` thousand real
images) and the sums restart. Official clips p only at 0; here p is also capped at 1, beyond
which every op is already always on.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gan_jax import steps

# In the order they are applied; an op's index is its fold_in constant.
OPS = ('xflip', 'rotate90', 'xint', 'scale', 'rotate', 'aniso', 'xfrac',
       'brightness', 'contrast', 'lumaflip', 'hue', 'saturation')
GEOMETRIC = OPS[:7]
COLOR = OPS[7:]

# The official defaults: the largest shift relative to the size (xint), the standard deviation
# of log2 of the factor (scale, aniso, contrast, saturation), the largest angle as a fraction of
# half a turn (rotate, hue), the standard deviation relative to the size (xfrac) or in pixel
# values (brightness). The flips and quarter turns have none.
MAGNITUDES = {'xint': 0.125, 'scale': 0.2, 'rotate': 1.0, 'aniso': 0.2, 'xfrac': 0.125,
              'brightness': 0.2, 'contrast': 0.5, 'hue': 1.0, 'saturation': 1.0}

_BLIT = ('xflip', 'rotate90', 'xint')
_GEOM = ('scale', 'rotate', 'aniso', 'xfrac')
PIPELINES = {
    'blit': _BLIT, 'geom': _GEOM, 'color': COLOR,
    'b': _BLIT, 'g': _GEOM, 'c': COLOR,
    'bg': _BLIT + _GEOM,
    'bgc': _BLIT + _GEOM + COLOR,
}

_LUMA = np.array([1.0, 1.0, 1.0, 0.0], np.float32) / np.sqrt(3.0)
_LUMA_OUTER = np.outer(_LUMA, _LUMA)
# cos and sin of k quarter turns, exact.
_QUARTER_COS = np.array([1.0, 0.0, -1.0, 0.0], np.float32)
_QUARTER_SIN = np.array([0.0, 1.0, 0.0, -1.0], np.float32)


def check_pipeline(pipeline: str | Sequence[str]) -> tuple[str, ...]:
  """The ops of a pipeline name in `PIPELINES`, or of a sequence of op names, in `OPS` order."""
  if isinstance(pipeline, str):
    if pipeline not in PIPELINES:
      raise ValueError(f'unknown ADA pipeline {pipeline!r}; choose one of {sorted(PIPELINES)}, '
                       f'or give a tuple of ops from {list(OPS)}')
    return PIPELINES[pipeline]
  unknown = [op for op in pipeline if op not in OPS]
  if unknown:
    raise ValueError(f'unknown ADA ops {unknown}; choose from {list(OPS)}, or a pipeline name '
                     f'from {sorted(PIPELINES)}')
  return tuple(op for op in OPS if op in pipeline)


def _matmul(a, b):
  # Full float32: the matrices of blits must stay exact integers on any backend.
  return jnp.matmul(a, b, precision=lax.Precision.HIGHEST)


def _uniforms(key: jax.Array, op: str, num: int) -> jax.Array:
  """`num` draws from U[0, 1) for one op of one example: its gate first, then its parameters.
  One generator call per op keeps the program small (each call is a separate hash to compile)."""
  return jax.random.uniform(jax.random.fold_in(key, OPS.index(op)), (num,))


def _normal(u: jax.Array) -> jax.Array:
  """A standard normal from a uniform draw, by the inverse CDF (as `jax.random.normal` does)."""
  lowest = np.nextafter(np.float32(-1), np.float32(0))
  return np.sqrt(2).astype(np.float32) * lax.erf_inv(jnp.maximum(2 * u - 1, lowest))


def _switched(gate: jax.Array, probability: jax.Array, value, identity):
  """`value` where this example's op is on (its gate draw < probability), else `identity`."""
  return jnp.where(gate < probability, value, identity)


def _affine(a, b, c, d, tx, ty) -> jax.Array:
  """[[a, b, tx], [c, d, ty], [0, 0, 1]]."""
  zero, one = jnp.zeros(()), jnp.ones(())
  return jnp.stack([jnp.stack([a, b, tx]), jnp.stack([c, d, ty]),
                    jnp.stack([zero, zero, one])]).astype(jnp.float32)


def _rotation(cos, sin) -> jax.Array:
  zero = jnp.zeros(())
  return _affine(cos, -sin, sin, cos, zero, zero)


def _scaling(sx, sy) -> jax.Array:
  zero = jnp.zeros(())
  return _affine(sx, zero, zero, sy, zero, zero)


def _translation(tx, ty) -> jax.Array:
  zero, one = jnp.zeros(()), jnp.ones(())
  return _affine(one, zero, zero, one, tx, ty)


def _geometry(key: jax.Array, p: jax.Array, ops: tuple[str, ...], height: int,
              width: int) -> jax.Array:
  """One example's 3x3 matrix from output to input positions (pixel-centred coordinates)."""
  g = jnp.eye(3, dtype=jnp.float32)
  one = jnp.ones(())
  if 'xflip' in ops:
    u = _uniforms(key, 'xflip', 2)
    flip = _switched(u[0], p, jnp.floor(u[1] * 2), 0.0)
    g = _matmul(g, _scaling(1 - 2 * flip, one))
  if 'rotate90' in ops:
    u = _uniforms(key, 'rotate90', 2)
    quarters = _switched(u[0], p, jnp.floor(u[1] * 4), 0.0).astype(jnp.int32)
    g = _matmul(g, _rotation(jnp.asarray(_QUARTER_COS)[quarters],
                             jnp.asarray(_QUARTER_SIN)[quarters]))
  if 'xint' in ops:
    u = _uniforms(key, 'xint', 3)
    t = _switched(u[0], p, (u[1:] * 2 - 1) * MAGNITUDES['xint'], jnp.zeros(2))
    g = _matmul(g, _translation(-jnp.round(t[0] * width), -jnp.round(t[1] * height)))
  if 'scale' in ops:
    u = _uniforms(key, 'scale', 2)
    s = _switched(u[0], p, jnp.exp2(_normal(u[1]) * MAGNITUDES['scale']), 1.0)
    g = _matmul(g, _scaling(1 / s, 1 / s))
  # Two rotations, each with probability p_rot, so that at least one happens with probability p.
  p_rot = 1 - jnp.sqrt(jnp.clip(1 - p, 0, 1))
  rotate_draws = _uniforms(key, 'rotate', 4)

  def rotate(gate, draw):
    theta = _switched(gate, p_rot, (draw * 2 - 1) * np.pi * MAGNITUDES['rotate'], 0.0)
    return _rotation(jnp.cos(theta), jnp.sin(theta))
  if 'rotate' in ops:
    g = _matmul(g, rotate(rotate_draws[0], rotate_draws[1]))
  if 'aniso' in ops:
    u = _uniforms(key, 'aniso', 2)
    s = _switched(u[0], p, jnp.exp2(_normal(u[1]) * MAGNITUDES['aniso']), 1.0)
    g = _matmul(g, _scaling(1 / s, s))
  if 'rotate' in ops:
    g = _matmul(g, rotate(rotate_draws[2], rotate_draws[3]))
  if 'xfrac' in ops:
    u = _uniforms(key, 'xfrac', 3)
    t = _switched(u[0], p, _normal(u[1:]) * MAGNITUDES['xfrac'], jnp.zeros(2))
    g = _matmul(g, _translation(-t[0] * width, -t[1] * height))
  return g


def _color(key: jax.Array, p: jax.Array, ops: tuple[str, ...]) -> jax.Array:
  """One example's 4x4 matrix on homogeneous RGB (each op multiplies from the left)."""
  c = jnp.eye(4, dtype=jnp.float32)
  eye = jnp.eye(4, dtype=jnp.float32)
  luma_outer = jnp.asarray(_LUMA_OUTER)
  if 'brightness' in ops:
    u = _uniforms(key, 'brightness', 2)
    b = _switched(u[0], p, _normal(u[1]) * MAGNITUDES['brightness'], 0.0)
    c = _matmul(eye.at[:3, 3].set(b), c)
  if 'contrast' in ops:
    u = _uniforms(key, 'contrast', 2)
    s = _switched(u[0], p, jnp.exp2(_normal(u[1]) * MAGNITUDES['contrast']), 1.0)
    c = _matmul(jnp.diag(jnp.stack([s, s, s, jnp.ones(())])), c)
  if 'lumaflip' in ops:
    u = _uniforms(key, 'lumaflip', 2)
    flip = _switched(u[0], p, jnp.floor(u[1] * 2), 0.0)
    c = _matmul(eye - 2 * luma_outer * flip, c)   # a Householder reflection when flip is 1
  if 'hue' in ops:
    u = _uniforms(key, 'hue', 2)
    theta = _switched(u[0], p, (u[1] * 2 - 1) * np.pi * MAGNITUDES['hue'], 0.0)
    vx, vy, vz = (float(v) for v in _LUMA[:3])
    cross = jnp.array([[0, -vz, vy, 0], [vz, 0, -vx, 0], [-vy, vx, 0, 0], [0, 0, 0, 0]],
                      jnp.float32)
    # Rodrigues: the luma component is kept, the plane orthogonal to it turns by theta.
    rotation = jnp.cos(theta) * (eye - luma_outer) + jnp.sin(theta) * cross + luma_outer
    c = _matmul(rotation.at[3, 3].set(1.0), c)
  if 'saturation' in ops:
    u = _uniforms(key, 'saturation', 2)
    s = _switched(u[0], p, jnp.exp2(_normal(u[1]) * MAGNITUDES['saturation']), 1.0)
    c = _matmul(luma_outer + (eye - luma_outer) * s, c)
  return c


def geometric_matrices(keys: jax.Array, p, pipeline: str | Sequence[str], height: int,
                       width: int) -> jax.Array:
  """(N, 3, 3): each example's map from output to input positions, pixel-centred."""
  ops = tuple(op for op in check_pipeline(pipeline) if op in GEOMETRIC)
  p = jnp.asarray(p, jnp.float32)
  return jax.vmap(lambda k: _geometry(k, p, ops, height, width))(keys)


def color_matrices(keys: jax.Array, p, pipeline: str | Sequence[str],
                   channels: int = 3) -> jax.Array:
  """(N, 4, 4): each example's colour transformation (hue and saturation only for RGB)."""
  ops = tuple(op for op in check_pipeline(pipeline)
              if op in COLOR and (channels == 3 or op not in ('hue', 'saturation')))
  p = jnp.asarray(p, jnp.float32)
  return jax.vmap(lambda k: _color(k, p, ops))(keys)


def _reflect(index: jax.Array, size: int) -> jax.Array:
  """Indices mirrored into 0 .. size - 1 without repeating the edge: -1 -> 1, size -> size - 2."""
  if size == 1:
    return jnp.zeros_like(index)
  period = 2 * (size - 1)
  index = jnp.abs(index) % period
  return jnp.minimum(index, period - index)


def _resample(image: jax.Array, g: jax.Array) -> jax.Array:
  """`image` (H, W, C) read at g @ (each output position): 2x2 bilinear samples per output
  pixel from the input's nearest-neighbour 2x upsampling, averaged."""
  h, w, c = image.shape
  quarter = jnp.array([-0.25, 0.25], jnp.float32)
  ys = ((jnp.arange(h, dtype=jnp.float32)[:, None] + quarter).reshape(-1) - (h - 1) / 2)[:, None]
  xs = ((jnp.arange(w, dtype=jnp.float32)[:, None] + quarter).reshape(-1) - (w - 1) / 2)[None]
  source_x = g[0, 0] * xs + g[0, 1] * ys + g[0, 2]
  source_y = g[1, 0] * xs + g[1, 1] * ys + g[1, 2]
  # Positions on the 2x grid, whose sample k is the input's pixel k // 2.
  u = 2 * (source_x + (w - 1) / 2) + 0.5
  v = 2 * (source_y + (h - 1) / 2) + 0.5
  u0, v0 = jnp.floor(u), jnp.floor(v)
  fu, fv = (u - u0)[..., None], (v - v0)[..., None]
  u0, v0 = u0.astype(jnp.int32), v0.astype(jnp.int32)
  cols = [_reflect(jnp.floor_divide(u0 + i, 2), w) for i in (0, 1)]
  rows = [_reflect(jnp.floor_divide(v0 + i, 2), h) for i in (0, 1)]
  flat = image.reshape(h * w, c)
  tap = lambda row, col: flat[row * w + col]
  top = tap(rows[0], cols[0]) * (1 - fu) + tap(rows[0], cols[1]) * fu
  bottom = tap(rows[1], cols[0]) * (1 - fu) + tap(rows[1], cols[1]) * fu
  fine = (top * (1 - fv) + bottom * fv).reshape(h, 2, w, 2, c)
  # Summed in pairs so that four equal samples average to exactly that value.
  return ((fine[:, 0, :, 0] + fine[:, 0, :, 1]) + (fine[:, 1, :, 0] + fine[:, 1, :, 1])) * 0.25


def _recolor(image: jax.Array, c: jax.Array) -> jax.Array:
  if image.shape[-1] == 3:
    return jnp.einsum('hwk,ck->hwc', image, c[:3, :3], precision=lax.Precision.HIGHEST) + c[:3, 3]
  rows = jnp.mean(c[:3], axis=0)   # grayscale: the mean of the RGB rows
  return image * jnp.sum(rows[:3]) + rows[3]


def augment(images: jax.Array, keys: jax.Array, p, pipeline: str | Sequence[str] = 'bgc'
            ) -> jax.Array:
  """`images` (N, H, W, C) with each op of `pipeline` switched on per example with probability
  `p`, example i drawing from `keys[i]` (typed keys (N,) or raw (N, 2)). Keeps the dtype."""
  ops = check_pipeline(pipeline)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f'ADA takes NHWC images with 1 or 3 channels; got shape {images.shape}')
  n, h, w, channels = images.shape
  if keys.shape[0] != n:
    raise ValueError(f'{keys.shape[0]} keys for {n} images')
  x = images.astype(jnp.promote_types(images.dtype, jnp.float32))
  if any(op in GEOMETRIC for op in ops):
    x = jax.vmap(_resample)(x, geometric_matrices(keys, p, ops, h, w))
  color_ops = tuple(op for op in ops
                    if op in COLOR and (channels == 3 or op not in ('hue', 'saturation')))
  if color_ops:
    x = jax.vmap(_recolor)(x, color_matrices(keys, p, color_ops, channels))
  return x.astype(images.dtype)


def augment_batch(images: jax.Array, key: jax.Array, p, pipeline: str | Sequence[str],
                  axis_name: str) -> jax.Array:
  """`augment` of this device's share of the batch inside `shard_map`: each example draws from
  the key of its index in the global batch."""
  return augment(images, steps.example_keys(key, images.shape[0], axis_name), p, pipeline)


# The controller.

def init_state(p: float = 0.0) -> dict[str, jax.Array]:
  """The controller's state, to keep in the training state: p and the running sums of
  sign(D(real)) and of their count since p last moved."""
  return {'p': jnp.asarray(p, jnp.float32), 'sign_sum': jnp.zeros((), jnp.float32),
          'count': jnp.zeros((), jnp.float32)}


def real_sign_stats(real_logits: jax.Array, axis_name: str | None = None
                    ) -> tuple[jax.Array, jax.Array]:
  """(sum of sign(real logits), their count), summed over `axis_name`'s devices if given."""
  total = jnp.sum(jnp.sign(real_logits.astype(jnp.float32)))
  count = jnp.asarray(real_logits.size, jnp.float32)
  if axis_name is not None:
    total, count = lax.psum((total, count), axis_name)
  return total, count


def adjust_p(p, sign_sum, count, *, target: float = 0.6, batch_size: int, interval: int,
             kimg: float = 500) -> jax.Array:
  """p moved by sign(r_t - target) * batch_size * interval / (kimg * 1000), r_t =
  sign_sum / count, clipped to [0, 1]; unchanged when count is 0. `batch_size` counts the
  real images of one step and `interval` the steps since p last moved."""
  p = jnp.asarray(p, jnp.float32)
  count = jnp.asarray(count, jnp.float32)
  r_t = jnp.asarray(sign_sum, jnp.float32) / jnp.maximum(count, 1)
  moved = p + jnp.sign(r_t - target) * (batch_size * interval / (kimg * 1000))
  return jnp.where(count > 0, jnp.clip(moved, 0.0, 1.0), p)


def update_state(state: dict, sign_sum, count, step, *, interval: int, batch_size: int,
                 target: float = 0.6, kimg: float = 500) -> dict[str, jax.Array]:
  """Adds one step's `sign_sum` and `count` (summed over every device, e.g. by
  `real_sign_stats`) to the running sums; after every `interval`-th step p moves by
  `adjust_p` and the sums restart. `step` numbers the step being taken, 0 for the first (the
  training state's step at its start), so p first moves after `interval` steps, as official;
  it may be traced."""
  sign_sum = state['sign_sum'] + jnp.asarray(sign_sum, jnp.float32)
  count = state['count'] + jnp.asarray(count, jnp.float32)
  due = (step + 1) % interval == 0
  p = jnp.where(due, adjust_p(state['p'], sign_sum, count, target=target,
                              batch_size=batch_size, interval=interval, kimg=kimg), state['p'])
  zero = jnp.zeros((), jnp.float32)
  return {'p': p, 'sign_sum': jnp.where(due, zero, sign_sum),
          'count': jnp.where(due, zero, count)}
