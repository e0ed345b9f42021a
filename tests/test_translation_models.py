"""The image-translation networks (models/translation.py, the PatchGANs in models/layers.py):
parameter counts of the official implementation, the PatchGAN's receptive field, the U-Net's
skips, PyTorch's transposed convolution, dropout as noise, instance norm, build errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import configs, models, state as state_lib
from gan_jax.models import layers, translation


def _config(**fields):
  c = configs.base_config()
  models.get('translation').defaults(c.model)
  c.model.update(fields)
  return c.model


_RNG = np.random.default_rng(0)


def _init(module, x, **kw):
  """`module`'s variables for input `x`, drawn in numpy as the initialisers draw them (kernels
  N(0, 0.02), batch-norm scales N(1, 0.02), biases 0, running statistics 0 and 1): compiling
  the initialisers' random number generators would cost this file most of its time."""
  shapes = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), x, train=False, **kw))
  rng = np.random.default_rng(0)
  start = {'kernel': (0.0, 0.02), 'scale': (1.0, 0.02), 'bias': (0.0, 0.0), 'mean': (0.0, 0.0),
           'var': (1.0, 0.0)}
  def draw(path, leaf):
    mean, std = start[path[-1].key]
    return jnp.asarray(mean + std * rng.standard_normal(leaf.shape), leaf.dtype)
  return jax.tree_util.tree_map_with_path(draw, shapes)


def _param_count(module, shape, **kw):
  variables = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), jnp.zeros(shape),
                                                 train=False, **kw))
  return state_lib.count_params(variables['params'])


# Counted by building the official modules of pytorch-CycleGAN-and-pix2pix
# (models/networks.py: define_G / define_D) on CPU; its log prints 54.414 M and 2.769 M for
# Pix2Pix. ResNet-6 (resnet_6blocks, CycleGAN at 128x128) from the same kind of build.
@pytest.mark.parametrize('fields,shape,g_count,d_channels,d_count', [
    (dict(), (256, 256, 3), 54_413_955, 6, 2_768_705),          # Pix2Pix: unet_256, basic D
    (dict(generator='resnet', norm='instance', dropout=0.0),    # CycleGAN: resnet_9blocks
     (256, 256, 3), 11_378_179, 3, 2_764_737),
    (dict(generator='resnet', norm='instance', dropout=0.0),    # resnet_6blocks at 128
     (128, 128, 3), 7_837_699, 3, 2_764_737),
])
def test_parameter_counts_equal_the_official_implementation(fields, shape, g_count, d_channels,
                                                            d_count):
  g, d = models.build(_config(**fields), shape, jnp.float32)
  assert _param_count(g, (1, *shape), noise=False) == g_count
  assert _param_count(d, (1, *shape[:2], d_channels)) == d_count


def test_pixel_discriminator_count_and_output():
  # 1x1 convs 6 -> 64 (bias) -> 128 (batch norm, no bias) -> 1 (no bias, as the official code).
  d = layers.PixelDiscriminator()
  assert _param_count(d, (1, 8, 8, 6)) == 6 * 64 + 64 + 64 * 128 + 2 * 128 + 128
  out = jax.eval_shape(lambda: d.init_with_output(jax.random.PRNGKey(0),
                                                  jnp.zeros((2, 8, 8, 6)), train=False)[0])
  assert out.shape == (2, 8, 8, 1)


