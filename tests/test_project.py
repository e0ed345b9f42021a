"""Projection into a StyleGAN2 run's latent space (`gan_jax/project.py`): an image the generator
made is found again in 'w' and 'w+', the command's outputs (resizing included), the loss against
a hand computation, the schedule, the feature networks' differentiable forms, and the errors
that must come before any checkpoint is read."""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from conftest import load_experiment, stylegan2_every_part
from gan_jax import project, runs, train


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A tiny StyleGAN2 run on the bundled digits (the smoke config, 8x8 grayscale, 2 steps): the
  same program as tests/test_stylegan2.py's, so the compilation cache serves both."""
  workdir = str(tmp_path_factory.mktemp('stylegan2'))
  config = stylegan2_every_part()
  config.train.steps = 2
  train.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope='module')
def restored(trained):
  _, _, family, state = runs.restore(trained)
  return family, jax.device_get(state.ema['g'])


def _png(path, size, mode='RGB', seed=0):
  rng = np.random.default_rng(seed)
  channels = {'RGB': 3, 'RGBA': 4, 'L': 1}[mode]
  pixels = rng.integers(0, 256, (size, size, channels), dtype=np.uint8)
  Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode).save(path)
  return str(path)


def _no_restore(monkeypatch):
  """Makes reading the checkpoint fail, so an error raised must come before it."""
  def fail(*args, **kwargs):
    raise AssertionError('the checkpoint was read before the inputs were checked')
  monkeypatch.setattr(runs, 'restore', fail)


# ---- The optimisation ----
@pytest.mark.parametrize('space', ['w', 'w+'])
def test_projection_finds_a_generated_image_again(restored, space):
  family, ema = restored
  ws = family.styles(ema, family.latents(7, 1))
  target = family.synthesize(ema, ws)[0]
  result = project.project(family, ema, target, steps=60, space=space, seed=1)
  initial = float(np.mean(np.square(result.snapshots[0][1] - target)))
  assert result.pixel_mse < 0.5 * initial
  assert result.history[-1][1] < 0.5 * result.history[0][1]
  assert [s for s, _ in result.history] == list(range(60))
  assert result.snapshots[0][0] == 0 and result.snapshots[-1][0] == 60
  assert 6 <= len(result.snapshots) <= 8
  np.testing.assert_allclose(result.image, result.snapshots[-1][1])
  # The latent reproduces the reconstruction through the family's own synthesis.
  np.testing.assert_allclose(family.synthesize(ema, result.ws[None])[0], result.image, atol=1e-5)
  assert result.ws.shape == (family.num_ws, family.settings.w_dim)
  assert result.ws.dtype == np.float32
  if space == 'w':
    np.testing.assert_array_equal(result.ws, np.broadcast_to(result.ws[:1], result.ws.shape))
  else:
    assert len(np.unique(result.ws, axis=0)) == family.num_ws


def test_loss_is_pixel_mse_plus_weighted_feature_mse_at_step_0(restored):
  family, ema = restored
  target = np.random.default_rng(3).uniform(-1, 1, family.spec.shape).astype(np.float32)

  def pooled(images):  # 2x2 average pooling of 8x8 images: (N, 4, 4, C) features
    n, h, w, c = images.shape
    return images.reshape(n, 4, h // 4, 4, w // 4, c).mean(axis=(2, 4))

  result = project.project(family, ema, target, steps=1, feature_fn=pooled, feature_weight=2.5,
                           noise_factor=0.0)
  # Step 0 is taken at the starting w, the tracked average, with no noise.
  start = np.broadcast_to(np.asarray(ema.batch_stats['w_avg']),
                          (1, family.num_ws, family.settings.w_dim))
  image = family.synthesize(ema, start)[0].astype(np.float64)
  pixel = np.mean((image - target) ** 2)
  feature = np.mean((np.asarray(pooled(image[None])) - np.asarray(pooled(target[None]))) ** 2)
  assert feature > 0
  np.testing.assert_allclose(result.history[0][1], pixel + 2.5 * feature, rtol=1e-5)
  # The learning rate is 0 at step 0 (the ramp-up): the latent has not moved.
  np.testing.assert_allclose(result.ws, start[0], atol=1e-7)


def test_schedule_follows_the_official_ramps():
  assert project.learning_rate(0.0) == 0.0
  np.testing.assert_allclose(project.learning_rate(0.025), 0.05)           # ramping up
  np.testing.assert_allclose(project.learning_rate(0.5), 0.1)              # flat
  np.testing.assert_allclose(project.learning_rate(0.9),                   # half cosine down
                             0.1 * (0.5 - 0.5 * math.cos(0.4 * math.pi)))
  np.testing.assert_allclose(project.noise_scale(0.0, 2.0), 0.1)
  np.testing.assert_allclose(project.noise_scale(0.375, 2.0), 0.1 * 0.25)
  assert project.noise_scale(0.75, 2.0) == 0.0 and project.noise_scale(0.9, 2.0) == 0.0


def test_classifier_features_are_the_classifier_s_and_differentiable():
  from gan_jax.evaluators import classifier
  model = classifier.Net(10)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 1)))
  net = classifier.Classifier(variables, {'dataset': 'digits', 'num_classes': 10})
  images = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
  fn = project.classifier_features(net)
  np.testing.assert_allclose(np.asarray(fn(jnp.asarray(images))), net.features(images),
                             rtol=1e-5, atol=1e-5)
  grad = jax.grad(lambda x: jnp.sum(fn(x)))(jnp.asarray(images))
  assert np.abs(np.asarray(grad)).max() > 0


