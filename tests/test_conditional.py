"""Class-conditional GANs: labels reach G and D, conditional batch norm keeps one scale and
shift per class, ACGAN's class loss against hand-computed values, the sample command's labels,
and the conditional metrics with a stand-in classifier. (1 vs 8 devices and exact resume with
labels: test_step.py and test_train.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import StandInClassifier, load_experiment
from gan_jax import parallel, sample, train
from gan_jax.evaluators import evaluator as evaluator_lib
from gan_jax.families import gan
from gan_jax.models import layers


def _family(conditioning='projection'):
  config = load_experiment('cdcgan_digits')
  config.model.conditioning = conditioning
  config.train.batch_size = 16
  return config, *train.build(config)


def _initial_state(family):
  _, init = train.abstract_state(family, parallel.make_mesh(jax.devices()[:1]))
  return jax.device_get(init(jax.random.PRNGKey(0)))


def _perturbed(params, scale=0.1, seed=1):
  # Trained-looking parameters: class embeddings and scales away from their initial values.
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
  return jax.tree.unflatten(tree, [x + scale * jax.random.normal(k, x.shape)
                                   for x, k in zip(leaves, keys)])


@pytest.mark.parametrize('conditioning', ['concat', 'projection', 'acgan'])
def test_labels_reach_the_generator_and_the_discriminator(conditioning):
  _, spec, family = _family(conditioning)
  state = _initial_state(family)
  ema = state.ema['g'].replace(params=_perturbed(state.ema['g'].params))
  z = family.latents(0, 4)
  a = family.generate(ema, z, np.full(4, 3))
  b = family.generate(ema, z, np.full(4, 7))
  assert np.abs(a - b).max() > 1e-3     # the label changes the sample
  x = jnp.asarray(a)
  d = state.players['d']
  variables = {'params': _perturbed(d.params), 'batch_stats': d.batch_stats}
  out3 = family.discriminator.apply(variables, x, jnp.full(4, 3), train=False)
  out7 = family.discriminator.apply(variables, x, jnp.full(4, 7), train=False)
  logit3, logit7 = (out3[0], out7[0]) if conditioning == 'acgan' else (out3, out7)
  if conditioning == 'acgan':  # D's logit ignores the label; its class head classifies x
    np.testing.assert_array_equal(logit3, logit7)
    assert out3[1].shape == (4, 10)
  else:
    assert np.abs(np.asarray(logit3) - np.asarray(logit7)).max() > 1e-4


def test_projection_discriminator_adds_the_class_embedding_dot_the_features():
  # D(x, y) = psi(phi(x)) + embed(y) . phi(x): the label enters only through a term linear in
  # its embedding row, which zeroing the embedding removes.
  config, _, family = _family('projection')
  state = _initial_state(family)
  d = state.players['d']
  params = _perturbed(d.params)
  x = jax.random.uniform(jax.random.PRNGKey(2), (4, 32, 32, 1), minval=-1, maxval=1)
  labels = jnp.array([0, 3, 3, 9])

  def logits(embedding):
    p = {**params, 'class_embedding': {'embedding': embedding}}
    return np.asarray(family.discriminator.apply({'params': p, 'batch_stats': d.batch_stats},
                                                 x, labels, train=False))
  embedding = params['class_embedding']['embedding']
  # One vector per class, the size of phi(x): the 4x4 map of 4 x d_width channels, flattened.
  assert embedding.shape == (10, 4 * 4 * 4 * config.model.d_width)
  unconditional = logits(jnp.zeros_like(embedding))
  projection = logits(embedding) - unconditional
  np.testing.assert_allclose(logits(2 * embedding) - unconditional, 2 * projection, rtol=1e-4,
                             atol=1e-5)
  assert np.abs(projection).max() > 1e-3
  # Only the rows of the classes asked for matter.
  others = embedding.at[jnp.array([1, 2, 4, 5, 6, 7, 8])].set(5.0)
  np.testing.assert_allclose(logits(others), logits(embedding), rtol=1e-5, atol=1e-6)


def test_conditional_batch_norm_keeps_one_scale_and_shift_per_class():
  bn = layers.ConditionalBatchNorm(num_classes=10, axis_name=None)
  x = jax.random.normal(jax.random.PRNGKey(0), (6, 4, 4, 8))
  labels = jnp.array([0, 1, 2, 3, 3, 9])
  variables = bn.init(jax.random.PRNGKey(1), x, labels, train=False)
  assert variables['params']['scale'].shape == (10, 8)
  assert variables['params']['shift'].shape == (10, 8)
  # Class 3's scale and shift act on class 3's examples only.
  params = jax.tree.map(jnp.copy, variables['params'])
  params['scale'] = params['scale'].at[3].set(2.0)
  params['shift'] = params['shift'].at[3].set(0.5)
  base = bn.apply(variables, x, labels, train=True, mutable=['batch_stats'])[0]
  changed = bn.apply({**variables, 'params': params}, x, labels, train=True,
                     mutable=['batch_stats'])[0]
  np.testing.assert_allclose(changed[labels != 3], base[labels != 3], atol=1e-6)
  np.testing.assert_allclose(changed[labels == 3], 2.0 * base[labels == 3] + 0.5, atol=1e-5)
  # The normalisation itself is plain batch norm over the batch: zero mean per channel.
  np.testing.assert_allclose(base.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)


def test_acgan_class_loss_matches_hand_computed_values():
  logits = jnp.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
  labels = jnp.array([0, 1])
  p = np.exp(np.asarray(logits)) / np.exp(np.asarray(logits)).sum(-1, keepdims=True)
  expected = -(np.log(p[0, 0]) + np.log(p[1, 1])) / 2
  np.testing.assert_allclose(gan.class_cross_entropy(logits, labels), expected, rtol=1e-6)


def test_acgan_step_adds_the_class_losses_to_both_players():
  # One step with class_weight w: D's class loss is its head's cross-entropy on the real batch
  # (with its labels) plus on the generated one; d_loss adds w times it to the GAN loss.
  config, spec, family = _family('acgan')
  config.train.batch_size = 8
  mesh = parallel.make_mesh(jax.devices()[:1])

  def one_step(weight, on_fake=True):
    config.loss.class_weight = weight
    config.loss.class_on_fake = on_fake
    _, family = train.build(config)
    _, init = train.abstract_state(family, mesh)
    real = np.random.default_rng(0).uniform(-1, 1, (1, 8, 32, 32, 1)).astype(np.float32)
    labels = np.arange(8, dtype=np.int32)[None] % 10
    batch = parallel.global_batch_array({'image': real, 'label': labels}, mesh)
    return jax.device_get(train.sharded_step(config, family, mesh)(
        init(jax.random.PRNGKey(0)), batch)[1])
  with_class, weighted = one_step(1.0), one_step(3.0)
  # D's loss before its update does not depend on the weight except through the class term.
  gan_loss = with_class['d_loss'] - with_class['d_class_loss']
  np.testing.assert_allclose(weighted['d_loss'], gan_loss + 3.0 * weighted['d_class_loss'],
                             rtol=1e-5)
  np.testing.assert_allclose(weighted['d_class_loss'], with_class['d_class_loss'], rtol=1e-6)
  # Untrained, the classifier is near chance on 10 classes: about 2 log 10 for real + fake.
  assert 2 * np.log(10) * 0.8 < with_class['d_class_loss'] < 2 * np.log(10) * 1.2
  assert 'g_class_loss' in with_class and np.isfinite(with_class['g_class_loss'])
  # class_on_fake=False: D's class loss is the real batch's alone, about log 10.
  real_only = one_step(1.0, on_fake=False)
  assert np.log(10) * 0.8 < real_only['d_class_loss'] < np.log(10) * 1.2


def test_grids_have_one_row_per_class_and_labels_are_checked():
  _, _, family = _family()
  state = _initial_state(family)
  samples, columns = family.grid(state.ema['g'], seed=0, num=30)
  assert samples.shape == (30, 32, 32, 1) and columns == 3
  with pytest.raises(ValueError, match='classes 0..9'):
    family.labels_for(4, [3, 10])
  np.testing.assert_array_equal(family.labels_for(12), np.arange(12) % 10)
  np.testing.assert_array_equal(family.labels_for(5, [3, 7]), [3, 7, 3, 7, 3])


@pytest.fixture(scope='module')
def conditional_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('cdcgan')
  train.train_and_evaluate(load_experiment('cdcgan_digits'), str(workdir))
  return workdir


def test_sample_command_draws_the_requested_classes(conditional_run, tmp_path):
  out = str(tmp_path / 'samples.npy')
  path, samples, labels = sample.draw(str(conditional_run), labels=[3, 7], num=5, out=out)
  assert path == out and samples.shape == (10, 32, 32, 1)
  np.testing.assert_array_equal(np.load(out), samples)
  np.testing.assert_array_equal(np.load(str(tmp_path / 'samples.labels.npy')), [3] * 5 + [7] * 5)
  np.testing.assert_array_equal(labels, [3] * 5 + [7] * 5)
  # The same latents with the classes the other way round: the rows swap.
  _, swapped, _ = sample.draw(str(conditional_run), labels=[7, 3], num=5,
                              out=str(tmp_path / 'b.npy'))
  assert np.abs(swapped[:5] - samples[:5]).max() > 1e-4
  with pytest.raises(ValueError, match='classes 0..9'):
    sample.draw(str(conditional_run), labels=[11])
  png, grid, _ = sample.draw(str(conditional_run), num=2, out=str(tmp_path / 'grid.png'))
  assert grid.shape == (20, 32, 32, 1)  # every class, 2 each


def test_an_unconditional_run_refuses_labels(tmp_path):
  config = load_experiment('dcgan_digits')
  config.train.steps = 2
  train.train_and_evaluate(config, str(tmp_path))
  with pytest.raises(ValueError, match='unconditional.*Drop --labels'):
    sample.draw(str(tmp_path), labels=[3])
  out = str(tmp_path / 'x.npy')
  _, samples, labels = sample.draw(str(tmp_path), num=3, out=out)
  assert labels is None and samples.shape == (3, 32, 32, 1)
  assert not (tmp_path / 'x.labels.npy').exists()


def test_class_accuracy_and_intra_fd_with_a_stand_in_classifier(monkeypatch):
  from gan_jax.evaluators import metrics
  monkeypatch.setattr(evaluator_lib, '_classifier', lambda name, directory: StandInClassifier())
  config, _, family = _family()
  config.evals.metrics = ('class_accuracy', 'intra_fd')
  config.evals.num_samples = 200
  config.evals.num_real = 500
  state = _initial_state(family)
  evaluator = evaluator_lib.Evaluator(config, family)
  values = evaluator(state.ema['g'], seed=0)
  fake, labels = evaluator.samples(state.ema['g'], 200, 0)
  np.testing.assert_array_equal(labels, np.arange(200) % 10)  # classes uniform
  stand_in = StandInClassifier()
  assert values['eval/class_accuracy'] == pytest.approx(np.mean(stand_in.predict(fake) == labels))
  real, real_labels = evaluator_lib.real_examples(config, 500)
  expected = np.mean([metrics.frechet_distance(stand_in.features(real[real_labels == c]),
                                               stand_in.features(fake[labels == c]))
                      for c in range(10)])
  assert values['eval/intra_fd'] == pytest.approx(expected, rel=1e-6)
  # An unconditional run cannot be asked for them.
  config = load_experiment('dcgan_digits')
  config.evals.metrics = ('class_accuracy',)
  with pytest.raises(ValueError, match='needs a conditional run'):
    evaluator_lib.Evaluator(config, train.build(config)[1])
