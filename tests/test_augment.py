"""DiffAugment: each policy's effect computed by hand from its draws, gradients, per-example
keys, and the same augmentation of a global batch on 1 and 8 devices."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from gan_jax import augment, parallel

H, W, C = 16, 24, 3   # not square, so rows and columns cannot be swapped unnoticed
ALL = augment.POLICIES
SINGLE = [(p,) for p in ALL]

_augment = jax.jit(augment.augment, static_argnums=2)
_offsets = jax.jit(augment.translation_offsets, static_argnums=(1, 2))
_corners = jax.jit(augment.cutout_boxes, static_argnums=(1, 2))


def _images(n=8, seed=0, low=-1.0, high=1.0):
  return jnp.asarray(np.random.default_rng(seed).uniform(low, high, (n, H, W, C)), jnp.float32)


def _keys(n=8, seed=0):
  return jax.random.split(jax.random.key(seed), n)


def _translated(images, offsets):
  """numpy: each image rolled by its offsets, with the pixels that wrapped around set to 0."""
  out = np.zeros_like(images)
  for i, (dy, dx) in enumerate(offsets):
    out[i] = np.roll(images[i], (dy, dx), axis=(0, 1)) * _valid(images.shape[1:3], dy, dx)
  return out


def _valid(hw, dy, dx):
  """(H, W, 1): output positions whose source pixel (y - dy, x - dx) lies in the image."""
  rows = np.arange(hw[0]) - dy
  cols = np.arange(hw[1]) - dx
  ok = ((rows >= 0) & (rows < hw[0]))[:, None] & ((cols >= 0) & (cols < hw[1]))[None, :]
  return ok[..., None].astype(np.float32)


def _cutout_mask(corners, hw=(H, W)):
  """numpy (B, H, W, 1): 1 inside each image's (clipped) cutout box."""
  size_h, size_w = augment.cutout_size(*hw)
  mask = np.zeros((len(corners), *hw, 1), np.float32)
  for i, (top, left) in enumerate(corners):
    mask[i, max(top, 0):max(top + size_h, 0), max(left, 0):max(left + size_w, 0)] = 1
  return mask


@pytest.mark.parametrize('policy,dtype', [(p, jnp.float32) for p in SINGLE + [ALL]]
                         + [(ALL, jnp.bfloat16)], ids=lambda p: '+'.join(p) if isinstance(
                             p, tuple) else jnp.dtype(p).name)
def test_shape_dtype_kept_and_every_example_changed(policy, dtype):
  x = _images().astype(dtype)
  y = _augment(x, _keys(), policy)
  assert y.shape == x.shape and y.dtype == x.dtype
  changed = np.abs(np.asarray(y, np.float32) - np.asarray(x, np.float32)).reshape(8, -1).max(1)
  # Translation may draw (0, 0) for an example; the others change every example.
  assert (changed > 1e-3).sum() >= (6 if policy == ('translation',) else 8)
  assert augment.augment(x, _keys(), ()) is x


@pytest.mark.parametrize('policy', SINGLE + [ALL], ids=lambda p: '+'.join(p))
def test_gradients_are_finite_and_nonzero(policy):
  x, w = _images(seed=1), _images(seed=2)
  grad = jax.jit(jax.grad(lambda x: jnp.sum(augment.augment(x, _keys(), policy) * w)))(x)
  grad = np.asarray(grad)
  assert np.isfinite(grad).all()
  assert (np.abs(grad).reshape(8, -1).max(1) > 0).all()


