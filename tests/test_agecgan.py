"""Age-cGAN: the GAN phase and the encoder phase on 1 and 8 devices, exact resume across the
change of phase, the encoder phase leaving the GAN alone, latent optimisation, and the
reattribute command with its errors."""

import json
import os

import jax
import numpy as np
import pytest
from PIL import Image

from conftest import (StandInClassifier, assert_metrics_close, assert_trees_close,
                      load_experiment, run_steps, write_image_folder)
from gan_jax import configs, reattribute, train
from gan_jax.evaluators import evaluator


def _run(config, devices, num_steps):
  b = config.train.batch_size
  return run_steps(config, devices, num_steps, lambda spec, rng: {
      'image': rng.uniform(-1, 1, (1, b, *spec.shape)).astype(np.float32),
      'label': rng.integers(0, 10, (1, b), dtype=np.int32)})


def _changed(a, b):
  return any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_gan_then_encoder_phases_on_one_and_eight_devices():
  config = load_experiment('agecgan_digits')
  config.train.steps, config.train.encoder_steps = 2, 1    # step 0: the GAN; step 1: E
  states_1, metrics_1, step = _run(config, jax.devices()[:1], 2)
  states_8, metrics_8, _ = _run(config, jax.devices()[:8], 2)
  assert set(step.programs) == {'gan', 'encoder'}
  assert 'd_loss' in metrics_1[0] and set(metrics_1[1]) == {'e_loss', 'e_grad_norm',
                                                            'e_latent_mse'}
  assert_metrics_close(metrics_1, metrics_8)
  assert_trees_close(states_1[-1], states_8[-1])
  start, after_gan, after_e = states_8
  assert _changed(start.players['g'], after_gan.players['g'])
  assert not _changed(start.players['e'], after_gan.players['e'])   # the GAN phase leaves E
  assert _changed(after_gan.players['e'].params, after_e.players['e'].params)
  for name in ('g', 'd'):                                           # E's phase leaves the GAN
    assert not _changed(after_gan.players[name], after_e.players[name]), name


def test_resume_is_exact_across_the_change_of_phase(tmp_path):
  config = load_experiment('agecgan_digits')   # 2 GAN steps, then 2 encoder steps
  whole = train.train_and_evaluate(config, str(tmp_path / 'whole'))
  config.train.steps = 3
  config.train.checkpoint_every = 3
  config.train.encoder_steps = 1
  train.train_and_evaluate(config, str(tmp_path / 'split'))
  config.train.steps, config.train.encoder_steps = 4, 2
  resumed = train.train_and_evaluate(config, str(tmp_path / 'split'))
  for (path, x), (_, y) in zip(jax.tree_util.tree_leaves_with_path(jax.device_get(whole)),
                               jax.tree_util.tree_leaves_with_path(jax.device_get(resumed))):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=jax.tree_util.keystr(path))


def test_build_errors():
  for field, value, match in (('model.conditioning', 'projection', 'concat'),
                              ('train.ema_decay', 0.999, 'ema_decay=0'),
                              ('train.encoder_steps', 4, 'encoder_steps')):
    config = load_experiment('agecgan_digits')
    section, key = field.split('.')
    config[section][key] = value
    with pytest.raises(ValueError, match=match):
      configs.validate(config, 1)


# ---- Re-attribution ----
@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('agecgan'))
  train.train_and_evaluate(load_experiment('agecgan_digits'), workdir)
  return workdir


def test_latent_optimisation_reduces_the_distance_from_the_encoders_start(trained):
  from gan_jax import runs
  _, spec, family, state = runs.restore(trained)
  state = jax.device_get(state)
  rng = np.random.default_rng(0)
  images = rng.uniform(-1, 1, (3, *spec.shape)).astype(np.float32)
  pooled = lambda x: x.mean(-1).reshape(len(x), 4, 8, 4, 8).mean(axis=(2, 4)).reshape(len(x), -1)
  for optimise, fn in (('pixel', None), ('features', pooled)):
    result = reattribute.reattribute(family, state, images, from_labels=[1, 2, 3],
                                     to_classes=[0, 9], optimise=optimise, feature_fn=fn,
                                     steps=30)
    assert result['history'][-1] < result['history'][0]
    assert set(result['as']) == {0, 9} and result['as'][9].shape == images.shape
    np.testing.assert_allclose(result['z0'], np.asarray(family.encode(state.players['e'],
                                                                      images)), rtol=1e-5)
    assert not np.allclose(result['z'], result['z0'])
  # Each image is optimised on its own: a batch of one gives the same latent.
  alone = reattribute.reattribute(family, state, images[:1], from_labels=[1], to_classes=[0],
                                  steps=30)
  together = reattribute.reattribute(family, state, images, from_labels=[1, 2, 3],
                                     to_classes=[0], steps=30)
  np.testing.assert_allclose(alone['z'][0], together['z'][0], rtol=1e-4, atol=1e-5)


