"""Test set-up: 8 fake CPU devices, set before jax is imported anywhere."""

import os

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=8').strip()
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
# Many tests compile the same small programs (each run builds its step anew): share them
# through JAX's persistent compilation cache, in subprocesses too.
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR', os.path.join(
    os.environ.get('TMPDIR', '/tmp'), f'gan_jax_test_jax_cache_{os.getuid()}'))
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0.2')

import pathlib  # noqa: E402

# Adam's first update is lr * g / (|g| + eps). Where a gradient is a sum that cancels to near
# zero (a bias right before a normalisation, a batch sum of opposite terms), its rounding, which
# differs between 1 and 8 devices, is normalised into a step of up to lr. The 1-vs-8 tests of
# models with such gradients set this eps: the rounding then stays small, while a device-count
# bug (other keys, other statistics) still moves parameters by whole steps.
ONE_VS_EIGHT_ADAM_EPS = 1e-4

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / 'experiments'


def load_experiment(name: str, arg: str | None = 'smoke'):
  """`get_config(arg)` of experiments/<name>.py, unlocked for tests to override."""
  import importlib.util
  spec = importlib.util.spec_from_file_location(f'experiment_{name}', EXPERIMENTS / f'{name}.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def stylegan2_every_part():
  """The stylegan2_digits smoke config, unconditional, with path-length regularisation and
  style mixing set here (the experiment has both on, but tests should not follow its defaults
  when they change). tests/test_stylegan2.py and
  tests/test_project.py share it, and with it their compiled programs; tests of the
  conditional game set `model.conditional` themselves."""
  config = load_experiment('stylegan2_digits')
  config.model.conditional = False
  config.loss.pl_weight = 2.0
  config.loss.style_mixing = 0.9
  config.evals.metrics = ('domain_fd', 'class_spread')  # no classes asked for
  return config


def write_image_folder(root, *, num: int = 20, size: int = 24, channels: int = 3) -> str:
  """A folder of `num` random PNG images (data.name='folder'); returns root."""
  import numpy as np
  from PIL import Image
  os.makedirs(root, exist_ok=True)
  rng = np.random.default_rng(0)
  for i in range(num):
    pixels = rng.integers(0, 256, (size, size, channels), dtype=np.uint8)
    Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(os.path.join(root, f'{i}.png'))
  return str(root)


def write_aligned_folder(root, *, num: int = 6, size: int = 40,
                         splits=('train', 'test')) -> str:
  """A folder in Pix2Pix's aligned format (root/<split>/*.jpg, A left of B), of random
  images; returns root."""
  import numpy as np
  from PIL import Image
  rng = np.random.default_rng(0)
  for split in splits:
    os.makedirs(os.path.join(root, split), exist_ok=True)
    for i in range(num):
      pair = rng.integers(0, 256, (size, 2 * size, 3), dtype=np.uint8)
      Image.fromarray(pair).save(os.path.join(root, split, f'{i}.jpg'))
  return str(root)


class StandInClassifier:
  """A dataset classifier for evaluator tests: classifies by mean intensity into 10 bins; its
  features are 4x4 average-pooled pixels."""
  num_classes = 10

  def predict(self, images):
    import numpy as np
    return np.clip(((images.mean(axis=(1, 2, 3)) + 1) * 5).astype(int), 0, 9)

  def features(self, images):
    n, h, w, _ = images.shape
    return images.mean(-1).reshape(n, 4, h // 4, 4, w // 4).mean(axis=(2, 4)).reshape(n, 16)


@pytest.fixture
def experiment():
  return load_experiment


def run_steps(config, devices, num_steps: int, make_batch):
  """`num_steps` of a config's sharded step on `devices` from its initial state, batch i from
  `make_batch(spec, rng)` (a dict of this process's (d_steps, batch, ...) entries; rng seeded
  0). Returns (the host states before and after each step, host metrics, the step)."""
  import jax
  import numpy as np
  from gan_jax import parallel, train
  spec, family = train.build(config)
  mesh = parallel.make_mesh(devices)
  _, init = train.abstract_state(family, mesh)
  state = init(jax.random.PRNGKey(config.seed))
  step = train.sharded_step(config, family, mesh)
  rng = np.random.default_rng(0)
  states, history = [jax.device_get(state)], []
  for _ in range(num_steps):
    state, metrics = step(state, parallel.global_batch_array(make_batch(spec, rng), mesh))
    states.append(jax.device_get(state))
    history.append(jax.device_get(metrics))
  return states, history, step


def assert_trees_close(a, b, *, rtol: float = 1e-3, atol: float = 5e-5,
                       leaf_scale: float = 0.0, step_size: float | None = None):
  """Two pytrees with the same paths and leaves close (float64 comparison, paths named).
  `leaf_scale` > 0 also allows each leaf an absolute error of that fraction of its largest
  magnitude: a sum of large terms that cancels carries the terms' rounding, not its own.

  `step_size` (parameters trained by Adam, its rate) lets a leaf hold one element in a
  thousand (at least one) that is off by less than a step: Adam divides each gradient by its
  own running scale, so where a gradient is at rounding level, the order of a sum over 1 or 8
  devices (which differs between CPUs) can change that element's step by a fraction of the
  rate. A sharding bug moves far more of a leaf than that."""
  import jax
  import numpy as np
  paths_a = jax.tree_util.tree_leaves_with_path(a)
  paths_b = jax.tree_util.tree_leaves_with_path(b)
  assert [p for p, _ in paths_a] == [p for p, _ in paths_b]
  for (path, x), (_, y) in zip(paths_a, paths_b):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    name = jax.tree_util.keystr(path)
    tolerance = max(atol, leaf_scale * float(np.abs(y).max())) if y.size else atol
    if step_size is None:
      np.testing.assert_allclose(x, y, rtol=rtol, atol=tolerance, err_msg=name)
      continue
    error = np.abs(x - y)
    off = error > tolerance + rtol * np.abs(y)
    assert off.sum() <= max(1, x.size // 1000), (name, int(off.sum()), x.size)
    np.testing.assert_array_less(error[off], step_size, err_msg=name)


def assert_metrics_close(history_a, history_b, *, rtol: float = 2e-4, atol: float = 1e-5):
  """Per-step metric dicts with the same keys and values close."""
  import numpy as np
  for a, b in zip(history_a, history_b, strict=True):
    assert a.keys() == b.keys()
    for key in a:
      np.testing.assert_allclose(a[key], b[key], rtol=rtol, atol=atol, err_msg=key)