def test_translation_gradient_is_the_weight_at_the_moved_position_and_zero_where_cut_off():
  x, w = _images(seed=1), _images(seed=2)
  keys = _keys()
  offsets = np.asarray(_offsets(keys, H, W))
  assert (np.abs(offsets).sum(1) > 0).sum() >= 6
  grad = np.asarray(jax.jit(jax.grad(lambda x: jnp.sum(
      augment.augment(x, keys, ('translation',)) * w)))(x))
  w = np.asarray(w)
  for i, (dy, dx) in enumerate(offsets):
    mask = _valid((H, W), dy, dx)
    # d/dx[z] of sum(out * w) = w[z + d] where z + d is in the image, else exactly 0.
    expected = np.roll(w[i] * mask, (-dy, -dx), axis=(0, 1))
    np.testing.assert_array_equal(grad[i], expected)
    cut = np.roll(mask, (-dy, -dx), axis=(0, 1)) == 0   # input pixels shifted out
    assert cut.sum() == (H * W - (H - abs(dy)) * (W - abs(dx)))
    assert (grad[i][np.broadcast_to(cut, grad[i].shape)] == 0).all()


def test_translation_matches_roll_with_zero_padding_and_moves_a_bright_pixel():
  keys = _keys(seed=3)
  offsets = np.asarray(_offsets(keys, H, W))
  x = _images(seed=4)
  np.testing.assert_array_equal(np.asarray(_augment(x, keys, ('translation',))),
                                _translated(np.asarray(x), offsets))
  # One bright pixel per image lands exactly at its position plus the drawn offsets.
  dot = np.zeros((8, H, W, C), np.float32)
  dot[:, 7, 11, :] = 1.0
  moved = np.asarray(_augment(jnp.asarray(dot), keys, ('translation',)))
  for i, (dy, dx) in enumerate(offsets):
    assert np.argwhere(moved[i, :, :, 0] == 1).tolist() == [[7 + dy, 11 + dx]]
    assert moved[i].sum() == C


def test_translation_offsets_cover_minus_s_to_s():
  sy, sx = augment.max_shift(H, W)
  assert (sy, sx) == (2, 3)
  assert augment.max_shift(32, 32) == (4, 4)
  offsets = np.asarray(_offsets(_keys(2000), H, W))
  assert sorted(set(offsets[:, 0])) == list(range(-sy, sy + 1))
  assert sorted(set(offsets[:, 1])) == list(range(-sx, sx + 1))
  assert not (offsets[:, 0] == offsets[:, 1]).all()   # rows and columns draw separately


def test_color_is_brightness_then_saturation_then_contrast_with_per_image_draws():
  keys = _keys(seed=5)
  x = _images(seed=6)
  b, s, c = (np.asarray(r, np.float64)[:, None, None, None] for r in augment.color_factors(keys))
  assert all(((r >= 0) & (r < 1)).all() for r in (b, s, c))
  assert len(set(b.ravel())) == 8   # a draw per image
  assert not np.allclose(b, s) and not np.allclose(s, c)   # a draw per quantity
  e = np.asarray(x, np.float64) + (b - 0.5)
  m = e.mean(axis=3, keepdims=True)
  e = (e - m) * (2 * s) + m
  m = e.mean(axis=(1, 2, 3), keepdims=True)
  e = (e - m) * (c + 0.5) + m
  np.testing.assert_allclose(np.asarray(_augment(x, keys, ('color',))), e, rtol=1e-5, atol=1e-5)


def test_cutout_zeroes_exactly_the_clipped_box_and_nothing_else():
  keys = _keys(seed=7)
  x = _images(seed=8, low=0.1, high=1.0)   # no zeros of its own
  corners = np.asarray(_corners(keys, H, W))
  mask = _cutout_mask(corners)
  y = np.asarray(_augment(x, keys, ('cutout',)))
  np.testing.assert_array_equal(y, np.asarray(x) * (1 - mask))
  size_h, size_w = augment.cutout_size(H, W)
  assert (size_h, size_w) == (8, 12)
  areas = mask[..., 0].sum(axis=(1, 2))
  expected = [(min(t + size_h, H) - max(t, 0)) * (min(l + size_w, W) - max(l, 0))
              for t, l in corners]
  np.testing.assert_array_equal(areas, expected)
  assert (areas > 0).all() and (areas < size_h * size_w).any()   # some boxes clipped