def _digit_png(path, channels=1):
  from gan_jax.data import digits
  import ml_collections
  images, _ = digits.load(ml_collections.ConfigDict({'image_size': 32}), 0)
  array = ((images[0, ..., 0] + 1) * 127.5).astype(np.uint8)
  Image.fromarray(array).convert('L' if channels == 1 else 'RGB').save(path)
  return str(path)


def test_reattribute_command_writes_every_class_and_measures(trained, tmp_path, monkeypatch):
  monkeypatch.setattr(evaluator, '_classifier', lambda name, directory: StandInClassifier())
  image = _digit_png(tmp_path / 'digit.png')
  out = tmp_path / 'out'
  result = reattribute.reattribute_image(trained, image, to='all', out=str(out), steps=5)
  names = sorted(os.listdir(out))
  assert names == sorted(['input.png', 'reconstruction.png', 'side_by_side.png']
                         + [f'as_{c}.png' for c in range(10)])
  assert result['from'] == int(StandInClassifier().predict(
      np.asarray(Image.open(image), np.float32)[None, ..., None] / 127.5 - 1)[0])
  side = np.asarray(Image.open(out / 'side_by_side.png'))
  assert side.shape[1] > 10 * side.shape[0] // 2          # 12 images in a row
  figures = reattribute.measure(trained, 6, steps=3, out=str(tmp_path / 'measure'))
  assert 0 <= figures['target_accuracy'] <= 1 and figures['num_digits'] == 6
  assert -1 <= figures['thickness_corr'] <= 1 and figures['seconds_per_image'] > 0
  assert -1 <= figures['generator_thickness_corr_across_classes'] <= 1
  assert -1 <= figures['reconstruction_slant_corr'] <= 1
  assert -1 <= figures['thickness_corr_standardised'] <= 1
  saved = json.loads((tmp_path / 'measure' / 'measure_pixel.json').read_text())
  assert saved['target_accuracy'] == figures['target_accuracy']


def test_cross_class_consistency_is_one_for_a_class_blind_generator_and_near_zero_without_it():
  import ml_collections
  from gan_jax.data import digits
  from gan_jax.data import convert
  images, _ = digits.load(ml_collections.ConfigDict({'image_size': 32}), 0)
  images = convert.to_unit_range(images[:300])
  index = np.arange(len(images))
  z = index[:, None].astype(np.float32)          # a latent picks a digit
  blind = reattribute.cross_class_consistency(lambda z, y: images[z[:, 0].astype(int)], z, 3)
  assert blind == pytest.approx({'thickness': 1.0, 'slant': 1.0})
  # Each class draws another, unrelated digit for the same latent.
  perms = [np.random.default_rng(c).permutation(len(images)) for c in range(3)]
  mixed = reattribute.cross_class_consistency(
      lambda z, y: images[perms[int(y[0])][z[:, 0].astype(int)]], z, 3)
  assert abs(mixed['thickness']) < 0.2 and abs(mixed['slant']) < 0.2


def test_reattribute_errors(trained, tmp_path):
  image = _digit_png(tmp_path / 'digit.png')
  with pytest.raises(ValueError, match='classes 0..9'):
    reattribute.reattribute_image(trained, image, to='12', from_class=1)
  with pytest.raises(ValueError, match='classes 0..9'):
    reattribute.reattribute_image(trained, image, to='3', from_class=10)
  with pytest.raises(ValueError, match='channels must match'):
    reattribute.reattribute_image(trained, _digit_png(tmp_path / 'rgb.png', 3), to='3',
                                  from_class=1)
  with pytest.raises(ValueError, match="pixel' or 'features"):
    reattribute.reattribute_image(trained, image, to='3', optimise='lbfgs')
  other = tmp_path / 'dcgan'
  train.train_and_evaluate(load_experiment('dcgan_digits'), str(other))
  with pytest.raises(ValueError, match='not an Age-cGAN run'):
    reattribute.reattribute_image(str(other), image, to='3')


