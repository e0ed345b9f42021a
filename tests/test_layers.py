"""The reformulated (transposed) strided convolutions are the plain ones: outputs and
gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import layers


def _reference_conv_transpose(x, kernel):
  """out[o] = sum_i x[i] W[o + 1 - 2 i] per spatial axis (PyTorch ConvTranspose2d(4, 2, 1)),
  written as loops over numpy arrays, independent of the XLA formulations."""
  n, h, w, _ = x.shape
  out = np.zeros((n, 2 * h, 2 * w, kernel.shape[-1]))
  for i in range(h):
    for j in range(w):
      for kh in range(4):
        for kw in range(4):
          oh, ow = 2 * i - 1 + kh, 2 * j - 1 + kw
          if 0 <= oh < 2 * h and 0 <= ow < 2 * w:
            out[:, oh, ow] += x[:, i, j] @ kernel[kh, kw]
  return out


def test_plain_transposed_conv_matches_definition():
  x = np.random.default_rng(0).normal(size=(2, 3, 4, 3))
  k = np.random.default_rng(1).normal(size=(4, 4, 3, 5))
  got = layers.conv_transpose_4x2(jnp.asarray(x, jnp.float32), jnp.asarray(k, jnp.float32))
  np.testing.assert_allclose(got, _reference_conv_transpose(x, k), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('grad', layers.UPCONV_GRADS)
@pytest.mark.parametrize('method', sorted(layers.UPCONV_METHODS))
@pytest.mark.parametrize('shape,c_out', [((2, 4, 4, 3), 5), ((1, 5, 3, 1), 2), ((3, 2, 2, 8), 1)])
def test_upconv_methods_match_plain_outputs_and_gradients(method, grad, shape, c_out):
  """Every formulation, with gradients through the adjoint or by autodiff, against autodiff of
  the plain transposed convolution (itself checked against the definition above)."""
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  k = jax.random.normal(jax.random.PRNGKey(1), (4, 4, shape[-1], c_out))
  out_shape = (shape[0], 2 * shape[1], 2 * shape[2], c_out)
  cotangent = jax.random.normal(jax.random.PRNGKey(2), out_shape)
  fast_op = layers.upconv_function(method, grad)
  plain = layers.conv_transpose_4x2(x, k)
  fast = jax.jit(fast_op)(x, k)
  assert fast.shape == plain.shape == cotangent.shape
  np.testing.assert_allclose(fast, plain, rtol=1e-5, atol=1e-5)

  def grads(fn):
    return jax.jit(jax.grad(lambda x, k: jnp.sum(fn(x, k) * cotangent), argnums=(0, 1)))(x, k)

  (gx_plain, gk_plain), (gx_fast, gk_fast) = grads(layers.conv_transpose_4x2), grads(fast_op)
  np.testing.assert_allclose(gx_fast, gx_plain, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(gk_fast, gk_plain, rtol=1e-4, atol=1e-4)


def test_adjoint_gradients_in_bfloat16_stay_close_to_float32():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 4, 8))
  k = 0.1 * jax.random.normal(jax.random.PRNGKey(1), (4, 4, 8, 4))
  loss = lambda fn, dtype: lambda x, k: jnp.sum(fn(x.astype(dtype), k.astype(dtype)) ** 2)
  want = jax.grad(loss(layers.conv_transpose_4x2, jnp.float32), argnums=(0, 1))(x, k)
  got = jax.grad(loss(layers.upconv_function('phases'), jnp.bfloat16), argnums=(0, 1))(x, k)
  for g, w in zip(got, want):
    assert g.dtype == jnp.float32
    np.testing.assert_allclose(g, w, rtol=0.05, atol=0.05 * float(jnp.abs(w).max()))


def test_upconv_module_is_the_same_function_whichever_method():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 4, 6))
  params = layers.UpConv2x(3).init(jax.random.PRNGKey(3), x)
  assert params['params']['kernel'].shape == (4, 4, 6, 3)
  outputs = [layers.UpConv2x(3, method=m).apply(params, x) for m in sorted(layers.UPCONV_METHODS)]
  for other in outputs[1:]:
    np.testing.assert_allclose(other, outputs[0], rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="unknown model.upconv 'fft'"):
    layers.UpConv2x(3, method='fft').init(jax.random.PRNGKey(3), x)
  with pytest.raises(ValueError, match="unknown model.upconv_grad 'numeric'"):
    layers.UpConv2x(3, grad='numeric').init(jax.random.PRNGKey(3), x)


def test_depth_to_space_places_phases():
  # Channel (ry, rx) of input pixel (i, j) lands at output pixel (2i + ry, 2j + rx).
  x = jnp.arange(2 * 3 * 4, dtype=jnp.float32).reshape(1, 2, 3, 4)
  y = layers.depth_to_space(x)
  assert y.shape == (1, 4, 6, 1)
  for i in range(2):
    for j in range(3):
      for ry in range(2):
        for rx in range(2):
          assert y[0, 2 * i + ry, 2 * j + rx, 0] == x[0, i, j, 2 * ry + rx]


def test_maxout_takes_the_max_of_pieces():
  m = layers.Maxout(features=2, pieces=3)
  x = jnp.ones((1, 4))
  params = m.init(jax.random.PRNGKey(0), x)
  dense = params['params']['Dense_0']
  pieces = (x @ dense['kernel'] + dense['bias']).reshape(1, 2, 3)
  np.testing.assert_allclose(m.apply(params, x), pieces.max(-1), rtol=1e-6)


@pytest.mark.parametrize('method', ['blocks', 'im2col'])
@pytest.mark.parametrize('shape,c_out', [((2, 8, 6, 3), 5), ((1, 4, 4, 1), 2)])
def test_strided_conv_reformulations_match_plain_outputs_and_gradients(method, shape, c_out):
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  k = jax.random.normal(jax.random.PRNGKey(1), (4, 4, shape[-1], c_out))
  cotangent = jax.random.normal(jax.random.PRNGKey(2),
                                (shape[0], shape[1] // 2, shape[2] // 2, c_out))
  fast_op = layers.DOWNCONV_METHODS[method]
  plain, fast = layers.conv_4x2(x, k), fast_op(x, k)
  assert fast.shape == plain.shape == cotangent.shape
  np.testing.assert_allclose(fast, plain, rtol=1e-5, atol=1e-5)
  grads = lambda fn: jax.grad(lambda x, k: jnp.sum(fn(x, k) * cotangent), argnums=(0, 1))(x, k)
  for got, want in zip(grads(fast_op), grads(layers.conv_4x2)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  with pytest.raises(ValueError, match='even height and width'):
    fast_op(jnp.ones((1, 5, 4, 1)), k[:, :, :1])


def test_dcgan_is_the_same_function_whichever_convolution_methods():
  """The image-side layers have their own method fields; any choice gives the same networks."""
  from gan_jax.models import dcgan
  z = jax.random.normal(jax.random.PRNGKey(0), (2, 8))
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 32, 32, 3))
  g = dcgan.Generator(out_shape=(32, 32, 3), width=4, axis_name=None)
  d = dcgan.Discriminator(width=4, axis_name=None)
  g_vars, d_vars = g.init(jax.random.PRNGKey(2), z, train=False), d.init(jax.random.PRNGKey(3), x,
                                                                          train=False)
  g_ref = g.clone(upconv='plain', upconv_out='plain').apply(g_vars, z, train=False)
  d_ref = d.clone(downconv='plain', downconv_in='plain').apply(d_vars, x, train=False)
  for up in ('phases', 'subpixel'):
    np.testing.assert_allclose(g.clone(upconv=up, upconv_out=up).apply(g_vars, z, train=False),
                               g_ref, rtol=1e-5, atol=1e-5)
  for down in ('blocks', 'im2col'):
    np.testing.assert_allclose(
        d.clone(downconv=down, downconv_in=down).apply(d_vars, x, train=False), d_ref,
        rtol=1e-4, atol=1e-5)
  with pytest.raises(ValueError, match="unknown model.downconv_in 'fft'"):
    d.clone(downconv_in='fft').apply(d_vars, x, train=False)
  with pytest.raises(ValueError, match="unknown model.upconv_out 'fft'"):
    g.clone(upconv_out='fft').apply(g_vars, z, train=False)
