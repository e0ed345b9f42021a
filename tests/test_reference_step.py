"""The update step against an independent reference: one discriminator and one generator update
computed by hand (jax.grad and optax on one device, no shard_map, losses written out here), and
a short 1-D run whose samples must move toward the data."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from conftest import load_experiment
from gan_jax import parallel, train


def _close(a, b, rtol=1e-4, atol=1e-6):
  paths_a = jax.tree_util.tree_leaves_with_path(a)
  paths_b = jax.tree_util.tree_leaves_with_path(b)
  assert [p for p, _ in paths_a] == [p for p, _ in paths_b]
  for (path, x), (_, y) in zip(paths_a, paths_b):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol,
                               err_msg=jax.tree_util.keystr(path))


def _latents(key, n, z_dim):
  # Example i's latent comes from fold_in(key, i) (its index in the global batch).
  return jnp.stack([jax.random.normal(jax.random.fold_in(key, i), (z_dim,)) for i in range(n)])


def test_one_step_equals_the_updates_computed_by_hand():
  # DCGAN with batch norm in both players, non-saturating loss, Adam(2e-4, 0.5, 0.999), EMA.
  config = load_experiment('dcgan_digits')
  config.train.batch_size = 8
  spec, family = train.build(config)
  mesh = parallel.make_mesh(jax.devices()[:1])
  _, init = train.abstract_state(family, mesh)
  state = jax.device_get(init(jax.random.PRNGKey(config.seed)))
  real = np.random.default_rng(0).uniform(-1, 1, (8, *spec.shape)).astype(np.float32)
  batch = {'image': real[None], 'label': np.zeros((1, 8), np.int32)}
  step = train.sharded_step(config, family, mesh)
  stepped, metrics = step(jax.device_put(state), parallel.global_batch_array(batch, mesh))
  stepped, metrics = jax.device_get((stepped, metrics))

  # By hand. The same modules with their statistics over this one batch (no mesh axis).
  g = family.generator.clone(axis_name=None)
  d = family.discriminator.clone(axis_name=None)
  g0, d0 = state.players['g'], state.players['d']
  z_dim = config.model.z_dim
  step_key = jax.random.fold_in(state.rng, 0)
  d_key = jax.random.split(jax.random.fold_in(step_key, 0), 1)[0]
  z = _latents(jax.random.fold_in(d_key, 0), 8, z_dim)   # purpose 0: D's latents
  fake, _ = jax.jit(lambda z: g.apply({'params': g0.params, 'batch_stats': g0.batch_stats}, z,
                                      train=True, mutable=['batch_stats']))(z)

  def d_loss(params):
    # -log D(x) - log(1 - D(G(z))); D's running statistics take the real batch, then the fake.
    real_logits, s = d.apply({'params': params, 'batch_stats': d0.batch_stats}, real,
                             train=True, mutable=['batch_stats'])
    fake_logits, s = d.apply({'params': params, 'batch_stats': s['batch_stats']}, fake,
                             train=True, mutable=['batch_stats'])
    loss = (-jnp.mean(jnp.log(jax.nn.sigmoid(real_logits)))
            - jnp.mean(jnp.log(1.0 - jax.nn.sigmoid(fake_logits))))
    return loss, s['batch_stats']

  adam = optax.adam(2e-4, b1=0.5, b2=0.999, eps=1e-8)
  (loss, d_stats), grads = jax.jit(jax.value_and_grad(d_loss, has_aux=True))(d0.params)
  updates, _ = adam.update(grads, adam.init(d0.params), d0.params)
  d_params = optax.apply_updates(d0.params, updates)
  np.testing.assert_allclose(metrics['d_loss'], loss, rtol=1e-5)
  _close(stepped.players['d'].params, d_params)
  _close(stepped.players['d'].batch_stats, d_stats)

  z = _latents(jax.random.fold_in(jax.random.fold_in(step_key, 1), 2), 8, z_dim)  # G's: 2

  def g_loss(params):
    # -log D(G(z)) against the updated D, whose statistics G's update leaves alone.
    fake, s = g.apply({'params': params, 'batch_stats': g0.batch_stats}, z, train=True,
                      mutable=['batch_stats'])
    logits, _ = d.apply({'params': d_params, 'batch_stats': d_stats}, fake, train=True,
                        mutable=['batch_stats'])
    return -jnp.mean(jnp.log(jax.nn.sigmoid(logits))), s['batch_stats']

  (loss, g_stats), grads = jax.jit(jax.value_and_grad(g_loss, has_aux=True))(g0.params)
  updates, _ = adam.update(grads, adam.init(g0.params), g0.params)
  g_params = optax.apply_updates(g0.params, updates)
  np.testing.assert_allclose(metrics['g_loss'], loss, rtol=1e-5)
  _close(stepped.players['g'].params, g_params)
  _close(stepped.players['g'].batch_stats, g_stats)
  # The EMA at step 0 decays by min(0.999, 1 / 10).
  _close(stepped.ema['g'].params,
         jax.tree.map(lambda e, p: 0.1 * e + 0.9 * p, state.ema['g'].params, g_params))


def test_a_short_1d_run_moves_the_samples_toward_the_data():
  config = load_experiment('gan_1d', None)  # the full model: data N(4, 0.5)
  config.train.batch_size = 64
  config.train.d_steps = 1
  config.optim.g_lr = 2e-3
  config.optim.d_lr = 2e-3
  spec, family = train.build(config)
  mesh = parallel.make_mesh(jax.devices()[:1])
  _, init = train.abstract_state(family, mesh)
  state = init(jax.random.PRNGKey(0))
  step = train.sharded_step(config, family, mesh)

  def sample_mean(state):
    ema = jax.device_get(state.ema['g'])  # equal to G: ema_decay is 0
    return float(family.sample(ema, seed=1, num=2000)[0].mean())

  rng = np.random.default_rng(0)
  before = sample_mean(state)
  for _ in range(300):
    points = rng.normal(4.0, 0.5, (1, 64, 1)).astype(np.float32)
    state, _ = step(state, parallel.global_batch_array(
        {'points': points, 'label': np.zeros((1, 64), np.int32)}, mesh))
  after = sample_mean(state)
  assert abs(before - 4.0) > 2.0          # G starts far from the data...
  assert abs(after - 4.0) < 0.5 * abs(before - 4.0)  # ...and has covered most of the way
