"""The sharded update step: the same global batch gives the same result on 1 and 8 devices,
and its random numbers are fresh for every example, step and purpose."""

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from conftest import assert_metrics_close, assert_trees_close, load_experiment
from gan_jax import configs, parallel, steps, train
from gan_jax.families import gan
from gan_jax.models import layers, mlp


def _batch(spec, local, labels=None):
  """A batch dict as the pipeline gives it: the examples under the data's key, and labels."""
  if labels is None:
    labels = np.zeros(local.shape[:2], np.int32)
  return {spec.key: local.astype(np.float32), 'label': labels.astype(np.int32)}


def _run(config, devices, num_steps=3, seed=0):
  spec, family = train.build(config)
  mesh = parallel.make_mesh(devices)
  _, init = train.abstract_state(family, mesh)
  state = init(jax.random.PRNGKey(config.seed))
  step = train.sharded_step(config, family, mesh)
  rng = np.random.default_rng(seed)
  history = []
  for _ in range(num_steps):
    local = rng.uniform(-1, 1, (config.train.d_steps, config.train.batch_size, *spec.shape))
    labels = rng.integers(0, max(spec.num_classes, 1), local.shape[:2])
    state, metrics = step(state, parallel.global_batch_array(_batch(spec, local, labels), mesh))
    history.append(jax.device_get(metrics))
  state = train.sharded_refresh(config, family, mesh)(state)  # the EMA's own statistics
  return jax.device_get(state), history


