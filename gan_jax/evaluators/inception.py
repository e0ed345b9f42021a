"""The FID Inception network: InceptionV3 as the FID reference computes it, its weights file and
a batched feature extractor.

`InceptionV3` is the network of the weights "pt_inception-2015-12-05" (the 2015 TensorFlow
Inception graph that TTUR's FID uses, as ported by pytorch-fid). It differs from torchvision's
InceptionV3, and each difference changes FID values:
- the branch average pools of the A, C and first E blocks leave the zero padding out of the
  average (TensorFlow's SAME pooling);
- the last block (Mixed_7c) pools its pool branch with a max pool, not an average pool;
and its classifier `fc` has 1008 outputs (the 2015 graph's label set), no auxiliary head.
Batch norms run in inference mode with the stored statistics (eps 0.001). Outputs: 'pool', the
2048 globally averaged features FID fits Gaussians to, and 'logits', whose softmax gives the
class probabilities of the Inception Score.

Submodules carry pytorch-fid's module names ('Mixed_5b/branch5x5_1/conv'), so converting its
state_dict (`convert_inception.py`) is a renaming plus kernel transposes. The weights live in
an `.npz` whose keys are '/'-joined variable paths ('params/fc/kernel',
'batch_stats/Conv2d_1a_3x3/bn/mean'), written and read by `save_variables` / `load_variables`.

`InceptionExtractor` runs images of any size (grayscale or RGB, in [-1, 1]) through the network
in fixed-size jitted batches, after a bilinear resize to 299x299.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from gan_jax import files

FID_WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth'
FID_WEIGHTS_SOURCE = "the 'fid_weights' release of the pytorch-fid project"
DEFAULT_WEIGHTS = os.path.expanduser(
    os.environ.get('GAN_JAX_INCEPTION', '~/.cache/gan_jax/fid_inception.npz'))

INPUT_SIZE = 299
# The smallest input the stride-2 reductions leave at least one pixel of; variable shapes do
# not depend on the input size, so shape-only calls use this one.
MIN_INPUT_SIZE = 75
POOL_DIM = 2048
NUM_CLASSES = 1008


class BasicConv2d(nn.Module):
  """Convolution without bias, inference-mode batch norm (eps 0.001), ReLU."""
  features: int
  kernel_size: tuple[int, int]
  strides: int = 1
  padding: tuple[int, int] = (0, 0)  # (rows, columns), each padded on both sides
  precision: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    ph, pw = self.padding
    x = nn.Conv(self.features, self.kernel_size, strides=self.strides,
                padding=((ph, ph), (pw, pw)), use_bias=False, precision=self.precision,
                name='conv')(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name='bn')(x)
    return nn.relu(x)


def _avg_pool_3x3(x: jax.Array) -> jax.Array:
  """3x3 stride-1 average over the pixels inside the image (TensorFlow's SAME average pool)."""
  return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)),
                     count_include_pad=False)


def _max_pool_3x3_stride2(x: jax.Array) -> jax.Array:
  return nn.max_pool(x, (3, 3), strides=(2, 2), padding='VALID')


class InceptionA(nn.Module):
  """Mixed_5b-d: 1x1, 5x5, double 3x3 and pool branches; 224 + pool_features channels."""
  pool_features: int
  precision: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(BasicConv2d, precision=self.precision)
    b1 = conv(64, (1, 1), name='branch1x1')(x)
    b5 = conv(48, (1, 1), name='branch5x5_1')(x)
    b5 = conv(64, (5, 5), padding=(2, 2), name='branch5x5_2')(b5)
    b3 = conv(64, (1, 1), name='branch3x3dbl_1')(x)
    b3 = conv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(b3)
    b3 = conv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_3')(b3)
    bp = conv(self.pool_features, (1, 1), name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """Mixed_6a: halves the grid (35 -> 17) with stride-2 3x3 convolutions and a max pool."""
  precision: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(BasicConv2d, precision=self.precision)
    b3 = conv(384, (3, 3), strides=2, name='branch3x3')(x)
    bd = conv(64, (1, 1), name='branch3x3dbl_1')(x)
    bd = conv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(bd)
    bd = conv(96, (3, 3), strides=2, name='branch3x3dbl_3')(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_stride2(x)], axis=-1)