def test_auto_features_fall_back_to_pixels(trained, tmp_path):
  config = runs.load_config(trained)
  config.evals.inception_weights = str(tmp_path / 'absent.npz')
  config.evals.classifier_dir = str(tmp_path / 'no_classifiers')
  kind, _, fn = project.feature_network(config, 'auto')
  assert kind == 'none' and fn is None
  with pytest.raises(FileNotFoundError, match='no trained digits classifier'):  # none there
    project.feature_network(config, 'classifier')


# ---- The command ----
@pytest.mark.parametrize('size', [8, 12])
def test_command_writes_reconstruction_latent_and_progress(trained, tmp_path, size, caplog):
  image = _png(tmp_path / f'digit{size}.png', size, 'L')
  out = str(tmp_path / 'out')
  result = project.project_image(trained, image, out=out, steps=8, space='w+', features='none')
  assert result['out'] == os.path.abspath(out) and result['resized'] == (size != 8)
  if size != 8:
    assert 'resized' in caplog.text and '12x12' in caplog.text
  latent = np.load(os.path.join(out, 'latent.npy'))
  assert latent.shape == (4, 16) and latent.dtype == np.float32   # num_ws at 8x8, w_dim
  with Image.open(os.path.join(out, 'reconstruction.png')) as picture:
    width, height = picture.size
  assert height == 8 + 2 and width == 2 * 9 + 1                     # two images, 1-pixel pads
  with Image.open(os.path.join(out, 'progress.png')) as picture:
    columns = (picture.size[0] - 1) // 9
  assert 6 <= columns - 1 <= 8 and picture.size[1] == 10            # snapshots, then the target
  assert result['pixel_mse'] > 0 and np.isfinite(result['pixel_mse'])


def test_command_default_out_is_in_the_workdir(trained, tmp_path):
  image = _png(tmp_path / 'me.png', 8, 'L')
  result = project.project_image(trained, image, steps=1, features='none')
  assert result['out'] == os.path.join(os.path.abspath(trained), 'projection_me')
  assert os.path.exists(os.path.join(result['out'], 'latent.npy'))


# ---- Errors, before the checkpoint is read ----
def test_input_errors(trained, tmp_path, monkeypatch):
  _no_restore(monkeypatch)
  rgb = _png(tmp_path / 'rgb.png', 8)
  with pytest.raises(ValueError, match=r'RGB \(3 channels\).*grayscale \(1 channel\)'):
    project.project_image(trained, rgb, steps=1)
  text = tmp_path / 'notes.png'
  text.write_text('not an image')
  with pytest.raises(ValueError, match='cannot read'):
    project.project_image(trained, str(text), steps=1)
  with pytest.raises(ValueError, match='not a file'):
    project.project_image(trained, str(tmp_path / 'missing.png'), steps=1)
  gray = _png(tmp_path / 'gray.png', 8, 'L')
  with pytest.raises(ValueError, match="--space='z'"):
    project.project_image(trained, gray, space='z')
  with pytest.raises(ValueError, match='at least 1'):
    project.project_image(trained, gray, steps=0)
  with pytest.raises(ValueError, match='unconditional'):
    project.project_image(trained, gray, label=3)
  with pytest.raises(ValueError, match='--features'):
    project.project_image(trained, gray, features='vgg')


def test_a_run_that_is_not_stylegan2_is_refused(tmp_path, monkeypatch):
  # A DCGAN run's workdir (its config is all the check reads).
  workdir = tmp_path / 'dcgan'
  workdir.mkdir()
  (workdir / 'config.json').write_text(load_experiment('dcgan_digits').to_json_best_effort())
  _no_restore(monkeypatch)
  image = _png(tmp_path / 'digit.png', 32, 'L')
  with pytest.raises(ValueError, match='not a StyleGAN2 run'):
    project.project_image(str(workdir), image, steps=1)


def test_reading_checks_channels_and_alpha(tmp_path):
  gray = _png(tmp_path / 'gray.png', 8, 'L')
  array, resized = project.read_target(gray, (8, 8, 1))       # grayscale for a 1-channel model
  assert array.shape == (8, 8, 1) and not resized and array.dtype == np.float32
  assert -1.0 <= array.min() and array.max() <= 1.0
  with pytest.raises(ValueError, match=r'RGB \(3 channels\).*grayscale \(1 channel\)'):
    project.read_target(_png(tmp_path / 'rgb.png', 8), (8, 8, 1))
  rgba = np.random.default_rng(0).integers(0, 256, (8, 8, 4), dtype=np.uint8)
  rgba[..., 3] = 255
  Image.fromarray(rgba, 'RGBA').save(tmp_path / 'opaque.png')
  array, _ = project.read_target(str(tmp_path / 'opaque.png'), (8, 8, 3))
  np.testing.assert_allclose(array, rgba[..., :3] / 127.5 - 1.0, atol=1e-6)
  rgba[0, 0, 3] = 10
  Image.fromarray(rgba, 'RGBA').save(tmp_path / 'clear.png')
  with pytest.raises(ValueError, match='transparent'):
    project.read_target(str(tmp_path / 'clear.png'), (8, 8, 3))
  array, resized = project.read_target(_png(tmp_path / 'big.png', 12), (8, 8, 3))
  assert array.shape == (8, 8, 3) and resized


def test_conditional_runs_need_a_label_in_range():
  config = load_experiment('stylegan2_cifar10')
  config.data.image_size = 16
  family = train.build(config)[1]
  assert family.conditional
  with pytest.raises(ValueError, match='--label=K'):
    project.check_label(family, None)
  with pytest.raises(ValueError, match='out of range'):
    project.check_label(family, family.num_classes)
  assert project.check_label(family, 3) == 3