def test_patchgan_sees_70x70_patches_and_gives_30x30_logits_at_256():
  assert layers.patch_output_size(256, 3) == 30
  d = layers.PatchDiscriminator(ndf=64)
  out = jax.eval_shape(lambda: d.init_with_output(jax.random.PRNGKey(0),
                                                  jnp.zeros((1, 256, 256, 3)), train=False)[0])
  assert out.shape == (1, 30, 30, 1)
  # Without normalisation: instance norm (and batch norm on batch statistics) would join every
  # logit to the whole image through the mean and variance.
  d = layers.PatchDiscriminator(ndf=2, norm='none', axis_name=None)
  x = jnp.asarray(_RNG.standard_normal((1, 128, 128, 1)), jnp.float32)
  variables = _init(d, x)
  assert jax.eval_shape(lambda: d.apply(variables, x, train=False)).shape == (1, 14, 14, 1)
  grad = jax.jit(jax.grad(lambda x: d.apply(variables, x, train=False)[0, 7, 7, 0]))(x)
  grad = grad[0, :, :, 0]
  rows = np.flatnonzero(np.abs(np.asarray(grad)).sum(1))
  cols = np.flatnonzero(np.abs(np.asarray(grad)).sum(0))
  assert len(rows) == rows[-1] - rows[0] + 1 == 70
  assert len(cols) == cols[-1] - cols[0] + 1 == 70
  # Logit o reads input rows 8 o - 23 to 8 o + 46: stride 8, each layer's padding of 1.
  assert (rows[0], cols[0]) == (8 * 7 - 23, 8 * 7 - 23)
  assert np.all(np.asarray(grad)[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] != 0)


def test_unet_skips_keep_a_local_change_local():
  """A change in one quadrant of the input changes that quadrant of the output and a band a
  few pixels wide around it: the outer skip connections carry it straight back. Only the inner
  levels, whose view covers the whole image, spread it further; without skips all of it would
  pass through the 1x1 innermost level and spread over the whole output. Batch norm on its
  running averages, so that it does not spread the change through batch statistics."""
  g = translation.UNetGenerator(out_channels=3, num_downs=5, ngf=8, axis_name=None)
  x = jnp.asarray(_RNG.uniform(-1, 1, (1, 32, 32, 3)), jnp.float32)
  variables = _init(g, x, noise=False)
  apply = jax.jit(lambda x: g.apply(variables, x, train=False, noise=False))
  change = np.abs(np.asarray(apply(x.at[:, :16, :16].add(0.5)) - apply(x)))[0].sum(-1)
  assert change[:20, :20].sum() > 0.99 * change.sum()   # the quadrant, 4 pixels more
  assert change[:16, :16].sum() > 0.7 * change.sum()
  assert change[16:, 16:].sum() > 0                     # the innermost level sees all of it


def _reference_conv_transpose_3x2(x, kernel):
  """PyTorch's ConvTranspose2d(3, stride=2, padding=1, output_padding=1) by its definition:
  each input pixel scatters kernel x pixel to rows 2i - 1 + kh (and columns alike) of a
  2H x 2W output, numpy loops independent of XLA."""
  n, h, w, _ = x.shape
  out = np.zeros((n, 2 * h, 2 * w, kernel.shape[-1]))
  for i in range(h):
    for j in range(w):
      for kh in range(3):
        for kw in range(3):
          oh, ow = 2 * i - 1 + kh, 2 * j - 1 + kw
          if 0 <= oh < 2 * h and 0 <= ow < 2 * w:
            out[:, oh, ow] += x[:, i, j] @ kernel[kh, kw]
  return out


