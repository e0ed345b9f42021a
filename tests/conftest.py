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
