"""StyleGAN2's networks (models/stylegan2.py): parameter counts of the official implementation,
the modulated convolution, FIR resampling, noise, minibatch standard deviation, tiny forward
passes and the start-up errors."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from scipy import signal

from gan_jax import optim
from gan_jax.models import stylegan2
from gan_jax.state import count_params


def _model_config(**fields):
  c = ml_collections.ConfigDict()
  stylegan2.defaults(c)
  for k, v in fields.items():
    c[k] = v
  return c


def _counts(model_config, num_classes, resolution):
  g, d = stylegan2.build(model_config, (resolution, resolution, 3), jnp.float32, num_classes)
  z = jnp.zeros((2, model_config.z_dim))
  y = jnp.zeros((2,), jnp.int32) if num_classes else None
  g_params = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(0), z, y))['params']
  d_params = jax.eval_shape(lambda: d.init(
      jax.random.PRNGKey(0), jnp.zeros((2, resolution, resolution, 3)), y))['params']
  return count_params(g_params), count_params(g_params['mapping']), count_params(d_params)


CIFAR = dict(mapping_layers=2, d_architecture='orig', mbstd_group=32)


def test_parameter_counts_equal_the_official_implementation():
  # Trainable parameters of stylegan2-ada-pytorch `training/networks.py` (Generator and
  # Discriminator as `train.py` configures them; buffers such as w_avg and the constant noise
  # are not parameters), as verified in the project's references:
  # `cifar` (32x32x3, z = w = 512, 2 mapping layers, channel_base 32768, channel_max 512,
  # D 'orig', mbstd group 32): G 19,947,539 (mapping 525,312), D 20,720,641.
  assert _counts(_model_config(**CIFAR), 0, 32) == (19_947_539, 525_312, 20_720_641)
  # `cifar`, conditional (--cond=1, 10 classes): G 20,215,315 (mapping 793,088), D 23,089,664.
  assert _counts(_model_config(**CIFAR), 10, 32) == (20_215_315, 793_088, 23_089_664)
  # `auto` at 64x64x3 (fmaps 0.5: channel_base 16384; 2 mapping layers; D 'resnet'):
  # G 22,243,608, D 23,407,361.
  g, _, d = _counts(_model_config(channel_base=16384, mapping_layers=2), 0, 64)
  assert (g, d) == (22_243_608, 23_407_361)
  # `paper256` (256x256x3, channel_base 16384, 8 mapping layers, D 'resnet'):
  # G 24,767,458, D 24,001,089.
  g, _, d = _counts(_model_config(channel_base=16384), 0, 256)
  assert (g, d) == (24_767_458, 24_001_089)


def test_num_ws_equals_the_official_count():
  # Official SynthesisNetwork.num_ws: 1 conv at 4x4, 2 per later block, plus the last toRGB.
  assert [stylegan2.num_ws(r) for r in (4, 16, 32, 256, 1024)] == [2, 6, 8, 14, 18]


def _conv(x, w, padding=((1, 1), (1, 1))):
  return jax.lax.conv_general_dilated(x, w, (1, 1), padding,
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def test_modulated_conv_is_a_plain_conv_with_unit_styles_and_the_fused_form_otherwise():
  kx, kw, ks = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.normal(kx, (3, 8, 8, 5))
  w = jax.random.normal(kw, (3, 3, 5, 7)) / np.sqrt(45)
  styles = jax.random.normal(ks, (3, 5)) + 1.0

  @jax.jit
  def run(x, w, styles):
    plain = stylegan2.modulated_conv2d(x, w, jnp.ones((3, 5)), demodulate=False)
    # The official fused form: each example's kernel scaled by its styles per input channel,
    # then each output channel's kernel normalised to unit norm.
    fused = []
    for n in range(3):
      wn = w * styles[n][None, None, :, None]
      wn = wn / jnp.sqrt(jnp.sum(wn ** 2, axis=(0, 1, 2)) + 1e-8)
      fused.append(_conv(x[n:n + 1], wn)[0])
    return plain, _conv(x, w), stylegan2.modulated_conv2d(x, w, styles), jnp.stack(fused)

  plain, reference, got, fused = run(x, w, styles)
  np.testing.assert_allclose(plain, reference, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(got, fused, rtol=1e-4, atol=1e-5)


def test_demodulated_outputs_have_unit_standard_deviation():
  kx, kw, ks = jax.random.split(jax.random.PRNGKey(1), 3)
  x = jax.random.normal(kx, (16, 20, 20, 32))
  w = jax.random.normal(kw, (3, 3, 32, 16)) * 3.0
  styles = jax.random.uniform(ks, (16, 32), minval=0.1, maxval=4.0)
  std, raw_std = jax.jit(lambda x, w, s: (
      jnp.std(stylegan2.modulated_conv2d(x, w, s)[:, 1:-1, 1:-1], axis=(0, 1, 2)),  # no border
      jnp.std(stylegan2.modulated_conv2d(x, w, s, demodulate=False))))(x, w, styles)
  np.testing.assert_allclose(std, 1.0, atol=0.05)
  assert float(raw_std) > 5   # without demodulation the same layer is far from unit scale


def _upfirdn_reference(x, *, up, down, pad, gain):
  """The definition on one 2-D channel: zero insertion, padding, 2-D filter, subsampling."""
  f = np.array([1, 3, 3, 1], np.float64) / 8
  z = np.zeros((x.shape[0] * up, x.shape[1] * up))
  z[::up, ::up] = x
  z = np.pad(z, [pad, pad])
  return signal.convolve2d(z, np.outer(f, f) * gain, mode='valid')[::down, ::down]


def test_resampling_follows_the_upfirdn2d_definition_and_keeps_constants():
  rng = np.random.default_rng(0)
  x9, x8, x16 = (rng.normal(size=(1, n, n, 1)).astype(np.float32) for n in (9, 8, 16))
  const = jnp.full((2, 8, 8, 3), 0.7)
  up, down, const_up, const_down, round_trip = jax.jit(lambda x9, x8, const, x16: (
      stylegan2.upsample2d(x9), stylegan2.downsample2d(x8), stylegan2.upsample2d(const),
      stylegan2.downsample2d(const), stylegan2.downsample2d(stylegan2.upsample2d(x16))))(
          x9, x8, const, x16)
  assert up.shape == (1, 18, 18, 1) and down.shape == (1, 4, 4, 1)
  np.testing.assert_allclose(up[0, :, :, 0], _upfirdn_reference(x9[0, :, :, 0], up=2, down=1,
                             pad=(2, 1), gain=4), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(down[0, :, :, 0], _upfirdn_reference(x8[0, :, :, 0], up=1, down=2,
                             pad=(1, 1), gain=1), rtol=1e-5, atol=1e-5)
  # A constant image stays constant away from the borders (the gains are right).
  np.testing.assert_allclose(const_up[:, 2:-2, 2:-2], 0.7, rtol=1e-6)
  np.testing.assert_allclose(const_down[:, 1:-1, 1:-1], 0.7, rtol=1e-6)
  # Down after up is the centred blur [3, 10, 3] / 16 in each axis (no shift).
  b = np.array([3, 10, 3]) / 16
  blurred = signal.convolve2d(x16[0, :, :, 0], np.outer(b, b), mode='same')
  np.testing.assert_allclose(round_trip[0, 2:-2, 2:-2, 0], blurred[2:-2, 2:-2], atol=1e-5)


def test_resampling_convs_match_their_definitions():
  kx, kw = jax.random.split(jax.random.PRNGKey(2))
  x = jax.random.normal(kx, (2, 6, 6, 3))
  w = jax.random.normal(kw, (3, 3, 3, 4))

  @jax.jit
  def run(x, w):
    # Up: FIR upsampling of the zero-inserted image (padding 1 + the filter's), then the conv
    # with the kernel flipped, no padding.
    up = stylegan2.filtered_conv(x, w, up=2)
    up_reference = _conv(stylegan2.upfirdn2d(x, up=2, padding=(3, 2), gain=4), w[::-1, ::-1],
                         padding='VALID')
    # Down: a 1x1 conv that downsamples is the 1x1 conv of the downsampled image.
    w1 = w[1:2, 1:2]
    down1 = stylegan2.filtered_conv(x, w1, down=2)
    down1_reference = _conv(stylegan2.downsample2d(x), w1, padding='VALID')
    return up, up_reference, down1, down1_reference, stylegan2.filtered_conv(x, w, down=2)

  up, up_reference, down1, down1_reference, down = run(x, w)
  assert up.shape == (2, 12, 12, 4) and down.shape == (2, 3, 3, 4)
  np.testing.assert_allclose(up, up_reference, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(down1, down1_reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('size,padding,k', [(4, (2, 2), 3), (5, (1, 2), 3), (4, (0, 0), 3),
                                           (3, (0, 3), 4)])
def test_conv_up2_equals_the_dilated_conv(size, padding, k):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size, 3))
  w = jax.random.normal(jax.random.PRNGKey(1), (k, k, 3, 5))
  reference = stylegan2._conv(x, w, [padding] * 2, lhs_dilation=(2, 2))
  np.testing.assert_allclose(stylegan2.conv_up2(x, w, padding), reference, rtol=1e-5, atol=1e-5)


def test_minibatch_stddev_groups_are_consecutive():
  x = jax.random.normal(jax.random.PRNGKey(3), (6, 4, 4, 4))
  out = stylegan2.minibatch_stddev(x, group_size=3, num_channels=2)
  assert out.shape == (6, 4, 4, 6)
  xs = np.asarray(x, np.float64)
  for n in range(6):
    members = xs[3 * (n // 3):3 * (n // 3) + 3]             # groups {0, 1, 2} and {3, 4, 5}
    std = np.sqrt(members.var(axis=0) + 1e-8)             # (4, 4, 4)
    expected = [std[..., :2].mean(), std[..., 2:].mean()]
    np.testing.assert_allclose(out[n, 0, 0, 4:], expected, rtol=1e-5)
  np.testing.assert_array_equal(out[..., :4], x)
  with pytest.raises(ValueError, match='groups of 4'):
    stylegan2.minibatch_stddev(x, group_size=4)


TINY = dict(z_dim=16, w_dim=16, mapping_layers=2, channel_base=64, channel_max=32,
            mbstd_group=2)


def _tiny(num_classes=0, **fields):
  return stylegan2.build(_model_config(**{**TINY, **fields}), (16, 16, 1), jnp.float32,
                         num_classes)


def _key(seed):
  # RBG keys, for initialisation only: XLA:CPU compiles it several times faster with them. (Noise
  # keys must be threefry's, the default: RBG draws change under vmap.)
  return jax.random.key(seed, impl='rbg')


def _set_noise_strength(params, value):
  return jax.tree_util.tree_map_with_path(
      lambda path, v: jnp.full_like(v, value) if path[-1].key == 'noise_strength' else v, params)


@pytest.fixture(scope='module')
def generator8():
  """An 8x8 generator (3 noise layers, quick to compile) and its jitted synthesis."""
  g, _ = stylegan2.build(_model_config(**TINY), (8, 8, 1), jnp.float32)
  params = jax.jit(g.init)(_key(0), jnp.zeros((1, 16)))['params']
  synthesize = jax.jit(lambda p, ws, keys, mode: g.apply(
      {'params': p}, ws, keys, mode, method='synthesize'), static_argnums=3)
  ws = jax.random.normal(jax.random.PRNGKey(1), (4, stylegan2.num_ws(8), 16))
  return params, synthesize, ws


def test_random_noise_of_an_example_does_not_depend_on_its_batch(generator8):
  params, synthesize, ws = generator8
  noisy = _set_noise_strength(params, 0.5)
  keys = jax.random.split(jax.random.key(7), 4)
  batch = synthesize(noisy, ws, keys, 'random')
  alone = synthesize(noisy, ws[2:3], keys[2:3], 'random')
  np.testing.assert_allclose(batch[2:3], alone, rtol=1e-4, atol=1e-5)
  other = synthesize(noisy, ws, jax.random.split(jax.random.key(8), 4), 'random')
  assert float(jnp.max(jnp.abs(other - batch))) > 1e-3   # the keys matter


def test_noise_strength_starts_at_zero_and_const_noise_is_fixed(generator8):
  params, synthesize, ws = generator8
  keys_a = jax.random.split(jax.random.key(1), 4)
  keys_b = jax.random.split(jax.random.key(2), 4)
  silent = synthesize(params, ws, None, 'none')
  for images in (synthesize(params, ws, keys_a, 'random'), synthesize(params, ws, None, 'const')):
    np.testing.assert_allclose(images, silent, rtol=1e-6, atol=1e-6)
  noisy = _set_noise_strength(params, 0.5)
  assert float(jnp.max(jnp.abs(synthesize(noisy, ws, keys_a, 'random')
                               - synthesize(noisy, ws, keys_b, 'random')))) > 1e-3
  const = synthesize(noisy, ws, None, 'const')
  assert float(jnp.max(jnp.abs(const - synthesize(noisy, ws, None, 'none')))) > 1e-3
  np.testing.assert_array_equal(const, synthesize(noisy, ws, None, 'const'))
  # The same w gives the same image: 'const' noise is shared by all examples.
  same = synthesize(noisy, jnp.stack([ws[0]] * 4), None, 'const')
  np.testing.assert_allclose(same[0], same[3], rtol=1e-6, atol=1e-6)
  with pytest.raises(ValueError, match='noise_keys'):
    synthesize(noisy, ws, None, 'random')


def test_tiny_generator_runs():
  z = jax.random.normal(jax.random.PRNGKey(0), (4, 16))
  # Unconditional: shapes only (no compilation).
  g, _ = _tiny()
  variables = jax.eval_shape(lambda: g.init(_key(1), z))
  assert set(variables['params']) == {'mapping', 'synthesis'}
  ws = jax.ShapeDtypeStruct((4, g.num_ws, 16), jnp.float32)
  keys = jax.random.split(jax.random.key(2), 4)
  out = jax.eval_shape(lambda v, ws: g.apply(v, ws, keys, method='synthesize'), variables, ws)
  assert (out.shape, out.dtype) == ((4, 16, 16, 1), jnp.float32)
  # Conditional: run.
  g, _ = _tiny(3)
  labels, other = jnp.array([0, 1, 2, 1]), jnp.array([2, 0, 1, 0])
  params = jax.jit(g.init)(_key(1), z, labels)['params']
  assert set(params) == {'mapping', 'synthesis'}
  map_fn = jax.jit(lambda p, z, y: g.apply({'params': p}, z, y, method='map'))
  w = map_fn(params, z, labels)
  assert w.shape == (4, 16)
  assert float(jnp.max(jnp.abs(map_fn(params, z, other) - w))) > 1e-4   # the class matters
  images = jax.jit(lambda p, z, y: g.apply({'params': p}, z, y))(params, z, labels)
  assert images.shape == (4, 16, 16, 1) and images.dtype == jnp.float32
  assert bool(jnp.all(jnp.isfinite(images))) and float(jnp.std(images)) > 0
  # The mapping network takes the optimizer's multiplier; every other parameter keeps 1.
  tree = optim.multiplier_tree(params, {'mapping': 0.01})
  assert set(jax.tree.leaves(tree['mapping'])) == {0.01}
  assert set(jax.tree.leaves(tree['synthesis'])) == {1.0}


@pytest.mark.parametrize('num_classes,architecture', [(0, 'orig'), (3, 'resnet'), (3, 'skip')])
def test_tiny_discriminator_runs(num_classes, architecture):
  _, d = _tiny(num_classes, d_architecture=architecture)
  # The same 4 images twice, the second time with other labels: with mbstd groups of 2
  # consecutive examples each copy sees the same minibatch statistic.
  images = jnp.tile(jax.random.normal(jax.random.PRNGKey(0), (4, 16, 16, 1)), (2, 1, 1, 1))
  labels = jnp.array([0, 1, 2, 1, 2, 0, 1, 0]) if num_classes else None

  @jax.jit
  def run(key, images, labels):
    variables = d.init(key, images, labels)
    return variables['params'], d.apply(variables, images, labels)

  params, logits = run(_key(1), images, labels)
  assert logits.shape == (8,) and bool(jnp.all(jnp.isfinite(logits)))
  assert ('mapping' in params) == bool(num_classes)
  assert ('fromrgb' in params['b8']) == (architecture == 'skip')
  assert ('skip' in params['b16']) == (architecture == 'resnet')
  if num_classes:  # the projection on the class map
    assert float(jnp.max(jnp.abs(logits[4:] - logits[:4]))) > 1e-6
  else:
    np.testing.assert_allclose(logits[4:], logits[:4], rtol=1e-5, atol=1e-5)


def test_start_up_errors():
  with pytest.raises(ValueError, match='power of two'):
    stylegan2.build(_model_config(), (48, 48, 3), jnp.float32)
  with pytest.raises(ValueError, match='power of two'):
    stylegan2.build(_model_config(), (2, 2, 3), jnp.float32)
  with pytest.raises(ValueError, match='square'):
    stylegan2.build(_model_config(), (32, 64, 3), jnp.float32)
  with pytest.raises(ValueError, match='d_architecture'):
    stylegan2.build(_model_config(d_architecture='dense'), (32, 32, 3), jnp.float32)
  with pytest.raises(ValueError, match='1 or 3 channels'):
    stylegan2.build(_model_config(), (32, 32, 4), jnp.float32)
  _, d = _tiny(mbstd_group=3)
  x = jnp.zeros((4, 16, 16, 1))
  with pytest.raises(ValueError, match='does not split into groups of 3'):
    jax.eval_shape(lambda: d.init(jax.random.PRNGKey(0), x))