def test_transposed_conv_is_pytorchs_and_the_strided_convs_adjoint():
  x = jnp.asarray(_RNG.standard_normal((2, 3, 5, 4)), jnp.float32)
  k = jnp.asarray(_RNG.standard_normal((3, 3, 4, 6)), jnp.float32)
  y = translation.conv_transpose_3x2(x, k)
  assert y.shape == (2, 6, 10, 6)
  np.testing.assert_allclose(y, _reference_conv_transpose_3x2(np.asarray(x), np.asarray(k)),
                             rtol=1e-5, atol=1e-5)
  conv = lambda u: jax.lax.conv_general_dilated(  # Conv2d(6, 4, 3, stride=2, padding=1)
      u, k.transpose(0, 1, 3, 2), (2, 2), ((1, 1), (1, 1)),
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  _, pullback = jax.vjp(conv, jnp.zeros((2, 6, 10, 6)))
  np.testing.assert_allclose(y, pullback(x)[0], rtol=1e-5, atol=1e-5)


def test_phase_form_of_the_transposed_conv_is_the_same_function_with_the_same_gradients():
  x = jnp.asarray(_RNG.standard_normal((2, 3, 5, 4)), jnp.float32)
  k = jnp.asarray(_RNG.standard_normal((3, 3, 4, 6)), jnp.float32)
  y = translation.conv_transpose_3x2_phases(x, k)
  np.testing.assert_allclose(y, _reference_conv_transpose_3x2(np.asarray(x), np.asarray(k)),
                             rtol=1e-5, atol=1e-5)
  cotangent = jnp.asarray(_RNG.standard_normal(y.shape), jnp.float32)
  grads = [jax.grad(lambda x, k: jnp.sum(f(x, k) * cotangent), argnums=(0, 1))(x, k)
           for f in (translation.conv_transpose_3x2, translation.conv_transpose_3x2_phases)]
  for plain, phases in zip(*grads):
    np.testing.assert_allclose(phases, plain, rtol=1e-4, atol=1e-4)


def test_dropout_is_the_noise_per_example_and_where_the_official_unet_has_it():
  # Instance norm: each example on its own, and the signal keeps its scale at init. One
  # dropout level, as each costs seconds of compiling its random numbers.
  g = translation.UNetGenerator(out_channels=3, num_downs=5, ngf=4, norm='instance',
                                dropout_blocks=1, axis_name=None)
  x = jnp.asarray(_RNG.standard_normal((4, 32, 32, 3)), jnp.float32)
  variables = _init(g, x, noise=False)

  @jax.jit
  def runs(x):
    run = lambda x, seed, noise=True: g.apply(variables, x, train=False, noise=noise,
                                              rngs={'dropout': jax.random.PRNGKey(seed)})
    return run(x, 1), run(x, 2), run(x[:2], 1), run(x, 1, False), run(x, 2, False)
  seed1, seed2, first_two, quiet1, quiet2 = runs(x)
  assert float(jnp.abs(seed1 - seed2).mean()) > 0.1 * float(jnp.abs(seed1).mean())
  np.testing.assert_array_equal(quiet1, quiet2)
  assert float(jnp.abs(seed1 - quiet1).mean()) > 0.1 * float(jnp.abs(seed1).mean())
  # Example i's masks come from its index, not from the rest of the batch.
  np.testing.assert_allclose(seed1[:2], first_two, rtol=1e-6, atol=1e-6)
  # U-Net-256's dropout follows the three 8 ngf levels above the innermost (levels 4, 5, 6).
  g256 = translation.UNetGenerator(out_channels=3, num_downs=8, ngf=1, axis_name=None)
  x256 = jnp.zeros((1, 256, 256, 3))
  v256 = jax.eval_shape(lambda: g256.init(jax.random.PRNGKey(0), x256, train=False))
  _, state = jax.eval_shape(lambda v: g256.apply(
      v, x256, train=False, capture_intermediates=True, mutable=['intermediates'],
      rngs={'dropout': jax.random.PRNGKey(0)}), v256)
  dropped = {k: v['__call__'][0].shape for k, v in state['intermediates'].items()
             if k.startswith('dropout')}
  assert dropped == {f'dropout{i}': (1, 2 ** (8 - i), 2 ** (8 - i), 8) for i in (4, 5, 6)}
  # Without dropout the ResNet generator needs no dropout RNG and ignores `noise`.
  r = translation.ResnetGenerator(ngf=2, n_blocks=1, axis_name=None)
  rv = _init(r, x[:1, :8, :8])
  noisy, quiet = jax.jit(lambda x: [r.apply(rv, x, train=False, noise=noise)
                                     for noise in (True, False)])(x[:1, :8, :8])
  np.testing.assert_array_equal(noisy, quiet)


def test_instance_norm_standardises_each_example_and_channel_without_parameters():
  x = jnp.asarray((3.0 + 2.0 * _RNG.standard_normal((2, 8, 8, 5))) * np.arange(1, 6),
                  jnp.float32)  # channels of different scales and offsets
  norm = layers.norm2d('instance', train=True, axis_name=None, dtype=jnp.float32)
  variables = norm.init(jax.random.PRNGKey(0), x)
  assert state_lib.count_params(variables) == 0      # no parameters, no running statistics
  y = jax.jit(norm.apply)(variables, x)
  np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-5)
  np.testing.assert_allclose(y.var(axis=(1, 2)), 1.0, rtol=1e-3)  # eps 1e-5 against var >= 4
  np.testing.assert_allclose(y[:1], jax.jit(norm.apply)(variables, x[:1]), rtol=1e-6,
                             atol=1e-6)


