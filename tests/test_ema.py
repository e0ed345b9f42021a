"""The EMA generator runs with batch-norm statistics of its own (standing statistics), not the
raw generator's. (The same on 1 and 8 devices: test_step.py.)"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from conftest import load_experiment
from gan_jax import parallel, steps, train


class _TwoNorms(nn.Module):
  @nn.compact
  def __call__(self, x, *, train):
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
    x = nn.Dense(3)(x) * 2.0 + 1.0
    return nn.BatchNorm(use_running_average=not train, momentum=0.5)(x)


def test_standing_stats_are_the_mean_of_each_batchs_statistics_whatever_the_momentum():
  net = _TwoNorms()
  variables = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 4)), train=False)
  batches = [jax.random.normal(jax.random.PRNGKey(i), (32, 4)) * (1 + i) + i for i in range(5)]

  def run(stats, key):
    x = jnp.stack(batches)[key]
    _, updates = net.apply({**variables, 'batch_stats': stats}, x, train=True,
                           mutable=['batch_stats'])
    return updates['batch_stats']
  stats = steps.standing_stats(run, variables['batch_stats'], jnp.arange(5))
  # By hand: each layer's statistics on each batch, averaged.
  x = jnp.concatenate(batches)
  first = [b.mean(0) for b in batches], [b.var(0) for b in batches]
  np.testing.assert_allclose(stats['BatchNorm_0']['mean'], np.mean(first[0], axis=0), rtol=1e-5)
  np.testing.assert_allclose(stats['BatchNorm_0']['var'], np.mean(first[1], axis=0), rtol=1e-4)
  dense = variables['params']['Dense_0']
  hidden = []
  for b in batches:
    h = (b - b.mean(0)) / jnp.sqrt(b.var(0) + 1e-5)
    hidden.append((h @ dense['kernel'] + dense['bias']) * 2.0 + 1.0)
  np.testing.assert_allclose(stats['BatchNorm_1']['mean'],
                             np.mean([h.mean(0) for h in hidden], axis=0), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(stats['BatchNorm_1']['var'],
                             np.mean([h.var(0) for h in hidden], axis=0), rtol=1e-4)
  del x


def _trained(config, devices=None, num_steps=3):
  spec, family = train.build(config)
  mesh = parallel.make_mesh(devices or jax.devices()[:1])
  _, init = train.abstract_state(family, mesh)
  state = init(jax.random.PRNGKey(0))
  step = train.sharded_step(config, family, mesh)
  rng = np.random.default_rng(0)
  for _ in range(num_steps):
    images = rng.uniform(-1, 1, (1, config.train.batch_size, *spec.shape)).astype(np.float32)
    batch = {'image': images, 'label': np.zeros((1, config.train.batch_size), np.int32)}
    state, _ = step(state, parallel.global_batch_array(batch, mesh))
  return family, mesh, state


def test_the_ema_generator_gets_statistics_computed_for_its_own_parameters():
  config = load_experiment('dcgan_digits')
  config.train.ema_decay = 0.9
  family, mesh, state = _trained(config)
  refreshed = jax.device_get(train.sharded_refresh(config, family, mesh)(state))
  raw = refreshed.players['g'].batch_stats
  own = refreshed.ema['g'].batch_stats
  diff = jax.tree.map(lambda a, b: float(np.abs(a - b).max()), raw, own)
  assert max(jax.tree.leaves(diff)) > 1e-3  # not the raw generator's running averages
  # They are what the EMA parameters give in training mode on the standing batches: the first
  # layer's mean is the mean of its pre-normalisation activations over those latents.
  g = family.generator.clone(axis_name=None)
  n = config.train.standing_batch_size
  base = jax.random.fold_in(refreshed.rng, 0x57A4D)
  means = []
  for b in range(config.train.standing_batches):
    key = jax.random.fold_in(base, b)
    z = jnp.stack([jax.random.normal(jax.random.fold_in(jax.random.fold_in(key, i), 0),
                                     (config.model.z_dim,)) for i in range(n)])
    _, inter = g.apply(refreshed.ema['g'].variables(), z, train=True, mutable=['batch_stats'],
                       capture_intermediates=True)
    h = inter['intermediates']['Dense_0']['__call__'][0].reshape(n, 4, 4, -1)
    means.append(np.asarray(h).mean(axis=(0, 1, 2)))
  np.testing.assert_allclose(own['BatchNorm_0']['mean'], np.mean(means, axis=0), rtol=1e-4,
                             atol=1e-6)


def test_without_ema_the_generator_keeps_its_own_statistics():
  config = load_experiment('dcgan_digits')
  config.train.ema_decay = 0.0
  family, mesh, state = _trained(config, num_steps=1)
  refreshed = jax.device_get(train.sharded_refresh(config, family, mesh)(state))
  for a, b in zip(jax.tree.leaves(refreshed.players['g'].batch_stats),
                  jax.tree.leaves(refreshed.ema['g'].batch_stats)):
    np.testing.assert_array_equal(a, b)
  # 'generator' statistics: the old behaviour, for comparisons.
  config.train.ema_decay = 0.9
  config.train.ema_stats = 'generator'
  family, mesh, state = _trained(config, num_steps=1)
  refreshed = jax.device_get(train.sharded_refresh(config, family, mesh)(state))
  for a, b in zip(jax.tree.leaves(refreshed.players['g'].batch_stats),
                  jax.tree.leaves(refreshed.ema['g'].batch_stats)):
    np.testing.assert_array_equal(a, b)
