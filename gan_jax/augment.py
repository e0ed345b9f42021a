"""DiffAugment (Zhao et al. 2020): differentiable augmentations applied to every image the
discriminator sees, real and generated alike, so that D cannot overfit a small dataset.

Images are NHWC floats in [-1, 1]. The three policies follow the reference implementation:

- 'color': brightness x + (r - 0.5); saturation (x - m) * 2r + m with m each pixel's mean over
  channels; contrast (x - m) * (r + 0.5) + m with m the image's mean; a fresh r ~ U[0, 1) per
  image for each, applied in that order.
- 'translation': each image moves by integer offsets (dy, dx) drawn uniformly from -s..s, with
  s = int(H / 8 + 0.5) for rows and int(W / 8 + 0.5) for columns; pixels shifted in from
  outside are 0 (zero padding). Here the content moves by the offset, out[i] = in[i - t], where
  the reference reads in[i + t]; the offsets are symmetric, so the distribution is the same.
- 'cutout': a box of int(H / 2 + 0.5) x int(W / 2 + 0.5) pixels is set to 0. Its centre is
  drawn uniformly from 0 .. H - (size % 2) (columns alike) and it covers rows
  centre - size // 2 .. centre - size // 2 + size - 1, clipped to the image, so it may lie
  partly outside.

Everything is a static-shape gather or mask, differentiable with respect to the images.
Randomness comes only from one key per example (`steps.example_keys`, by the example's index in
the global batch), folded with a distinct constant for each random quantity, so an example's
augmentation depends on its key alone: not on the rest of its batch nor on the device count.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax import steps

POLICIES = ('color', 'translation', 'cutout')   # in the order they are applied

# fold_in constants: one per random quantity.
_BRIGHTNESS, _SATURATION, _CONTRAST = 0, 1, 2
_SHIFT_Y, _SHIFT_X = 3, 4
_CUTOUT_Y, _CUTOUT_X = 5, 6

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse(policy: str) -> tuple[str, ...]:
  """'translation,cutout' -> ('translation', 'cutout'), in POLICIES order; '' -> ()."""
  names = [name.strip() for name in policy.split(',') if name.strip()]
  for name in names:
    if name not in POLICIES:
      raise ValueError(f'unknown policy {name!r} in train.augment={policy!r}; choose a '
                       f"comma-separated subset of {list(POLICIES)}, or '' for none")
    if names.count(name) > 1:
      raise ValueError(f'train.augment={policy!r} names {name!r} more than once; choose a '
                       f"comma-separated subset of {list(POLICIES)}, or '' for none")
  return tuple(p for p in POLICIES if p in names)


def _draw(keys: jax.Array, purpose: int, sample):
  """One draw per example: `sample(key)` of each example's key folded with `purpose`."""
  return jax.vmap(lambda k: sample(jax.random.fold_in(k, purpose)))(keys)


def _integer(key: jax.Array, low: int, high: int) -> jax.Array:
  """An integer in low .. high - 1: 32 random bits modulo the range, uniform up to a bias below
  (high - low) / 2**32, and much quicker to compile than `jax.random.randint`."""
  bits = jax.random.bits(key, (), jnp.uint32)
  return (bits % jnp.uint32(high - low)).astype(jnp.int32) + low


def color_factors(keys: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """The brightness, saturation and contrast draws r ~ U[0, 1), each (B,)."""
  return tuple(_draw(keys, purpose, jax.random.uniform)
               for purpose in (_BRIGHTNESS, _SATURATION, _CONTRAST))


def max_shift(h: int, w: int) -> tuple[int, int]:
  """The largest translation, in rows and columns."""
  return int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)


def translation_offsets(keys: jax.Array, h: int, w: int) -> jax.Array:
  """(B, 2) int32 offsets (dy, dx) by which each image's content moves."""
  sy, sx = max_shift(h, w)
  dy = _draw(keys, _SHIFT_Y, lambda k: _integer(k, -sy, sy + 1))
  dx = _draw(keys, _SHIFT_X, lambda k: _integer(k, -sx, sx + 1))
  return jnp.stack([dy, dx], axis=-1).astype(jnp.int32)