def test_paddings_are_pytorchs():
  x = jnp.arange(3.0).reshape(1, 1, 3, 1) * jnp.ones((1, 3, 1, 1))
  row = lambda mode: list(np.asarray(layers.pad(x, 2, mode))[0, 2, :, 0])
  assert row('reflect') == [2, 1, 0, 1, 2, 1, 0]
  assert row('replicate') == [0, 0, 0, 1, 2, 2, 2]
  assert row('zero') == [0, 0, 0, 1, 2, 0, 0]


def test_defaults_give_a_small_pix2pix_and_the_resnet_depth_by_size():
  g, d = models.build(_config(), (32, 32, 3), jnp.float32)
  assert (g.num_downs, g.dropout_blocks, d.n_layers) == (5, 3, 3)
  x = jnp.zeros((2, 32, 32, 3))
  out = jax.eval_shape(lambda: g.init_with_output(jax.random.PRNGKey(0), x, train=False,
                                                  noise=False)[0])
  assert out.shape == (2, 32, 32, 3)
  logits = jax.eval_shape(lambda: d.init_with_output(
      jax.random.PRNGKey(0), jnp.zeros((2, 32, 32, 6)), train=False)[0])
  assert logits.shape == (2, 2, 2, 1)
  g, _ = models.build(_config(generator='resnet'), (64, 48, 3), jnp.float32)
  assert g.n_blocks == 6
  g, _ = models.build(_config(generator='resnet'), (256, 256, 3), jnp.float32)
  assert g.n_blocks == 9


@pytest.mark.parametrize('fields,shape,num_classes,message', [
    (dict(), (32, 64, 3), 0, 'square'),
    (dict(), (48, 48, 3), 0, 'power-of-two'),
    (dict(unet_downs=6), (32, 32, 3), 0, 'unet_downs=5'),
    (dict(), (16, 16, 3), 0, 'at least 5'),
    (dict(dropout_blocks=4), (32, 32, 3), 0, 'dropout_blocks'),
    (dict(generator='resnet'), (30, 32, 3), 0, 'multiples of 4'),
    (dict(generator='vae'), (32, 32, 3), 0, "'unet', 'resnet'"),
    (dict(discriminator='global'), (32, 32, 3), 0, "'patch', 'pixel'"),
    (dict(norm='layer'), (32, 32, 3), 0, "'batch', 'instance', 'none'"),
    (dict(padding='circular'), (32, 32, 3), 0, "'reflect', 'zero', 'replicate'"),
    (dict(d_layers=0), (32, 32, 3), 0, 'at least 1'),
    (dict(generator='resnet', d_layers=3), (16, 16, 3), 0, 'too deep'),
    (dict(), (32, 32, 3), 10, 'not class-conditional'),
])
def test_build_errors_say_what_to_change(fields, shape, num_classes, message):
  with pytest.raises(ValueError, match=message):
    models.build(_config(**fields), shape, jnp.float32, num_classes)