class InceptionC(nn.Module):
  """Mixed_6b-e: factorised 7x7 branches (1x7 and 7x1 convolutions); 768 channels."""
  channels_7x7: int
  precision: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(BasicConv2d, precision=self.precision)
    c7 = self.channels_7x7
    row, col = dict(kernel_size=(1, 7), padding=(0, 3)), dict(kernel_size=(7, 1), padding=(3, 0))
    b1 = conv(192, (1, 1), name='branch1x1')(x)
    b7 = conv(c7, (1, 1), name='branch7x7_1')(x)
    b7 = conv(c7, **row, name='branch7x7_2')(b7)
    b7 = conv(192, **col, name='branch7x7_3')(b7)
    bd = conv(c7, (1, 1), name='branch7x7dbl_1')(x)
    bd = conv(c7, **col, name='branch7x7dbl_2')(bd)
    bd = conv(c7, **row, name='branch7x7dbl_3')(bd)
    bd = conv(c7, **col, name='branch7x7dbl_4')(bd)
    bd = conv(192, **row, name='branch7x7dbl_5')(bd)
    bp = conv(192, (1, 1), name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """Mixed_7a: halves the grid (17 -> 8); 1280 channels."""
  precision: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(BasicConv2d, precision=self.precision)
    b3 = conv(192, (1, 1), name='branch3x3_1')(x)
    b3 = conv(320, (3, 3), strides=2, name='branch3x3_2')(b3)
    b7 = conv(192, (1, 1), name='branch7x7x3_1')(x)
    b7 = conv(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(b7)
    b7 = conv(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(b7)
    b7 = conv(192, (3, 3), strides=2, name='branch7x7x3_4')(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_stride2(x)], axis=-1)


class InceptionE(nn.Module):
  """Mixed_7b/c: branches split into parallel 1x3 and 3x1 convolutions; 2048 channels.

  `max_pool_branch` is the FID network's last block, which max-pools its pool branch.
  """
  max_pool_branch: bool = False
  precision: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(BasicConv2d, precision=self.precision)
    row, col = dict(kernel_size=(1, 3), padding=(0, 1)), dict(kernel_size=(3, 1), padding=(1, 0))
    b1 = conv(320, (1, 1), name='branch1x1')(x)
    b3 = conv(384, (1, 1), name='branch3x3_1')(x)
    b3 = jnp.concatenate([conv(384, **row, name='branch3x3_2a')(b3),
                          conv(384, **col, name='branch3x3_2b')(b3)], axis=-1)
    bd = conv(448, (1, 1), name='branch3x3dbl_1')(x)
    bd = conv(384, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(bd)
    bd = jnp.concatenate([conv(384, **row, name='branch3x3dbl_3a')(bd),
                          conv(384, **col, name='branch3x3dbl_3b')(bd)], axis=-1)
    if self.max_pool_branch:
      pooled = nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))
    else:
      pooled = _avg_pool_3x3(x)
    bp = conv(192, (1, 1), name='branch_pool')(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
  """The FID Inception on (N, 299, 299, 3) images in [-1, 1] -> {'pool', 'logits'}.

  Any input of at least 75x75 runs (the features are globally pooled), but FID's features are
  defined at 299x299: resize first (`resize_for_inception`).
  `precision` defaults to full float32: TPUs and TF32 GPUs otherwise multiply in lower
  precision, which shifts the features and so FID.
  """
  precision: Any = jax.lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
    p = self.precision
    conv = functools.partial(BasicConv2d, precision=p)
    x = conv(32, (3, 3), strides=2, name='Conv2d_1a_3x3')(x)    # 149
    x = conv(32, (3, 3), name='Conv2d_2a_3x3')(x)               # 147
    x = conv(64, (3, 3), padding=(1, 1), name='Conv2d_2b_3x3')(x)
    x = _max_pool_3x3_stride2(x)                                # 73
    x = conv(80, (1, 1), name='Conv2d_3b_1x1')(x)
    x = conv(192, (3, 3), name='Conv2d_4a_3x3')(x)              # 71
    x = _max_pool_3x3_stride2(x)                                # 35
    x = InceptionA(32, precision=p, name='Mixed_5b')(x)         # 256 channels
    x = InceptionA(64, precision=p, name='Mixed_5c')(x)         # 288
    x = InceptionA(64, precision=p, name='Mixed_5d')(x)         # 288
    x = InceptionB(precision=p, name='Mixed_6a')(x)             # 17x17x768
    x = InceptionC(128, precision=p, name='Mixed_6b')(x)
    x = InceptionC(160, precision=p, name='Mixed_6c')(x)
    x = InceptionC(160, precision=p, name='Mixed_6d')(x)
    x = InceptionC(192, precision=p, name='Mixed_6e')(x)
    x = InceptionD(precision=p, name='Mixed_7a')(x)             # 8x8x1280
    x = InceptionE(precision=p, name='Mixed_7b')(x)             # 8x8x2048
    x = InceptionE(max_pool_branch=True, precision=p, name='Mixed_7c')(x)
    pool = jnp.mean(x, axis=(1, 2))
    logits = nn.Dense(NUM_CLASSES, precision=p, name='fc')(pool)
    return {'pool': pool, 'logits': logits}


@functools.lru_cache(maxsize=1)
def _variable_shapes() -> tuple[tuple[str, tuple[int, ...]], ...]:
  dummy = jax.ShapeDtypeStruct((1, MIN_INPUT_SIZE, MIN_INPUT_SIZE, 3), jnp.float32)
  abstract = jax.eval_shape(InceptionV3().init, jax.random.PRNGKey(0), dummy)
  flat = traverse_util.flatten_dict(abstract, sep='/')
  return tuple((key, tuple(leaf.shape)) for key, leaf in flat.items())


def variable_shapes() -> dict[str, tuple[int, ...]]:
  """{'/'-joined variable path: shape} of the network, as in the weights file."""
  return dict(_variable_shapes())


def flatten_variables(variables: Mapping) -> dict[str, Any]:
  return traverse_util.flatten_dict(dict(variables), sep='/')


def check_variables(flat: Mapping[str, Any], source: str = 'variables') -> None:
  """Raises ValueError naming the first missing, unexpected and misshapen entries of `flat`
  ('/'-joined paths -> arrays) against the network's variables."""
  expected = variable_shapes()
  missing = [k for k in expected if k not in flat]
  unexpected = sorted(k for k in flat if k not in expected)
  misshapen = [f'{k}: {tuple(np.shape(flat[k]))} (expected {shape})'
               for k, shape in expected.items() if k in flat and np.shape(flat[k]) != shape]
  problems = []
  for label, items in (('missing', missing), ('unexpected', unexpected),
                       ('wrong shape', misshapen)):
    if items:
      problems.append(f'{len(items)} {label}: ' + ', '.join(items[:5])
                      + (', ...' if len(items) > 5 else ''))
  if problems:
    raise ValueError(f'{source} do not match the FID InceptionV3 network ('
                     f'{len(expected)} variables): ' + '; '.join(problems))


def save_variables(path: str, variables: Mapping) -> None:
  """Writes variables to an .npz at exactly `path` ('/'-joined keys), replacing it atomically."""
  arrays = {k: np.asarray(v) for k, v in flatten_variables(variables).items()}
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  # A file object, or np.savez would append '.npz' to the name.
  files.write_atomically(path, lambda f: np.savez(f, **arrays))


def load_variables(path: str, check: bool = True) -> dict:
  """Reads a `save_variables` file back into a variables pytree (float32 numpy leaves).

  With `check`, the keys and shapes must be the network's (ValueError otherwise).
  """
  with np.load(path, allow_pickle=False) as data:
    flat = {k: np.asarray(data[k], np.float32) for k in data.files}
  if check:
    check_variables(flat, source=f'the weights in {path}')
  return traverse_util.unflatten_dict(flat, sep='/')


def missing_weights_message(path: str) -> str:
  return (f'FID Inception weights not found at {path}. Download {FID_WEIGHTS_FILE} from the '
          f'{FID_WEIGHTS_SOURCE} and convert it once (needs torch): '
          f'python -m gan_jax.evaluators.convert_inception --src={FID_WEIGHTS_FILE} '
          f'--dst={path}  (the default location is $GAN_JAX_INCEPTION or '
          '~/.cache/gan_jax/fid_inception.npz)')


def resize_for_inception(images: jax.Array) -> jax.Array:
  """(N, H, W, 1 or 3) images in [-1, 1] -> (N, 299, 299, 3) float32.

  Grayscale is repeated to three channels. The resize is bilinear with half-pixel centres and
  no antialiasing, as pytorch-fid's `F.interpolate(..., align_corners=False)`.
  """
  images = jnp.asarray(images, jnp.float32)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f'expected (N, H, W, 1 or 3) images, got shape {images.shape}')
  if images.shape[-1] == 1:
    images = jnp.repeat(images, 3, axis=-1)
  n, h, w, _ = images.shape
  if (h, w) != (INPUT_SIZE, INPUT_SIZE):
    images = jax.image.resize(images, (n, INPUT_SIZE, INPUT_SIZE, 3), 'bilinear',
                              antialias=False)
  return images


# Jitted apart so that the network compiles once per batch size, whatever the image size.
_resize_jit = jax.jit(resize_for_inception)


@jax.jit
def _apply_jit(variables, images):
  return InceptionV3().apply(variables, images)


def run_inception(variables: Mapping, images: jax.Array) -> dict[str, jax.Array]:
  """{'pool': (N, 2048), 'logits': (N, 1008)} of images of any size (`resize_for_inception`)."""
  return _apply_jit(variables, _resize_jit(images))


class InceptionExtractor:
  """FID Inception features and logits of numpy images, in jitted batches of `batch_size`.

  Images: (N, H, W, 1 or 3) floats in [-1, 1], any H and W. The last batch is padded, so the
  network compiles once (plus once for N < batch_size, which runs as a single batch of N).
  """

  def __init__(self, weights_path: str, batch_size: int = 100):
    if batch_size < 1:
      raise ValueError(f'batch_size must be positive, got {batch_size}')
    weights_path = os.path.expanduser(weights_path)
    if not os.path.isfile(weights_path):
      raise FileNotFoundError(missing_weights_message(weights_path))
    self.weights_path = weights_path
    self.batch_size = batch_size
    self.variables = jax.device_put(load_variables(weights_path))

  def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
      raise ValueError(f'expected (N, H, W, 1 or 3) images, got shape {images.shape}')
    if not np.issubdtype(images.dtype, np.floating):
      # Integer pixels (0..255) would run silently and give meaningless features.
      raise TypeError(f'expected float images in [-1, 1], got dtype {images.dtype}')
    n = len(images)
    if n == 0:
      return {'pool': np.zeros((0, POOL_DIM), np.float32),
              'logits': np.zeros((0, NUM_CLASSES), np.float32)}
    batch = min(self.batch_size, n)
    chunks = {'pool': [], 'logits': []}
    pending = None  # one batch in flight while the host prepares the next

    def collect(outputs, count):
      for key in chunks:
        chunks[key].append(np.asarray(outputs[key], np.float32)[:count])

    for start in range(0, n, batch):
      x = images[start:start + batch].astype(np.float32, copy=False)
      count = len(x)
      if count < batch:
        x = np.concatenate([x, np.zeros((batch - count,) + x.shape[1:], np.float32)])
      outputs = run_inception(self.variables, x)
      if pending is not None:
        collect(*pending)
      pending = (outputs, count)
    collect(*pending)
    return {key: np.concatenate(parts) for key, parts in chunks.items()}