def cutout_size(h: int, w: int) -> tuple[int, int]:
  return int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)


def cutout_boxes(keys: jax.Array, h: int, w: int) -> jax.Array:
  """(B, 2) int32 top-left corners (top, left) of each image's cutout box before clipping; the
  box is `cutout_size(h, w)` and may start above or left of the image."""
  size_h, size_w = cutout_size(h, w)
  cy = _draw(keys, _CUTOUT_Y, lambda k: _integer(k, 0, h + 1 - size_h % 2))
  cx = _draw(keys, _CUTOUT_X, lambda k: _integer(k, 0, w + 1 - size_w % 2))
  return jnp.stack([cy - size_h // 2, cx - size_w // 2], axis=-1).astype(jnp.int32)


def _color(x: jax.Array, keys: jax.Array) -> jax.Array:
  brightness, saturation, contrast = color_factors(keys)
  per_image = lambda r: r.reshape(-1, 1, 1, 1)
  y = x.astype(jnp.promote_types(x.dtype, jnp.float32))
  y = y + (per_image(brightness) - 0.5)
  mean = jnp.mean(y, axis=3, keepdims=True)
  y = (y - mean) * (per_image(saturation) * 2.0) + mean
  mean = jnp.mean(y, axis=(1, 2, 3), keepdims=True)
  y = (y - mean) * (per_image(contrast) + 0.5) + mean
  return y.astype(x.dtype)


def _translation(x: jax.Array, keys: jax.Array) -> jax.Array:
  _, h, w, _ = x.shape
  offsets = translation_offsets(keys, h, w)

  def one(image, offset):
    rows = jnp.arange(h) - offset[0]   # the input row each output row reads
    cols = jnp.arange(w) - offset[1]
    valid = (((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :])
    moved = image[jnp.clip(rows, 0, h - 1)][:, jnp.clip(cols, 0, w - 1)]
    return jnp.where(valid[..., None], moved, jnp.zeros_like(moved))
  return jax.vmap(one)(x, offsets)


def _cutout(x: jax.Array, keys: jax.Array) -> jax.Array:
  _, h, w, _ = x.shape
  size_h, size_w = cutout_size(h, w)
  corners = cutout_boxes(keys, h, w)

  def one(image, corner):
    rows, cols = jnp.arange(h), jnp.arange(w)
    inside = (((rows >= corner[0]) & (rows < corner[0] + size_h))[:, None]
              & ((cols >= corner[1]) & (cols < corner[1] + size_w))[None, :])
    return jnp.where(inside[..., None], jnp.zeros_like(image), image)
  return jax.vmap(one)(x, corners)


_APPLY = {'color': _color, 'translation': _translation, 'cutout': _cutout}


def augment(x: jax.Array, keys: jax.Array, policy: tuple[str, ...]) -> jax.Array:
  """`x` (B, H, W, C) augmented by each of `policy` in POLICIES order, example i drawing from
  `keys[i]`; () returns `x` unchanged. Keeps x's dtype."""
  unknown = [p for p in policy if p not in POLICIES]
  if unknown:
    raise ValueError(f'unknown augmentation policies {unknown}; choose from {list(POLICIES)}')
  if x.ndim != 4:
    raise ValueError(f'augment takes NHWC images; got shape {x.shape}')
  for name in POLICIES:
    if name in policy:
      x = _APPLY[name](x, keys)
  return x


def augment_batch(x: jax.Array, key: jax.Array, policy: tuple[str, ...],
                  axis_name: str) -> jax.Array:
  """`augment` of this device's share of the batch inside `shard_map`: each example draws from
  the key of its index in the global batch."""
  if not policy:
    return x
  return augment(x, steps.example_keys(key, x.shape[0], axis_name), policy)
