"""The ResNet GANs (SNGAN, SAGAN, BigGAN): parameter counts of the reference implementations,
spectral normalisation, self-attention, the projection term, orthogonal regularisation, and the
start-up errors."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from conftest import load_experiment
from gan_jax import configs, parallel, penalties, steps, train
from gan_jax.models import layers, resnet
from gan_jax.state import count_params


def _model_config(**fields):
  c = ml_collections.ConfigDict()
  resnet.defaults(c)
  for k, v in fields.items():
    c[k] = v
  return c


def _counts(model_config, num_classes, shape=(32, 32, 3)):
  g, d = resnet.build(model_config, shape, jnp.float32, num_classes)
  z = jnp.zeros((2, model_config.z_dim))
  y = jnp.zeros((2,), jnp.int32) if num_classes else None
  g_vars = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(0), z, y, train=False))
  d_vars = jax.eval_shape(lambda: d.init(jax.random.PRNGKey(0), jnp.zeros((2, *shape)), y,
                                         train=False))
  return count_params(g_vars['params']), count_params(d_vars['params'])


SNGAN = dict(g_ch=64, g_mults=(4, 4, 4, 4), d_ch=128, d_mults=(1, 1, 1, 1),
             d_down=(True, True, False, False), d_wide=False, d_linear_bias=False)


def test_parameter_counts_equal_the_reference_implementations():
  # REFERENCES.md, "Parameter counts of the reference implementations":
  # SNGAN's CIFAR ResNet (sngan_projection gen_models/resnet_32.py, dis_models/snresnet_32.py):
  # unconditional G 4,276,739 / D 1,053,824 (final linear without bias); conditional (cBN,
  # projection D, 10 classes) 4,304,387 / 1,055,104.
  assert _counts(_model_config(**SNGAN), 0) == (4_276_739, 1_053_824)
  assert _counts(_model_config(**SNGAN), 10) == (4_304_387, 1_055_104)
  # BigGAN-PyTorch BigGAN.py with launch_cifar_ema.sh's settings (G_ch = D_ch = 64, dim_z 128,
  # no shared embedding, no hierarchy, no attention, 10 classes): 4,304,387 / 4,207,361.
  assert _counts(_model_config(), 10) == (4_304_387, 4_207_361)
  # The experiments carry exactly these architectures.
  for name, conditional, expected in (('sngan_cifar10', 0, (4_276_739, 1_053_824)),
                                      ('biggan_cifar10', 10, (4_304_387, 4_207_361))):
    config = load_experiment(name, None)
    assert _counts(config.model, conditional) == expected, name


@pytest.mark.parametrize('size', [64, 128])
def test_widths_and_depth_follow_the_config_at_64_and_128_pixels(size):
  blocks = int(np.log2(size // 4))
  config = _model_config(g_ch=4, d_ch=2, shared_dim=8, hierarchical=True,
                         z_dim=4 * (blocks + 1), g_attention=size // 2, d_attention=size // 8)
  g, d = resnet.build(config, (size, size, 3), jnp.float32, 10)
  z, y = jnp.zeros((3, config.z_dim)), jnp.zeros((3,), jnp.int32)
  g_vars = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(0), z, y, train=False))
  out = jax.eval_shape(lambda v: g.apply(v, z, y, train=False), g_vars)
  assert out.shape == (3, size, size, 3)
  params = g_vars['params']
  assert sorted(k for k in params if k.startswith('block')) == [f'block{i}' for i in range(blocks)]
  mults = resnet.ARCHITECTURES[size]['g_mults']
  for i in range(blocks):  # BigGAN's widths: ch x mults
    assert params[f'block{i}']['conv2']['kernel'].shape[-1] == 4 * mults[i + 1]
  assert 'attention' in params
  d_vars = jax.eval_shape(lambda: d.init(jax.random.PRNGKey(0), jnp.zeros((3, size, size, 3)),
                                         y, train=False))
  assert jax.eval_shape(lambda v: d.apply(v, jnp.zeros((3, size, size, 3)), y, train=False),
                        d_vars).shape == (3,)
  assert 'attention' in d_vars['params']
  # Each block's z chunk of 4 joins the shared embedding of 8.
  assert params['block0']['bn1']['gain']['kernel'].shape[0] == 8 + 4


def test_spectral_norm_estimates_the_largest_singular_value():
  layer = layers.SNDense(7)
  x = jax.random.normal(jax.random.PRNGKey(0), (5, 12))
  variables = layer.init(jax.random.PRNGKey(1), x)
  kernel = variables['params']['kernel']
  sigma_true = float(jnp.linalg.svd(kernel, compute_uv=False)[0])
  stats = variables['batch_stats']
  estimates = []
  apply = jax.jit(lambda stats: layer.apply({'params': variables['params'],
                                             'batch_stats': stats}, x, update=True,
                                            mutable=['batch_stats'])[1]['batch_stats'])
  for _ in range(50):  # one power iteration per updating call
    stats = apply(stats)
    sigma, _ = layers.power_iteration(kernel, stats[layers.SPECTRAL_VECTOR])
    estimates.append(float(sigma))
  assert abs(estimates[0] - sigma_true) > 1e-4 * sigma_true  # one iteration is not enough...
  np.testing.assert_allclose(estimates[-1], sigma_true, rtol=1e-4)  # ...fifty are
  # The layer's output is x W / sigma(W), and sigma(W / sigma) is 1.
  sigma_used, _ = layers.power_iteration(kernel, variables['batch_stats'][layers.SPECTRAL_VECTOR])
  y0 = layer.apply(variables, x)
  np.testing.assert_allclose(y0, x @ kernel / sigma_used + variables['params']['bias'],
                             rtol=1e-5, atol=1e-6)
  # Without `update`, the vector is not stored.
  _, updates = layer.apply(variables, x, update=False, mutable=['batch_stats'])
  np.testing.assert_array_equal(updates['batch_stats'][layers.SPECTRAL_VECTOR],
                                variables['batch_stats'][layers.SPECTRAL_VECTOR])
  # Convolution kernels are read as (kh * kw * in, out) matrices.
  conv = layers.SNConv(6, 3)
  images = jax.random.normal(jax.random.PRNGKey(2), (2, 8, 8, 4))
  cv = conv.init(jax.random.PRNGKey(3), images)
  matrix = cv['params']['kernel'].reshape(-1, 6)
  s, _ = layers.power_iteration(matrix, cv['batch_stats'][layers.SPECTRAL_VECTOR])
  expected = jax.lax.conv_general_dilated(images, cv['params']['kernel'] / s, (1, 1), 'SAME',
                                          dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  np.testing.assert_allclose(conv.apply(cv, images), expected + cv['params']['bias'],
                             rtol=1e-5, atol=1e-5)


def test_attention_is_the_identity_at_gate_zero_and_matches_a_hand_computation():
  block = layers.SelfAttention(spectral=False)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 4, 16))
  variables = block.init(jax.random.PRNGKey(1), x)
  assert float(variables['params']['gamma']) == 0.0
  np.testing.assert_array_equal(block.apply(variables, x), x)
  # With the gate at 0.5: x + 0.5 o(softmax(theta phi^T) g), phi and g max-pooled 2x2.
  p = jax.tree.map(np.asarray, variables['params'])
  p['gamma'] = np.float32(0.5)
  xn = np.asarray(x, np.float64)
  proj = lambda v, name: v @ p[name]['kernel'].reshape(v.shape[-1], -1)
  pool = lambda v: v.reshape(2, 2, 2, 2, 2, -1).max(axis=(2, 4))
  theta = proj(xn, 'theta').reshape(2, 16, 2)
  phi = pool(proj(xn, 'phi')).reshape(2, 4, 2)
  g = pool(proj(xn, 'g')).reshape(2, 4, 8)
  logits = np.einsum('nqc,nkc->nqk', theta, phi)
  beta = np.exp(logits - logits.max(-1, keepdims=True))
  beta /= beta.sum(-1, keepdims=True)
  o = proj(np.einsum('nqk,nkc->nqc', beta, g).reshape(2, 4, 4, 8), 'o')
  np.testing.assert_allclose(block.apply({'params': p}, x), xn + 0.5 * o, rtol=1e-4, atol=1e-5)


def test_projection_term_is_the_class_embedding_dot_the_summed_features():
  config = _model_config(g_ch=2, d_ch=2, d_sn=False)
  _, d = resnet.build(config, (32, 32, 3), jnp.float32, 10)
  x = jax.random.uniform(jax.random.PRNGKey(0), (1, 32, 32, 3), minval=-1, maxval=1)
  y = jnp.array([3])
  variables = d.init(jax.random.PRNGKey(1), x, y, train=False)
  params = variables['params']

  def logit(p):
    return d.apply({**variables, 'params': p}, x, y, train=False)[0]
  # phi(x), the summed features, is the gradient of the logit by the final layer's kernel.
  phi = jax.grad(lambda k: logit({**params, 'linear': {**params['linear'], 'kernel': k}}))(
      params['linear']['kernel'])[:, 0]
  table = jax.random.normal(jax.random.PRNGKey(2), params['embed']['embedding'].shape)
  without = logit({**params, 'embed': {'embedding': jnp.zeros_like(table)}})
  with_table = logit({**params, 'embed': {'embedding': table}})
  np.testing.assert_allclose(with_table - without, float(jnp.dot(table[3], phi)), rtol=1e-4)
  expected_psi = float(jnp.dot(phi, params['linear']['kernel'][:, 0]) + params['linear']['bias'][0])
  np.testing.assert_allclose(without, expected_psi, rtol=1e-4, atol=1e-5)


def test_orthogonal_penalty_matches_hand_computed_values():
  a = np.array([[1.0, 2.0], [3.0, 4.0], [0.0, 1.0]], np.float32)   # (fan-in 3, outputs 2)
  conv = np.arange(2 * 2 * 1 * 3, dtype=np.float32).reshape(2, 2, 1, 3) / 10
  params = {'dense': {'kernel': a, 'bias': np.ones(2, np.float32)},
            'conv': {'kernel': conv},
            'shared': {'embedding': np.ones((4, 2), np.float32)}}  # left out, as BigGAN's
  # dense: the filters' inner product 1*2 + 3*4 + 0*1 = 14, off the diagonal twice: 2 * 14^2.
  expected = 2 * 14.0 ** 2
  w = conv.reshape(4, 3)
  gram = w.T @ w
  expected += float(np.sum((gram * (1 - np.eye(3))) ** 2))
  got = float(penalties.orthogonal_penalty(params, exclude=('shared',)))
  np.testing.assert_allclose(got, expected, rtol=1e-6)
  # Orthogonal filters cost nothing.
  q = np.linalg.qr(np.random.default_rng(0).normal(size=(5, 5)))[0].astype(np.float32)
  assert float(penalties.orthogonal_penalty({'k': q * 3})) < 1e-8


def test_one_power_iteration_per_update_from_the_stored_vectors():
  config = load_experiment('biggan_digits')
  config.train.augment = ''
  config.model.g_attention = config.model.d_attention = 0
  config.model.weight_init = 'normal'  # orthogonal kernels: every vector is a fixed point
  spec, family = train.build(config)
  mesh = parallel.make_mesh(jax.devices()[:1])
  _, init = train.abstract_state(family, mesh)
  state = jax.device_get(init(jax.random.PRNGKey(0)))
  # Vectors far from converged, so that one iteration and two differ.
  state = state.replace(players={
      name: p.replace(batch_stats=jax.tree_util.tree_map_with_path(
          lambda path, x: (np.asarray(jax.random.normal(jax.random.PRNGKey(len(path)), x.shape))
                           if path[-1].key == layers.SPECTRAL_VECTOR else x), p.batch_stats))
      for name, p in state.players.items()})
  step = train.sharded_step(config, family, mesh)
  rng = np.random.default_rng(0)
  batch = {'image': rng.uniform(-1, 1, (1, 16, 32, 32, 1)).astype(np.float32),
           'label': rng.integers(0, 10, (1, 16)).astype(np.int32)}
  sharded = jax.device_put(state, parallel.replicated(mesh))
  new, _ = step(sharded, parallel.global_batch_array(batch, mesh))
  new = jax.device_get(new)
  for player, layer in (('d', ('block1', 'conv1')), ('g', ('block2', 'conv2'))):
    old_p, new_p = state.players[player], new.players[player]
    kernel = old_p.params[layer[0]][layer[1]]['kernel']
    u0 = old_p.batch_stats[layer[0]][layer[1]][layers.SPECTRAL_VECTOR]
    _, u1 = layers.power_iteration(kernel.reshape(-1, kernel.shape[-1]), u0)
    stored = new_p.batch_stats[layer[0]][layer[1]][layers.SPECTRAL_VECTOR]
    np.testing.assert_allclose(stored, u1, rtol=1e-5, atol=1e-6, err_msg=player)
    _, u2 = layers.power_iteration(kernel.reshape(-1, kernel.shape[-1]), u1)
    assert np.abs(np.asarray(u2) - np.asarray(u1)).max() > 1e-6  # a second would differ


def test_standing_statistics_keep_spectral_vectors_the_networks_own():
  # BN statistics are averaged over the standing batches; spectral vectors are iterated on the
  # network's weights from where they were, never reset.
  def run(stats, key):
    x = jax.random.normal(key, (64,))
    return {'bn': {'mean': 0.9 * stats['bn']['mean'] + 0.1 * x.mean(),
                   'var': 0.9 * stats['bn']['var'] + 0.1 * x.var()},
            'sn': {layers.SPECTRAL_VECTOR: stats['sn'][layers.SPECTRAL_VECTOR] * 0.5}}
  stats = {'bn': {'mean': jnp.float32(7.0), 'var': jnp.float32(7.0)},
           'sn': {layers.SPECTRAL_VECTOR: jnp.ones(3)}}
  keys = jax.random.split(jax.random.PRNGKey(0), 4)
  out = steps.standing_stats(run, stats, keys)
  means = [float(jax.random.normal(k, (64,)).mean()) for k in keys]
  np.testing.assert_allclose(out['bn']['mean'], np.mean(means), rtol=1e-5)
  np.testing.assert_allclose(out['sn'][layers.SPECTRAL_VECTOR], 0.5 ** 4 * np.ones(3))


def test_start_up_errors_name_the_problem_and_the_choices():
  def build(**overrides):
    config = load_experiment('biggan_digits')
    for key, value in overrides.items():
      section, field = key.split('.')
      config[section][field] = value
    configs.validate(config, 1)
  with pytest.raises(ValueError, match=r'g_attention=12.*choose one of \[8, 16, 32\]'):
    build(**{'model.g_attention': 12})
  with pytest.raises(ValueError, match=r'd_attention=32.*choose one of \[8, 16\]'):
    build(**{'model.d_attention': 32})
  with pytest.raises(ValueError, match=r'z of 10 does not split evenly into 4 chunks'):
    build(**{'model.z_dim': 10})
  with pytest.raises(ValueError, match=r"needs labelled data"):
    build(**{'data.num_classes': 0})
  with pytest.raises(ValueError, match=r"unknown model.weight_init 'he'"):
    build(**{'model.weight_init': 'he'})
  with pytest.raises(ValueError, match=r"model.conditioning='concat'.*\['projection', 'acgan'\]"):
    build(**{'model.conditioning': 'concat'})
  with pytest.raises(ValueError, match=r'g_mults=\(4, 4\).*takes 4 multipliers'):
    build(**{'model.g_mults': (4, 4)})
  with pytest.raises(ValueError, match=r'ortho_weight must be in \[0.0, inf\)'):
    build(**{'loss.ortho_weight': -1.0})
  with pytest.raises(ValueError, match=r"unknown.*'flip'.*color"):
    build(**{'train.augment': 'flip'})
