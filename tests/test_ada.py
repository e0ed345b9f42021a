"""ADA: identity at p = 0, blits as exact pixel moves, each colour op's closed form, gradients,
per-example keys, the probability of each op, one device against eight, and the p controller
against the official formula."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, PartitionSpec as P

from gan_jax import ada

S = 16   # image side; the largest integer shift is round(0.125 * 16) = 2

_augment = jax.jit(ada.augment, static_argnums=3)


def _images(n=8, channels=3, seed=0, side=S):
  return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (n, side, side, channels)),
                     jnp.float32)


def _keys(n=8, seed=0):
  return jax.random.split(jax.random.key(seed), n)


def _luma_chroma(images):
  luma = images.mean(-1, keepdims=True)
  return luma, images - luma


@pytest.mark.parametrize('channels', [3, 1])
def test_p_zero_returns_the_images_unchanged(channels):
  x = _images(channels=channels)
  np.testing.assert_array_equal(np.asarray(_augment(x, _keys(), 0.0, 'bgc')), np.asarray(x))


def test_p_is_traced_and_does_not_recompile():
  traces = []

  def fn(x, keys, p):
    traces.append(1)
    return ada.augment(x, keys, p, ('xflip', 'brightness'))
  jitted = jax.jit(fn)
  x = _images()
  outputs = [np.asarray(jitted(x, _keys(), jnp.float32(p))) for p in (0.0, 0.3, 1.0)]
  assert len(traces) == 1
  np.testing.assert_array_equal(outputs[0], np.asarray(x))
  assert np.abs(outputs[2] - np.asarray(x)).max() > 0.01


def test_xflip_at_p_one_flips_exactly_half_of_the_images_on_average():
  # As official, a switched-on xflip draws whether to flip: each image is itself or its mirror.
  x = np.asarray(_images(n=32))
  y = np.asarray(_augment(jnp.asarray(x), _keys(32), 1.0, ('xflip',)))
  flipped = [np.array_equal(y[i], x[i, :, ::-1]) for i in range(32)]
  kept = [np.array_equal(y[i], x[i]) for i in range(32)]
  assert all(f or k for f, k in zip(flipped, kept))
  assert 6 <= sum(flipped) <= 26


def test_rotate90_gives_one_of_the_four_exact_rotations():
  x = np.asarray(_images(n=16))
  y = np.asarray(_augment(jnp.asarray(x), _keys(16), 1.0, ('rotate90',)))
  turns = []
  for i in range(16):
    matches = [k for k in range(4) if np.array_equal(y[i], np.rot90(x[i], k, axes=(0, 1)))]
    assert len(matches) == 1, i
    turns.append(matches[0])
  assert len(set(turns)) >= 3


def test_xint_is_an_exact_integer_shift_with_reflection_at_the_border():
  x = np.asarray(_images(n=16))
  y = np.asarray(_augment(jnp.asarray(x), _keys(16), 1.0, ('xint',)))
  m = 2
  shifts = []
  for i in range(16):
    padded = np.pad(x[i], ((m, m), (m, m), (0, 0)), mode='reflect')
    matches = [(dy, dx) for dy in range(-m, m + 1) for dx in range(-m, m + 1)
               if np.array_equal(y[i], padded[m - dy:m - dy + S, m - dx:m - dx + S])]
    assert len(matches) == 1, i
    shifts.append(matches[0])
  assert sum(dy != 0 and dx != 0 for dy, dx in shifts) >= 4


def test_blits_together_only_move_pixels():
  x = np.asarray(_images(n=8))
  y = np.asarray(_augment(jnp.asarray(x), _keys(8), 1.0, 'blit'))
  for i in range(8):
    assert np.isin(y[i], x[i]).all()
  assert np.abs(y - x).max() > 0.5


def test_general_geometry_reflects_at_the_border_and_keeps_a_constant_image():
  constant = jnp.full((8, S, S, 3), 0.3, jnp.float32)
  np.testing.assert_allclose(np.asarray(_augment(constant, _keys(8), 1.0, 'bg')), 0.3,
                             atol=1e-5)
  x = _images()
  y = np.asarray(_augment(x, _keys(8), 1.0, 'geom'))
  assert (np.abs(y - np.asarray(x)).reshape(8, -1).max(1) > 0.1).all()
  assert y.min() >= -1 - 1e-5 and y.max() <= 1 + 1e-5   # an average of input pixels


def test_a_fractional_shift_is_bilinear_with_mirror_reflection():
  from scipy import ndimage
  x = np.asarray(_images(n=1, seed=10))[0]
  tx, ty = 0.3, -1.7   # the content moves right by tx and up by 1.7 pixels
  to_input = jnp.array([[1, 0, -tx], [0, 1, -ty], [0, 0, 1]], jnp.float32)
  y = np.asarray(jax.jit(ada._resample)(jnp.asarray(x), to_input))
  expected = np.stack([ndimage.shift(x[..., c], (ty, tx), order=1, mode='mirror')
                       for c in range(3)], -1)
  np.testing.assert_allclose(y, expected, atol=1e-5)


def test_brightness_adds_a_constant_per_image():
  x = np.asarray(_images())
  difference = np.asarray(_augment(jnp.asarray(x), _keys(), 1.0, ('brightness',))) - x
  offsets = difference.reshape(8, -1).mean(1)
  np.testing.assert_allclose(difference, np.broadcast_to(offsets[:, None, None, None], x.shape),
                             atol=1e-6)
  assert offsets.std() > 0.05


def test_contrast_scales_around_zero():
  x = np.asarray(_images())
  y = np.asarray(_augment(jnp.asarray(x), _keys(), 1.0, ('contrast',)))
  factors = (x * y).reshape(8, -1).sum(1) / (x * x).reshape(8, -1).sum(1)
  np.testing.assert_allclose(y, x * factors[:, None, None, None], atol=1e-5)
  assert (factors > 0).all() and factors.std() > 0.1


def test_lumaflip_negates_luma_and_keeps_chroma():
  x = np.asarray(_images(n=16))
  y = np.asarray(_augment(jnp.asarray(x), _keys(16), 1.0, ('lumaflip',)))
  (luma_x, chroma_x), (luma_y, chroma_y) = _luma_chroma(x), _luma_chroma(y)
  np.testing.assert_allclose(chroma_y, chroma_x, atol=1e-5)
  signs = [1 if np.allclose(luma_y[i], luma_x[i], atol=1e-5) else
           -1 if np.allclose(luma_y[i], -luma_x[i], atol=1e-5) else 0 for i in range(16)]
  assert 0 not in signs and set(signs) == {1, -1}


def test_hue_is_one_rotation_about_the_luma_axis_per_image():
  x = np.asarray(_images())
  y = np.asarray(_augment(jnp.asarray(x), _keys(), 1.0, ('hue',)))
  angles = []
  for i in range(8):
    # The per-image linear map, fitted over the pixels: y = x @ m.
    m, residual, *_ = np.linalg.lstsq(x[i].reshape(-1, 3), y[i].reshape(-1, 3), rcond=None)
    np.testing.assert_allclose(y[i].reshape(-1, 3), x[i].reshape(-1, 3) @ m, atol=1e-5)
    np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-4)
    np.testing.assert_allclose(np.linalg.det(m), 1, atol=1e-4)
    np.testing.assert_allclose(np.ones(3) @ m, np.ones(3), atol=1e-4)   # grey stays grey
    angles.append(np.arccos(np.clip((np.trace(m) - 1) / 2, -1, 1)))
  assert max(angles) > 0.5 and np.std(angles) > 0.1


def test_saturation_scales_chroma_and_keeps_luma():
  x = np.asarray(_images())
  y = np.asarray(_augment(jnp.asarray(x), _keys(), 1.0, ('saturation',)))
  (luma_x, chroma_x), (luma_y, chroma_y) = _luma_chroma(x), _luma_chroma(y)
  np.testing.assert_allclose(luma_y, luma_x, atol=1e-5)
  factors = (chroma_x * chroma_y).reshape(8, -1).sum(1) / (chroma_x ** 2).reshape(8, -1).sum(1)
  np.testing.assert_allclose(chroma_y, chroma_x * factors[:, None, None, None], atol=1e-5)
  assert (factors > 0).all() and factors.std() > 0.1


def test_grayscale_colour_is_one_affine_map_per_image():
  x = np.asarray(_images(channels=1))
  y = np.asarray(_augment(jnp.asarray(x), _keys(), 1.0, 'c'))
  assert y.shape == x.shape and np.isfinite(y).all()
  for i in range(8):
    a, b = np.polyfit(x[i].ravel(), y[i].ravel(), 1)
    np.testing.assert_allclose(y[i], a * x[i] + b, atol=1e-5)
  assert np.abs(y - x).max() > 0.1
  assert np.isfinite(np.asarray(_augment(jnp.asarray(x), _keys(), 1.0, 'bgc'))).all()


def test_bgc_at_p_one_stays_finite_and_keeps_shape_and_dtype():
  x = _images(seed=3)
  y = _augment(x, _keys(seed=3), 1.0, 'bgc')
  assert y.shape == x.shape and y.dtype == x.dtype
  assert np.isfinite(np.asarray(y)).all() and np.abs(np.asarray(y)).max() < 50
  bf16 = _augment(x.astype(jnp.bfloat16), _keys(seed=3), 1.0, 'bgc')
  assert bf16.dtype == jnp.bfloat16


def test_gradient_is_finite_nonzero_and_the_augmentation_is_affine_in_the_images():
  x, keys = _images(seed=1), _keys(seed=1)
  weights = _images(seed=2)
  f = jax.jit(lambda images: jnp.sum(weights * ada.augment(images, keys, 0.5, 'bgc')))
  grad = np.asarray(jax.grad(f)(x))
  assert np.isfinite(grad).all() and np.abs(grad).max() > 0
  assert (np.abs(grad).reshape(8, -1).max(1) > 0).all()
  direction = _images(seed=4)
  change = float(f(x + direction) - f(x))
  np.testing.assert_allclose(change, float(np.sum(grad * np.asarray(direction))), rtol=1e-3)


def test_same_keys_same_output_and_each_example_depends_only_on_its_key():
  x, keys = _images(seed=5), _keys(seed=5)
  batch = np.asarray(_augment(x, keys, 0.7, 'bgc'))
  np.testing.assert_array_equal(batch, np.asarray(_augment(x, keys, 0.7, 'bgc')))
  for i in range(8):
    alone = np.asarray(_augment(x[i:i + 1], keys[i:i + 1], 0.7, 'bgc'))
    np.testing.assert_allclose(alone[0], batch[i], atol=1e-6)
  raw = jax.random.split(jax.random.PRNGKey(5), 8)   # (8, 2) uint32
  np.testing.assert_array_equal(np.asarray(_augment(x, raw, 0.7, 'bgc')),
                                np.asarray(_augment(x, jax.random.wrap_key_data(raw), 0.7,
                                                    'bgc')))
  assert not np.array_equal(batch, np.asarray(_augment(x, _keys(seed=6), 0.7, 'bgc')))


@pytest.mark.parametrize('p,expected', [(0.5, 0.25), (1.0, 0.5)])
def test_flips_follow_p(p, expected):
  n = 400
  x = np.asarray(_images(n=n, channels=1, side=4, seed=7))
  y = np.asarray(_augment(jnp.asarray(x), _keys(n, seed=7), p, ('xflip',)))
  flipped = np.mean([np.array_equal(y[i], x[i, :, ::-1]) for i in range(n)])
  assert abs(flipped - expected) < 0.08


def test_rotation_happens_with_probability_p_and_scales_follow_the_magnitudes():
  n = 2000
  keys = _keys(n, seed=8)
  matrices = jax.jit(ada.geometric_matrices, static_argnums=(2, 3, 4))
  for p in (0.3, 0.8):
    g = np.asarray(matrices(keys, p, ('rotate',), S, S))
    rotated = np.abs(g[:, 0, 1]) > 1e-6
    assert abs(rotated.mean() - p) < 0.04
    np.testing.assert_allclose(np.linalg.det(g[:, :2, :2]), 1, atol=1e-5)
  g = np.asarray(matrices(keys, 1.0, ('scale',), S, S))
  log_scales = -np.log2(g[:, 0, 0])
  assert abs(log_scales.std() - ada.MAGNITUDES['scale']) < 0.015
  g = np.asarray(matrices(keys, 1.0, ('xint',), S, S))
  assert set(np.unique(g[:, :2, 2])) == {-2, -1, 0, 1, 2}
  np.testing.assert_array_equal(np.asarray(matrices(keys, 0.0, 'bg', S, S)),
                                np.broadcast_to(np.eye(3), (n, 3, 3)))


def test_one_device_equals_eight_and_signs_are_summed_over_devices():
  x = _images(n=16, seed=9)
  logits = jnp.asarray(np.random.default_rng(9).normal(size=(16, 1)), jnp.float32)
  key = jax.random.key(9)
  results = []
  for devices in (jax.devices()[:1], jax.devices()[:8]):
    fn = jax.jit(jax.shard_map(
        lambda x, logits, key: (ada.augment_batch(x, key, 0.6, 'bgc', 'batch'),
                                ada.real_sign_stats(logits, 'batch')),
        mesh=Mesh(np.array(devices), ('batch',)), in_specs=(P('batch'), P('batch'), P()),
        out_specs=(P('batch'), P()), check_vma=False))
    results.append(jax.tree.map(np.asarray, fn(x, logits, key)))
  (one, one_stats), (eight, eight_stats) = results
  np.testing.assert_allclose(one, eight, atol=1e-6)
  expected = (np.sign(np.asarray(logits)).sum(), 16.0)
  np.testing.assert_allclose(one_stats, expected)
  np.testing.assert_allclose(eight_stats, expected)


def test_adjust_p_moves_by_the_official_step_and_clips():
  kw = dict(target=0.6, batch_size=64, interval=4, kimg=500)
  step = 64 * 4 / 500_000
  np.testing.assert_allclose(ada.adjust_p(0.5, 0.9 * 256, 256, **kw), 0.5 + step, rtol=1e-6)
  np.testing.assert_allclose(ada.adjust_p(0.5, 0.2 * 256, 256, **kw), 0.5 - step, rtol=1e-6)
  np.testing.assert_allclose(ada.adjust_p(0.5, -256, 256, **kw), 0.5 - step, rtol=1e-6)
  assert float(ada.adjust_p(0.0, 0.0, 256, **kw)) == 0.0
  assert float(ada.adjust_p(step / 2, 0.0, 256, **kw)) == 0.0
  assert float(ada.adjust_p(1.0 - step / 2, 256, 256, **kw)) == 1.0
  assert float(ada.adjust_p(0.5, 0.0, 0, **kw)) == 0.5   # nothing accumulated
  np.testing.assert_allclose(ada.adjust_p(0.5, 256, 256, target=0.6, batch_size=32,
                                          interval=8, kimg=100), 0.5 + 32 * 8 / 100_000,
                             rtol=1e-6)


def test_update_state_accumulates_and_moves_p_once_every_interval():
  kw = dict(interval=4, batch_size=32, target=0.6, kimg=500)
  update = jax.jit(lambda state, total, count, step: ada.update_state(state, total, count, step,
                                                                      **kw))
  step_size = 32 * 4 / 500_000
  state = ada.init_state(0.5)
  history = []
  for step in range(12):
    total = 30.0 if step < 8 else -30.0   # r_t = 30/32 > target, then -30/32 < target
    state = update(state, jnp.float32(total), jnp.float32(32), jnp.int32(step))
    history.append(jax.tree.map(float, state))
  ps = [h['p'] for h in history]
  np.testing.assert_allclose(ps, [0.5] * 3 + [0.5 + step_size] * 4 + [0.5 + 2 * step_size] * 4
                             + [0.5 + step_size], rtol=1e-6)
  for step, h in enumerate(history):
    done = (step + 1) % 4
    assert h['count'] == 32 * done
    np.testing.assert_allclose(h['sign_sum'], (30.0 if step < 8 else -30.0) * done)


def test_pipelines_and_check_pipeline():
  assert ada.check_pipeline('bgc') == ada.OPS
  assert ada.check_pipeline('bg') == ada.GEOMETRIC
  assert ada.check_pipeline('c') == ada.COLOR
  assert ada.check_pipeline(('hue', 'xflip')) == ('xflip', 'hue')
  assert set(ada.MAGNITUDES) == set(ada.OPS) - {'xflip', 'rotate90', 'lumaflip'}
  with pytest.raises(ValueError, match="'bgc'"):
    ada.check_pipeline('bgcx')
  with pytest.raises(ValueError, match='unknown ADA ops'):
    ada.check_pipeline(('xflip', 'zoom'))
  with pytest.raises(ValueError, match='1 or 3 channels'):
    ada.augment(jnp.zeros((2, 4, 4, 2)), _keys(2), 0.5)