CASES = {
    # DCGAN with batch norm in G and D: statistics must be taken over the global batch.
    'dcgan_batchnorm': dict(experiment='dcgan_digits', loss='non_saturating', d_steps=1),
    # Two D updates per G update, gradient penalty and R1 (per-example epsilons).
    'mlp_wgan_gp_r1': dict(experiment='gan_ring', loss='wasserstein_gp', d_steps=2, r1=1.0),
    # Maxout D with dropout: each example's mask follows its index in the global batch.
    'mlp_maxout_dropout': dict(experiment='gan_mnist', loss='non_saturating', d_steps=1),
    # PacGAN: D judges packs of 4 consecutive examples, which never straddle two devices.
    'mlp_pacgan4': dict(experiment='gan_ring', loss='non_saturating', d_steps=1, pack=4),
    # ... with G's batch norm per pack slot: each slot's statistics over the global batch.
    'mlp_pacgan4_slot_norm': dict(experiment='gan_ring', loss='non_saturating', d_steps=1,
                                  pack=4, pack_norm='slot'),
    # Packed D with every penalty (per pack), R1 and R2 lazily every 2 steps.
    'mlp_pacgan2_all_penalties': dict(experiment='gan_ring', loss='wasserstein_gp', d_steps=1,
                                      pack=2, r1=1.0, r2=1.0, dragan=1.0, every=2),
    # Class-conditional: labels in G (conditional batch norm) and D (projection, ACGAN head).
    'cdcgan_projection': dict(experiment='cdcgan_digits', loss='non_saturating', d_steps=1),
    'cdcgan_acgan': dict(experiment='cdcgan_digits', loss='hinge', d_steps=2,
                         conditioning='acgan'),
    # BigGAN: spectral norm, hierarchical latents, orthogonal regularisation, and every
    # DiffAugment policy, each example's augmentation from its own key (self-attention, which
    # draws nothing and reduces over each example alone, is left out to save compile time).
    # Its convs have biases right before batch norm, whose gradient is zero up to rounding;
    # Adam's eps of 1e-4 keeps that rounding from being normalised into full steps that differ.
    'biggan_diffaugment': dict(experiment='biggan_digits', loss='hinge', d_steps=1,
                               augment='color,translation,cutout', eps=1e-4, attention=0),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_one_device_equals_eight(case):
  opts = CASES[case]
  config = load_experiment(opts['experiment'])
  config.loss.name = opts['loss']
  config.loss.r1_gamma = opts.get('r1', 0.0)
  config.train.d_steps = opts['d_steps']
  config.model.pack = opts.get('pack', 1)
  config.model.pack_norm = opts.get('pack_norm', 'batch')
  config.model.conditioning = opts.get('conditioning', config.model.conditioning)
  config.loss.r2_gamma = opts.get('r2', 0.0)
  config.loss.dragan_weight = opts.get('dragan', 0.0)
  config.loss.penalty_every = opts.get('every', 1)
  if 'augment' in opts:
    config.train.augment = opts['augment']
  config.optim.eps = opts.get('eps', config.optim.eps)
  if 'attention' in opts:
    config.model.g_attention = config.model.d_attention = opts['attention']
  config.train.batch_size = 32
  state_1, metrics_1 = _run(config, jax.devices()[:1])
  state_8, metrics_8 = _run(config, jax.devices()[:8])
  assert int(state_1.step) == int(state_8.step) == 3
  assert_metrics_close(metrics_1, metrics_8, rtol=2e-4, atol=1e-5)
  lr = max(config.optim.g_lr, config.optim.d_lr)
  for name in ('g', 'd'):
    assert_trees_close(state_1.players[name].params, state_8.players[name].params, rtol=1e-3,
                       atol=1e-5, step_size=lr)
    assert_trees_close(state_1.players[name].batch_stats, state_8.players[name].batch_stats,
                       rtol=1e-3, atol=1e-5)
  assert_trees_close(state_1.ema, state_8.ema, rtol=1e-3, atol=1e-5, step_size=lr)
  # ...and training did move the parameters (the comparison is not between two initial states).
  _, init = train.abstract_state(train.build(config)[1], parallel.make_mesh(jax.devices()[:1]))
  initial = jax.device_get(init(jax.random.PRNGKey(config.seed)))
  moved = jax.tree.map(lambda a, b: float(np.abs(a - b).max()), initial.players['g'].params,
                       state_8.players['g'].params)
  assert max(jax.tree.leaves(moved)) > 1e-4


def test_example_keys_are_distinct_across_devices_steps_and_purposes():
  mesh = parallel.make_mesh(jax.devices()[:8])

  def keys_for(key):
    return jax.random.key_data(steps.example_keys(key, 4, parallel.AXIS))[None]

  fn = jax.jit(jax.shard_map(keys_for, mesh=mesh, in_specs=P(), out_specs=P(parallel.AXIS),
                             check_vma=False))
  base = jax.random.PRNGKey(0)
  all_keys = []
  for step in range(3):
    for purpose in range(2):
      k = jax.random.fold_in(jax.random.fold_in(base, step), purpose)
      all_keys.append(np.asarray(fn(k)).reshape(-1, 2))
  all_keys = np.concatenate(all_keys)
  assert len(all_keys) == 3 * 2 * 8 * 4
  assert len({tuple(k) for k in all_keys}) == len(all_keys)
  # The keys depend on the global example index only: 2 devices x 16 = 8 devices x 4.
  mesh2 = parallel.make_mesh(jax.devices()[:2])
  fn2 = jax.jit(jax.shard_map(lambda key: jax.random.key_data(
      steps.example_keys(key, 16, parallel.AXIS))[None], mesh=mesh2, in_specs=P(),
      out_specs=P(parallel.AXIS), check_vma=False))
  np.testing.assert_array_equal(np.asarray(fn2(base)).reshape(-1, 2),
                                np.asarray(fn(base)).reshape(-1, 2))


def test_d_steps_use_separate_real_batches():
  # With two D updates, swapping which real batch comes first changes the result.
  config = load_experiment('gan_ring')
  config.train.d_steps = 2
  config.train.batch_size = 16
  config.train.ema_decay = 0.0
  spec, family = train.build(config)
  mesh = parallel.make_mesh(jax.devices()[:2])
  _, init = train.abstract_state(family, mesh)
  step = train.sharded_step(config, family, mesh)
  a = np.random.default_rng(0).normal(size=(1, 16, 2)).astype(np.float32)
  b = a + 3.0
  batches = lambda first, second: parallel.global_batch_array(
      _batch(spec, np.concatenate([first, second])), mesh)
  s1, _ = step(init(jax.random.PRNGKey(0)), batches(a, b))
  s2, _ = step(init(jax.random.PRNGKey(0)), batches(b, a))
  diff = jax.tree.map(lambda x, y: float(jnp.abs(x - y).max()), jax.device_get(s1.players['d'].params),
                      jax.device_get(s2.players['d'].params))
  assert max(jax.tree.leaves(diff)) > 1e-6


def test_simultaneous_updates_take_g_against_the_discriminator_the_step_started_from():
  # 'simultaneous': G's update ignores this step's D update, so D's learning rate cannot change
  # it; 'alternating': it does. D's own update is the same in both modes.
  def one_step(updates, d_lr):
    config = load_experiment('gan_ring')
    config.train.batch_size = 16
    config.train.updates = updates
    config.optim.d_lr = d_lr
    state, _ = _run(config, jax.devices()[:2], num_steps=1)
    return state
  sim_slow, sim_fast = one_step('simultaneous', 1e-4), one_step('simultaneous', 0.1)
  alt_slow, alt_fast = one_step('alternating', 1e-4), one_step('alternating', 0.1)
  assert_trees_close(sim_slow.players['g'].params, sim_fast.players['g'].params, rtol=0, atol=1e-7)
  diff = jax.tree.map(lambda x, y: float(np.abs(x - y).max()), alt_slow.players['g'].params,
                      alt_fast.players['g'].params)
  assert max(jax.tree.leaves(diff)) > 1e-5
  assert_trees_close(sim_fast.players['d'].params, alt_fast.players['d'].params, rtol=0, atol=1e-7)


def test_g_steps_take_that_many_generator_updates_after_the_same_discriminator_update():
  # Two generator updates per step: G's optimizer advances twice and G ends elsewhere than
  # after one, while D's update, taken first, is the same.
  def one_step(g_steps):
    config = load_experiment('gan_ring')
    config.train.batch_size = 16
    config.train.g_steps = g_steps
    state, metrics = _run(config, jax.devices()[:2], num_steps=1)
    return state, metrics[0]
  (once, m1), (twice, m2) = one_step(1), one_step(2)
  assert (int(once.players['g'].step), int(twice.players['g'].step), int(twice.players['d'].step)) == (1, 2, 1)
  diff = jax.tree.map(lambda x, y: float(np.abs(x - y).max()), once.players['g'].params, twice.players['g'].params)
  assert max(jax.tree.leaves(diff)) > 1e-6
  assert_trees_close(once.players['d'].params, twice.players['d'].params, rtol=0, atol=0)
  assert m1['d_loss'] == m2['d_loss'] and m1['g_loss'] != m2['g_loss']


def _slot_generator():
  g = mlp.Generator(out_shape=(2,), hidden=(16, 16), norm='batch', axis_name=None)
  variables = g.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)), train=False)
  z = jax.random.normal(jax.random.PRNGKey(1), (12, 2)) * jnp.arange(1.0, 13.0)[:, None]
  return g, variables, z