def test_faces_config_trains_on_a_folder_of_age_groups(tmp_path):
  config = load_experiment('agecgan_faces')
  root = tmp_path / 'faces'
  for group in ('0-18', '19-29'):
    write_image_folder(root / group, num=8, size=40)
  config.data.path = str(root)
  state = train.train_and_evaluate(config, str(tmp_path / 'run'), devices=jax.devices()[:2])
  assert int(state.step) == 4 and set(state.players) == {'g', 'd', 'e'}


def test_faces_config_takes_a_celeba_attribute_as_the_class(tmp_path, monkeypatch):
  import tensorflow_datasets as tfds
  from gan_jax import data as data_lib
  from gan_jax.data import tfds_source
  config = load_experiment('agecgan_faces', 'celeba_smoke')
  assert config.data.label_key == 'attributes/Young'
  monkeypatch.setattr(tfds_source, 'cannot_prepare', lambda builder: None)
  with tfds.testing.mock_data(num_examples=24):
    source = data_lib.open_source(config.data, 0)
    _, labels = source.read(np.arange(24))
    assert set(labels.tolist()) <= {0, 1} and len(set(labels.tolist())) == 2
    state = train.train_and_evaluate(config, str(tmp_path / 'run'), devices=jax.devices()[:2])
  assert int(state.step) == 4
  config.data.label_key = 'attributes/NoSuchAttribute'
  with tfds.testing.mock_data(num_examples=8):
    with pytest.raises(ValueError, match='NoSuchAttribute'):
      data_lib.open_source(config.data, 0)


def test_style_correlations_score_one_for_an_exact_standing_transfer_and_give_its_ceiling():
  rng = np.random.default_rng(0)
  labels = np.repeat(np.arange(3), 40)
  means, stds = np.array([5.0, 8.0, 6.0]), np.array([0.5, 2.0, 1.0])
  values = means[labels] + stds[labels] * rng.normal(size=len(labels))
  before = {'thickness': values, 'slant': -values}

  z = np.zeros(len(values))
  for c in range(3):
    z[labels == c] = (values[labels == c] - values[labels == c].mean()) / values[labels == c].std()
  sample_means = np.array([values[labels == c].mean() for c in range(3)])
  sample_stds = np.array([values[labels == c].std() for c in range(3)])
  # Each re-attribution to c keeps its input's standing within its class exactly.
  exact = {c: {'thickness': sample_means[c] + z[labels != c] * sample_stds[c],
               'slant': -(sample_means[c] + z[labels != c] * sample_stds[c])} for c in range(3)}
  figures = reattribute.style_correlations(before, labels, exact)
  assert figures['thickness_corr_standardised'] == pytest.approx(1.0)
  assert figures['thickness_corr'] == pytest.approx(figures['thickness_corr_ceiling'])
  # The classes' differing means hold the pooled figure well below 1 even so.
  assert figures['thickness_corr_ceiling'] < 0.8
  # Keeping the raw value instead (no class shift) is 1 pooled; reversing the standing is -1.
  kept = {c: {k: before[k][labels != c] for k in before} for c in range(3)}
  assert reattribute.style_correlations(before, labels, kept)['slant_corr'] == pytest.approx(1.0)
  reversed_ = {c: {k: -v for k, v in exact[c].items()} for c in range(3)}
  figures = reattribute.style_correlations(before, labels, reversed_)
  assert figures['slant_corr_standardised'] == pytest.approx(-1.0)
  # Outputs unrelated to the inputs score near 0.
  noise = {c: {k: rng.normal(size=int(np.sum(labels != c))) for k in before} for c in range(3)}
  figures = reattribute.style_correlations(before, labels, noise)
  assert abs(figures['thickness_corr_standardised']) < 0.2
  # A class asked for that no input has (a short --measure) gives no statistics: the pooled
  # figure of a faithful re-attribution is then taken over the other classes alone.
  two = labels < 2
  partial = {c: {k: v[two[labels != c]] for k, v in exact[c].items()} for c in range(3)}
  with_all = reattribute.style_correlations({k: v[two] for k, v in before.items()}, labels[two],
                                            partial)
  without = reattribute.style_correlations({k: v[two] for k, v in before.items()}, labels[two],
                                           {c: partial[c] for c in (0, 1)})
  assert with_all['thickness_corr_ceiling'] == pytest.approx(without['thickness_corr_ceiling'])
  assert np.isfinite(with_all['thickness_corr_ceiling'])