def test_cutout_centres_are_uniform_over_the_reference_range():
  h, w = 16, 9
  size_h, size_w = augment.cutout_size(h, w)
  assert (size_h, size_w) == (8, 5)   # an even and an odd box side
  corners = np.asarray(_corners(_keys(2000), h, w))
  centres_y = corners[:, 0] + size_h // 2
  centres_x = corners[:, 1] + size_w // 2
  assert sorted(set(centres_y)) == list(range(h + 1))
  assert sorted(set(centres_x)) == list(range(w))


def test_all_policies_apply_in_canonical_order():
  keys = _keys(seed=9)
  x = _images(seed=10)
  y = np.asarray(_augment(x, keys, ALL))
  # Cutout comes last: its box is exactly 0 after colour and translation.
  mask = _cutout_mask(np.asarray(_corners(keys, H, W)))
  assert (y[np.broadcast_to(mask, y.shape) == 1] == 0).all()
  # ... which is colour, then translation, then cutout, whatever order the tuple gives.
  step = x
  for name in ALL:
    step = _augment(step, keys, (name,))
  np.testing.assert_array_equal(y, np.asarray(step))
  np.testing.assert_array_equal(y, np.asarray(_augment(x, keys, ('cutout', 'translation',
                                                                 'color'))))


# Colour's means may be summed in another order for another batch shape or split: the same up
# to float32 rounding. Translation's and cutout's integer draws leave no room for rounding.
_same = lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)


def test_draws_follow_each_examples_key_only():
  x, keys = _images(seed=11), _keys(seed=12)
  y = np.asarray(_augment(x, keys, ALL))
  np.testing.assert_array_equal(y, np.asarray(_augment(x, keys, ALL)))
  other = np.asarray(_augment(x, _keys(seed=13), ALL))
  assert (np.abs(other - y).reshape(8, -1).max(1) > 1e-3).all()
  # Example 3 alone, and example 3 at another place in another batch, get the same result.
  _same(np.asarray(_augment(x[3:4], keys[3:4], ALL)), y[3:4])
  mixed_x = _images(seed=14).at[5].set(x[3])
  mixed_keys = _keys(seed=15).at[5].set(keys[3])
  mixed = np.asarray(_augment(mixed_x, mixed_keys, ALL))
  _same(mixed[5], y[3])
  np.testing.assert_array_equal(mixed[5] == 0, y[3] == 0)   # the same pixels cut off


def test_one_device_equals_eight():
  x = _images(n=16, seed=16)
  key = jax.random.PRNGKey(17)
  results = []
  for devices in (jax.devices()[:1], jax.devices()[:8]):
    fn = jax.jit(jax.shard_map(
        lambda x, key: augment.augment_batch(x, key, ALL, parallel.AXIS),
        mesh=parallel.make_mesh(devices), in_specs=(P(parallel.AXIS), P()),
        out_specs=P(parallel.AXIS), check_vma=False))
    results.append(np.asarray(fn(x, key)))
  one, eight = results
  _same(one, eight)
  np.testing.assert_array_equal(one == 0, eight == 0)   # the same pixels cut off
  assert (np.abs(eight - np.asarray(x)).reshape(16, -1).max(1) > 0.1).all()


def test_parse():
  assert augment.parse('') == ()
  assert augment.parse('cutout,translation') == ('translation', 'cutout')
  assert augment.parse('cutout, color ,translation') == ALL
  assert augment.parse('color') == ('color',)
  with pytest.raises(ValueError, match=r"'colour'.*train\.augment.*'color', 'translation', "
                                       r"'cutout'"):
    augment.parse('colour,cutout')
  with pytest.raises(ValueError, match=r"'cutout' more than once.*'color', 'translation', "
                                       r"'cutout'"):
    augment.parse('cutout,color,cutout')
  with pytest.raises(ValueError, match='flip'):
    augment.augment(_images(), _keys(), ('flip',))