def test_generate_per_slot_normalises_each_slot_over_its_own_examples():
  g, variables, z = _slot_generator()
  fake, stats = gan.generate(g, variables['params'], variables['batch_stats'], z, slots=3)
  whole, whole_stats = gan.generate(g, variables['params'], variables['batch_stats'], z)
  runs = [g.apply(variables, z[i::3], train=True, mutable=['batch_stats']) for i in range(3)]
  # Slot i of every pack (examples i, i + 3, ...) is the generator run on that slot alone...
  for i, (x, _) in enumerate(runs):
    np.testing.assert_allclose(fake[i::3], x, rtol=1e-6, atol=1e-6)
  # ...which batch statistics over all 12 examples would not give (the latents' scales differ).
  assert float(jnp.abs(fake - whole).max()) > 1e-2
  # The running statistics take the mean of the three updates, as PacGAN's code.
  expected = jax.tree.map(lambda *s: np.mean(s, axis=0), *[u['batch_stats'] for _, u in runs])
  assert_trees_close(stats, expected, rtol=1e-6, atol=1e-7)
  assert_trees_close(whole_stats, g.apply(variables, z, train=True,
                                          mutable=['batch_stats'])[1]['batch_stats'],
                     rtol=0, atol=0)


def test_slot_norm_changes_nothing_for_a_generator_without_batch_norm():
  # Without batch norm, per-slot runs are the one run split and put back in pack order: any
  # mix-up of the order would hand D other packs and change its loss.
  def one_step(pack_norm, g_norm):
    config = load_experiment('gan_ring')
    config.model.update(pack=4, pack_norm=pack_norm, g_norm=g_norm)
    config.train.batch_size = 32
    state, metrics = _run(config, jax.devices()[:2], num_steps=2)
    return state, metrics[-1]
  (joint, m_joint), (slot, m_slot) = one_step('batch', 'none'), one_step('slot', 'none')
  np.testing.assert_allclose(m_slot['d_loss'], m_joint['d_loss'], rtol=1e-5)
  assert_trees_close(slot.players['g'].params, joint.players['g'].params, rtol=1e-4, atol=1e-6)
  assert_trees_close(slot.players['d'].params, joint.players['d'].params, rtol=1e-4, atol=1e-6)
  # With batch norm the two settings are different steps.
  (joint, m_joint), (slot, m_slot) = one_step('batch', 'batch'), one_step('slot', 'batch')
  assert abs(float(m_slot['g_loss'] - m_joint['g_loss'])) > 1e-6


