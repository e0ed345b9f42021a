"""Architectures: output shapes, parameter counts worked out by hand, the registry's errors."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax import configs, models, state as state_lib


def _dcgan_config(width=8, z_dim=16):
  c = configs.base_config()
  configs.dcgan_model(c)
  c.model.g_width = width
  c.model.d_width = width
  c.model.z_dim = z_dim
  return c


def _dcgan_param_counts(size, channels, width, z_dim):
  """Generator and discriminator parameter counts, layer by layer (batch norm in both)."""
  n = int(np.log2(size // 4))
  widths = [width * 2 ** (n - 1 - i) for i in range(n)]     # G: top ... width
  g = z_dim * 16 * widths[0] + 2 * widths[0]                 # dense (no bias) + BN
  for c_in, c_out in zip(widths[:-1], widths[1:]):
    g += 16 * c_in * c_out + 2 * c_out                       # up-conv (no bias) + BN
  g += 16 * widths[-1] * channels + channels                 # last up-conv with bias
  d_widths = [width * 2 ** i for i in range(n)]
  d = 16 * channels * d_widths[0] + d_widths[0]              # first conv with bias, no BN
  for c_in, c_out in zip(d_widths[:-1], d_widths[1:]):
    d += 16 * c_in * c_out + 2 * c_out
  d += 16 * d_widths[-1] + 1                                 # 4x4xC -> one logit
  return g, d


@pytest.mark.parametrize('size', [32, 64, 128])
@pytest.mark.parametrize('channels', [1, 3])
def test_dcgan_shapes_and_parameter_counts(size, channels):
  c = _dcgan_config()
  g, d = models.build(c.model, (size, size, channels), jnp.float32)
  z = jnp.ones((2, 16))
  g_vars = g.init(jax.random.PRNGKey(0), z, train=False)
  images = g.apply(g_vars, z, train=False)
  assert images.shape == (2, size, size, channels)
  assert float(jnp.abs(images).max()) <= 1.0  # tanh output
  d_vars = d.init(jax.random.PRNGKey(1), images, train=False)
  assert d.apply(d_vars, images, train=False).shape == (2,)
  expected_g, expected_d = _dcgan_param_counts(size, channels, 8, 16)
  assert state_lib.count_params(g_vars['params']) == expected_g
  assert state_lib.count_params(d_vars['params']) == expected_d


def test_dcgan_64_is_the_paper_network():
  # 100-d z, 512-256-128-64 generator channels, 64-128-256-512 discriminator channels.
  c = _dcgan_config(width=64, z_dim=100)
  g, d = models.build(c.model, (64, 64, 3), jnp.float32)
  g_vars = g.init(jax.random.PRNGKey(0), jnp.ones((1, 100)), train=False)
  kernels = [v['kernel'].shape for k, v in sorted(g_vars['params'].items()) if 'kernel' in v]
  assert (4, 4, 512, 256) in kernels and (4, 4, 64, 3) in kernels
  assert state_lib.count_params(g_vars['params']) == _dcgan_param_counts(64, 3, 64, 100)[0]


def test_dcgan_rejects_unsupported_sizes():
  c = _dcgan_config()
  with pytest.raises(ValueError, match='32, 64, 128'):
    models.build(c.model, (48, 48, 3), jnp.float32)


def test_batch_norm_uses_batch_statistics_in_training():
  c = _dcgan_config()
  g, _ = models.build(c.model, (32, 32, 1), jnp.float32)
  g = g.clone(axis_name=None)  # no mesh axis outside shard_map
  z = jax.random.normal(jax.random.PRNGKey(0), (8, 16))
  variables = g.init(jax.random.PRNGKey(1), z, train=False)
  _, updates = g.apply(variables, z, train=True, mutable=['batch_stats'])
  before = jax.tree.leaves(variables['batch_stats'])
  after = jax.tree.leaves(updates['batch_stats'])
  assert any(not np.allclose(a, b) for a, b in zip(before, after))


def test_mlp_shapes_and_maxout_parameter_count():
  c = configs.base_config()
  configs.mlp_model(c)
  c.model.z_dim = 2
  c.model.g_hidden = (10, 10)
  c.model.d_hidden = (6,)
  c.model.d_activation = 'maxout'
  c.model.maxout_pieces = 5
  g, d = models.build(c.model, (2,), jnp.float32)
  z = jnp.ones((3, 2))
  g_vars = g.init(jax.random.PRNGKey(0), z, train=False)
  assert g.apply(g_vars, z, train=False).shape == (3, 2)
  # G: 2*10+10, 10*10+10, 10*2+2
  assert state_lib.count_params(g_vars['params']) == 30 + 110 + 22
  d_vars = d.init(jax.random.PRNGKey(1), jnp.ones((3, 2)), train=False)
  # D: maxout 2 -> 6 units x 5 pieces: 2*30+30; out: 6+1
  assert state_lib.count_params(d_vars['params']) == 90 + 7
  assert d.apply(d_vars, jnp.ones((3, 2)), train=False).shape == (3,)


def test_unknown_model_lists_choices():
  c = ml_collections.ConfigDict({'name': 'vit'})
  with pytest.raises(ValueError, match=r"unknown model.name 'vit'.*\['dcgan', 'mlp', 'resnet', "
                                       r"'stackgan', 'stylegan2', 'translation'\]"):
    models.build(c, (32, 32, 3), jnp.float32)


def test_torch_weight_init_draws_weights_and_biases_within_one_over_sqrt_fan_in():
  c = configs.base_config()
  configs.mlp_model(c)
  c.model.weight_init = 'torch'
  c.model.g_hidden = (256,)
  g, _ = models.build(c.model, (1,), jnp.float32)
  params = g.init(jax.random.PRNGKey(0), jnp.ones((1, 4)), train=False)['params']
  first, second = params['Dense_0'], params['Dense_1']
  assert np.abs(first['kernel']).max() <= 0.5 and np.abs(first['bias']).max() <= 0.5  # 1/sqrt(4)
  assert np.abs(first['bias']).std() > 0.1  # biases are drawn, not zero
  assert np.abs(second['kernel']).max() <= 1 / 16
  c.model.weight_init = 'xavier'
  with pytest.raises(ValueError, match="weight_init 'xavier'"):
    g, _ = models.build(c.model, (1,), jnp.float32)
    g.init(jax.random.PRNGKey(0), jnp.ones((1, 4)), train=False)


def test_normal_weight_init_draws_weights_with_std_0_02_whatever_the_fan_in_and_zero_biases():
  c = configs.base_config()
  configs.mlp_model(c)
  c.model.weight_init = 'normal'
  c.model.g_hidden = (256,)
  c.model.g_norm = 'none'
  g, _ = models.build(c.model, (1,), jnp.float32)
  params = g.init(jax.random.PRNGKey(0), jnp.ones((1, 4)), train=False)['params']
  for layer in ('Dense_0', 'Dense_1'):  # fan-in 4 and 256: the same scale
    np.testing.assert_allclose(np.std(params[layer]['kernel']), 0.02, rtol=0.15)
    np.testing.assert_array_equal(params[layer]['bias'], 0.0)


def test_example_dropout_masks_follow_the_example_index():
  from gan_jax.models import layers
  drop = layers.ExampleDropout(0.5, axis_name=None)
  x = jnp.ones((64, 100))
  rngs = {'dropout': jax.random.PRNGKey(3)}
  y = drop.apply({}, x, train=True, rngs=rngs)
  kept = np.asarray(y) != 0
  assert 0.4 < kept.mean() < 0.6
  np.testing.assert_allclose(np.asarray(y)[kept], 2.0)  # kept units are scaled by 1 / (1 - p)
  # Example i's mask depends on i only, not on the batch it came in: the first 16 of 64 get
  # the masks they get in a batch of 16.
  np.testing.assert_array_equal(drop.apply({}, x[:16], train=True, rngs=rngs), y[:16])
  assert not np.array_equal(np.asarray(y[:16]), np.asarray(y[16:32]))
  np.testing.assert_array_equal(drop.apply({}, x, train=False), x)  # off at evaluation


def test_packed_discriminator_judges_concatenated_packs():
  for shape, inner in (((2,), models.mlp.Discriminator(hidden=(8,))),
                       ((32, 32, 3), models.dcgan.Discriminator(width=8, norm='none'))):
    packed = models.Packed(inner, 3)
    x = jax.random.normal(jax.random.PRNGKey(0), (6, *shape))
    variables = packed.init(jax.random.PRNGKey(1), x, train=False)
    out = packed.apply(variables, x, train=False)
    assert out.shape == (2,)
    # The same as the inner D on the packs concatenated along the last axis, in order.
    joined = jnp.concatenate([x[0::3], x[1::3], x[2::3]], axis=-1)
    inner_vars = {k: v['discriminator'] for k, v in variables.items()}
    np.testing.assert_allclose(out, inner.apply(inner_vars, joined, train=False), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ValueError, match='packs of 3'):
      packed.apply(variables, x[:5], train=False)


def test_pack_must_divide_each_devices_share():
  config = configs.base_config()
  configs.mlp_model(config)
  config.data.name = 'ring'
  config.data.update(dict(num_modes=8, radius=1.0, std=0.01, num_train=100))
  config.model.pack = 3
  config.train.batch_size = 64
  with pytest.raises(ValueError, match='model.pack=3 .* multiple of 3'):
    configs.validate(config, 8)
  config.train.batch_size = 48
  configs.validate(config, 8)


def test_dcgan_z_skip_starts_as_the_plain_generator_and_reads_z_alone():
  c = _dcgan_config(width=8, z_dim=16)
  c.model.conditioning = 'concat'
  plain, _ = models.build(c.model, (32, 32, 1), jnp.float32, num_classes=10)
  c.model.z_skip = True
  skip, _ = models.build(c.model, (32, 32, 1), jnp.float32, num_classes=10)
  z = jax.random.normal(jax.random.PRNGKey(1), (4, 16))
  labels = jnp.array([0, 3, 7, 9])
  plain_vars = plain.init(jax.random.PRNGKey(0), z, labels, train=False)
  skip_vars = skip.init(jax.random.PRNGKey(0), z, labels, train=False)
  # Two scale-and-shift layers (at 8x8 with 16 channels, at 16x16 with 8), each a dense layer
  # of z alone (16 inputs, not 16 + 10 with the label) to a scale and a shift per channel.
  extra = state_lib.count_params(skip_vars['params']) - state_lib.count_params(
      plain_vars['params'])
  assert extra == (16 * 32 + 32) + (16 * 16 + 16)
  assert skip_vars['params']['z_skip_1']['kernel'].shape == (16, 32)
  # Zero at init: the same images as the plain generator with the same shared parameters.
  np.testing.assert_allclose(skip.apply(skip_vars, z, labels, train=False),
                             plain.apply(plain_vars, z, labels, train=False), atol=1e-6)
  # Away from zero, the path changes the images.
  params = dict(skip_vars['params'])
  params['z_skip_2'] = {'kernel': jnp.full((16, 16), 0.3), 'bias': jnp.zeros(16)}
  moved = {**skip_vars, 'params': params}
  assert not np.allclose(skip.apply(moved, z, labels, train=False),
                         skip.apply(skip_vars, z, labels, train=False), atol=1e-3)