def test_ema_off_keeps_ema_equal_to_params():
  config = load_experiment('gan_ring')
  config.train.ema_decay = 0.0
  config.train.batch_size = 16
  state, _ = _run(config, jax.devices()[:2], num_steps=2)
  assert_trees_close(state.ema['g'].params, state.players['g'].params, rtol=0, atol=0)
  config.train.ema_decay = 0.9
  state, _ = _run(config, jax.devices()[:2], num_steps=2)
  diff = jax.tree.map(lambda x, y: float(np.abs(x - y).max()), state.ema['g'].params, state.players['g'].params)
  assert max(jax.tree.leaves(diff)) > 0


def test_bfloat16_compute_keeps_float32_parameters_and_tracks_float32():
  config = load_experiment('dcgan_digits')
  config.train.batch_size = 16
  state_32, metrics_32 = _run(config, jax.devices()[:2], num_steps=2)
  config.train.dtype = 'bfloat16'
  state_16, metrics_16 = _run(config, jax.devices()[:2], num_steps=2)
  for leaf in jax.tree.leaves(state_16.players['g'].params) + jax.tree.leaves(state_16.players['d'].params):
    assert leaf.dtype == np.float32
  # Same losses to bfloat16 precision, but not bit-identical (the compute dtype did change).
  np.testing.assert_allclose(metrics_16[0]['d_loss'], metrics_32[0]['d_loss'], rtol=2e-2)
  assert metrics_16[0]['d_loss'] != metrics_32[0]['d_loss']


def _ynn_convolutions(compiled_text):
  """Names of the YNNPACK fusions in compiled HLO whose computation holds a convolution."""
  calls = re.findall(r'(%ynn_fusion[.\d]*) = .*?calls=(%[\w.]+)', compiled_text)
  bodies = dict(re.findall(r'\n(%[\w.]+) \([^\n]*\{\n(.*?)\n\}', compiled_text, re.DOTALL))
  return [name for name, body in calls if 'convolution(' in bodies.get(body, '')]


def test_cpu_convolutions_option_moves_convolutions_off_ynnpack_and_keeps_the_step():
  config = load_experiment('dcgan_digits')
  config.train.batch_size = 16
  mesh = parallel.make_mesh(jax.devices()[:1])
  spec, family = train.build(config)
  abstract, _ = train.abstract_state(family, mesh)
  sharding = parallel.batch_sharding(mesh, 2)
  batch = {'image': jax.ShapeDtypeStruct((1, 16, *spec.shape), jnp.float32, sharding=sharding),
           'label': jax.ShapeDtypeStruct((1, 16), jnp.int32, sharding=sharding)}
  texts = {}
  for choice in ('eigen', 'default'):
    config.train.cpu_convolutions = choice
    step = train.sharded_step(config, family, mesh)
    texts[choice] = step.lower(abstract, batch).compile().as_text()
  assert parallel.compiler_options(mesh, 'default') is None
  assert parallel.compiler_options(mesh, 'eigen')
  assert _ynn_convolutions(texts['eigen']) == []
  if 'ynn_fusion' in texts['default']:   # this jaxlib's default hands convolutions to YNNPACK
    assert _ynn_convolutions(texts['default'])
  # Same function: a few steps agree to float32 rounding either way.
  config.train.cpu_convolutions = 'eigen'
  state_e, metrics_e = _run(config, jax.devices()[:1], num_steps=2)
  config.train.cpu_convolutions = 'default'
  state_d, metrics_d = _run(config, jax.devices()[:1], num_steps=2)
  for me, md in zip(metrics_e, metrics_d):
    np.testing.assert_allclose(me['d_loss'], md['d_loss'], rtol=1e-4)
  assert_trees_close(state_e.players['g'].params, state_d.players['g'].params, rtol=1e-3, atol=1e-5)


def test_cpu_convolutions_rejects_unknown_names_and_unsupported_options(monkeypatch):
  mesh = parallel.make_mesh(jax.devices()[:1])
  with pytest.raises(ValueError, match='cpu_convolutions.*eigen'):
    parallel.compiler_options(mesh, 'mkl')
  config = load_experiment('dcgan_digits')
  config.train.cpu_convolutions = 'mkl'
  with pytest.raises(ValueError, match='train.cpu_convolutions'):
    configs.validate(config, 1)
  # A jaxlib without the option compiles with its defaults rather than failing.
  monkeypatch.setattr(parallel, '_EIGEN_CONVOLUTIONS',
                      {'xla_cpu_experimental_ynn_fusion_type': 'NO_SUCH_FUSION_TYPE'})
  assert parallel.compiler_options(mesh, 'eigen') is None


class _NoisyGenerator(mlp.Generator):
  """An MLP generator with dropout inside: it draws from the generator's random stream."""

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool):
    z = layers.ExampleDropout(0.5, self.axis_name)(z, train=train)
    return super().__call__(z, labels, train=train)


def test_the_generators_random_stream_is_per_example_and_device_count_free():
  # A generator that draws random numbers in training (dropout on its input): each example's
  # draws follow its index in the global batch, so 1 and 8 devices train alike, and the draws
  # differ between the discriminator's and the generator's updates.
  config = load_experiment('gan_ring')
  config.train.batch_size = 32
  spec, family = train.build(config)
  generator = _NoisyGenerator(out_shape=(2,), hidden=(16,), norm='none')
  noisy = gan.GanFamily(config, spec, generator, family.discriminator, family.game)
  results = []
  for devices in (jax.devices()[:1], jax.devices()[:8]):
    mesh = parallel.make_mesh(devices)
    state = jax.jit(noisy.init)(jax.random.PRNGKey(0))
    step = train.sharded_step(config, noisy, mesh)
    local = np.random.default_rng(0).normal(size=(1, 32, 2))
    state, metrics = step(state, parallel.global_batch_array(_batch(spec, local), mesh))
    results.append(jax.device_get((state, metrics)))
  (state_1, metrics_1), (state_8, metrics_8) = results
  np.testing.assert_allclose(metrics_1['g_loss'], metrics_8['g_loss'], rtol=1e-5)
  assert_trees_close(state_1.players['g'].params, state_8.players['g'].params, rtol=1e-4,
                     atol=1e-6)
  # The stream is used: without it (inference mode, no dropout) G gives other samples.
  z = jnp.ones((4, 2))
  variables = {'params': state_1.players['g'].params, 'batch_stats': {}}
  with_noise = jax.jit(jax.shard_map(
      lambda z: generator.apply(variables, z, train=True, rngs={'dropout': jax.random.key(1)}),
      mesh=parallel.make_mesh(jax.devices()[:1]), in_specs=P(parallel.AXIS),
      out_specs=P(parallel.AXIS), check_vma=False))(z)
  without = generator.apply(variables, z, train=False)
  assert np.abs(np.asarray(with_noise) - np.asarray(without)).max() > 1e-4


def test_diffaugment_reaches_every_image_d_sees_in_both_updates():
  # Real and generated images in D's update, and generated ones in G's (simultaneous updates:
  # G's update runs against the D the step started from, so its loss moves only if its own
  # samples are augmented).
  def first_metrics(augment):
    config = load_experiment('dcgan_digits')
    config.train.updates = 'simultaneous'
    config.train.augment = augment
    config.train.batch_size = 16
    return _run(config, jax.devices()[:1], num_steps=1)[1][0]
  plain, augmented = first_metrics(''), first_metrics('translation,cutout')
  for key in ('d_real_logit', 'd_fake_logit', 'g_loss'):
    assert abs(float(plain[key]) - float(augmented[key])) > 1e-4, key
