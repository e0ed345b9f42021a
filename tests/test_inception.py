"""The FID Inception: variable names and counts against pytorch-fid's, outputs of random weights,
the state_dict conversion round trip through the .npz file, and its error messages.

Numerical agreement with PyTorch needs torch, which CI lacks; it was checked outside the suite by
converting the state_dict of a randomly initialised pytorch-fid network (torchvision's
Inception3 with its FIDInceptionA/C/E_1/E_2 blocks) and comparing both networks' outputs.
"""

import os

import jax
import numpy as np
import pytest
from flax import traverse_util

from gan_jax.evaluators import convert_inception, inception

# pytorch-fid's fid_inception_v3() structure (torchvision Inception3, num_classes=1008,
# aux_logits=False, FID blocks): sum(p.numel() for p in model.parameters()) is 23,850,960, and
# its batch-norm running means and variances (17,216 channels each) add 34,432. Counted on the
# PyTorch model built from pytorch-fid 0.3.0 and torchvision 0.29.
NUM_PARAMS = 23_850_960
NUM_VARIABLES = NUM_PARAMS + 2 * 17_216  # 23,885,392
NUM_ARRAYS = 94 * 5 + 2  # 94 conv + batch-norm layers, and fc

_BLOCK_BRANCHES = {
    'A': ['branch1x1', 'branch5x5_1', 'branch5x5_2', 'branch3x3dbl_1', 'branch3x3dbl_2',
          'branch3x3dbl_3', 'branch_pool'],
    'B': ['branch3x3', 'branch3x3dbl_1', 'branch3x3dbl_2', 'branch3x3dbl_3'],
    'C': ['branch1x1', 'branch_pool'] + [f'branch7x7_{i}' for i in (1, 2, 3)]
         + [f'branch7x7dbl_{i}' for i in (1, 2, 3, 4, 5)],
    'D': ['branch3x3_1', 'branch3x3_2'] + [f'branch7x7x3_{i}' for i in (1, 2, 3, 4)],
    'E': ['branch1x1', 'branch3x3_1', 'branch3x3_2a', 'branch3x3_2b', 'branch3x3dbl_1',
          'branch3x3dbl_2', 'branch3x3dbl_3a', 'branch3x3dbl_3b', 'branch_pool'],
}
_BLOCKS = {'Mixed_5b': 'A', 'Mixed_5c': 'A', 'Mixed_5d': 'A', 'Mixed_6a': 'B', 'Mixed_6b': 'C',
           'Mixed_6c': 'C', 'Mixed_6d': 'C', 'Mixed_6e': 'C', 'Mixed_7a': 'D', 'Mixed_7b': 'E',
           'Mixed_7c': 'E'}
_STEM = ['Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3', 'Conv2d_3b_1x1', 'Conv2d_4a_3x3']


def _pytorch_fid_names() -> set[str]:
  """pytorch-fid's state_dict keys, less the batch norms' num_batches_tracked."""
  convs = _STEM + [f'{block}.{branch}' for block, kind in _BLOCKS.items()
                   for branch in _BLOCK_BRANCHES[kind]]
  names = {'fc.weight', 'fc.bias'}
  for conv in convs:
    names |= {f'{conv}.conv.weight', f'{conv}.bn.weight', f'{conv}.bn.bias',
              f'{conv}.bn.running_mean', f'{conv}.bn.running_var'}
  return names


def _to_pytorch(variables) -> dict[str, np.ndarray]:
  """The inverse of the conversion: Flax variables -> a PyTorch-layout state_dict."""
  state_dict = {}
  for path, value in inception.flatten_variables(variables).items():
    value = np.asarray(value)
    if path.endswith('/kernel'):
      value = np.transpose(value, (3, 2, 0, 1)) if value.ndim == 4 else value.T
    state_dict[convert_inception.torch_name(path)] = np.ascontiguousarray(value)
  return state_dict


@pytest.fixture(scope='module')
def variables():
  """Random variables of the shapes `InceptionV3.init` declares (traced by `jax.eval_shape`).

  Drawn in numpy: a concrete `init` compiles for about a minute on CPU (a random-number
  program per variable). He-normal kernels keep activations O(1) through the ReLUs, and
  random batch-norm statistics make a swap of scale, bias, mean or variance visible.
  """
  rng = np.random.default_rng(0)
  flat = {}
  for path, shape in inception.variable_shapes().items():
    if path.endswith('/kernel'):
      fan_in = int(np.prod(shape[:-1]))
      value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    elif path.endswith(('/scale', '/var')):
      value = rng.uniform(0.5, 1.5, shape)
    else:  # bias, mean
      value = rng.normal(0.0, 0.2, shape)
    flat[path] = value.astype(np.float32)
  return traverse_util.unflatten_dict(flat, sep='/')


@pytest.fixture(scope='module')
def weights_file(variables, tmp_path_factory):
  path = str(tmp_path_factory.mktemp('inception') / 'fid_inception.npz')
  inception.save_variables(path, convert_inception.convert_state_dict(_to_pytorch(variables)))
  return path


def test_variable_names_and_counts_match_pytorch_fid():
  shapes = inception.variable_shapes()
  assert len(shapes) == NUM_ARRAYS
  assert sum(int(np.prod(s)) for k, s in shapes.items() if k.startswith('params/')) == NUM_PARAMS
  assert sum(int(np.prod(s)) for s in shapes.values()) == NUM_VARIABLES
  assert {convert_inception.torch_name(k) for k in shapes} == _pytorch_fid_names()
  assert shapes['params/Conv2d_1a_3x3/conv/kernel'] == (3, 3, 3, 32)
  assert shapes['params/Mixed_6b/branch7x7_2/conv/kernel'] == (1, 7, 128, 128)
  assert shapes['params/Mixed_7c/branch_pool/conv/kernel'] == (1, 1, 2048, 192)
  assert shapes['batch_stats/Mixed_7b/branch3x3dbl_3b/bn/var'] == (384,)
  assert shapes['params/fc/kernel'] == (2048, 1008)


def test_random_weights_give_finite_features_for_any_image_size(variables):
  rng = np.random.default_rng(1)
  gray = rng.uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
  rgb = rng.uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
  for images in (gray, rgb):
    out = inception.run_inception(variables, images)
    assert out['pool'].shape == (2, inception.POOL_DIM)
    assert out['logits'].shape == (2, inception.NUM_CLASSES)
    for value in out.values():
      assert np.all(np.isfinite(value))
    assert np.all(np.asarray(out['pool']) >= 0)  # averages of ReLU outputs
    assert np.std(np.asarray(out['pool'])) > 1e-3  # activations neither vanish nor saturate
  # A grayscale image is its three-channel repetition.
  np.testing.assert_allclose(inception.resize_for_inception(gray),
                             inception.resize_for_inception(np.repeat(gray, 3, axis=-1)))


def test_converted_weights_round_trip_through_the_file(variables, weights_file):
  loaded = inception.flatten_variables(inception.load_variables(weights_file))
  original = inception.flatten_variables(variables)
  assert loaded.keys() == original.keys()
  for path, value in original.items():
    np.testing.assert_array_equal(loaded[path], value, err_msg=path)

  images = np.random.default_rng(2).uniform(-1, 1, (3, 48, 48, 3)).astype(np.float32)
  got = inception.InceptionExtractor(weights_file, batch_size=2)(images)  # 2 + 1 padded
  want = [inception.run_inception(variables, images[:2]),
          inception.run_inception(variables, images[[2, 2]])]
  for key, dim in (('pool', inception.POOL_DIM), ('logits', inception.NUM_CLASSES)):
    assert got[key].shape == (3, dim) and got[key].dtype == np.float32
    expected = np.concatenate([np.asarray(want[0][key]), np.asarray(want[1][key])[:1]])
    np.testing.assert_allclose(got[key], expected, rtol=1e-6, atol=1e-6)


def test_conversion_rejects_missing_extra_and_misshapen_entries(variables):
  state_dict = _to_pytorch(variables)
  state_dict['Mixed_5b.branch1x1.bn.num_batches_tracked'] = np.array(0)  # ignored
  convert_inception.convert_state_dict(state_dict)

  missing = dict(state_dict)
  del missing['Mixed_6c.branch7x7dbl_4.bn.running_var']
  with pytest.raises(ValueError, match=r'1 missing: Mixed_6c\.branch7x7dbl_4\.bn\.running_var'):
    convert_inception.convert_state_dict(missing)

  extra = dict(state_dict, **{'AuxLogits.fc.weight': np.zeros((1008, 768), np.float32)})
  with pytest.raises(ValueError, match=r'1 unexpected: AuxLogits\.fc\.weight'):
    convert_inception.convert_state_dict(extra)

  misshapen = dict(state_dict, **{'fc.weight': np.zeros((1000, 2048), np.float32)})
  with pytest.raises(ValueError, match=r'fc\.weight: \(1000, 2048\)'):
    convert_inception.convert_state_dict(misshapen)


def test_loading_checks_names_and_shapes(tmp_path):
  shapes = {k: jax.ShapeDtypeStruct(s, np.float32) for k, s in inception.variable_shapes().items()}
  shapes['params/fc/bias'] = jax.ShapeDtypeStruct((1000,), np.float32)
  with pytest.raises(ValueError, match=r'wrong shape: params/fc/bias: \(1000,\)'):
    inception.check_variables(shapes)

  path = str(tmp_path / 'partial.npz')
  inception.save_variables(path, {'params': {'fc': {'bias': np.zeros(1008, np.float32)}},
                                  'extra': {'w': np.zeros(2, np.float32)}})
  with pytest.raises(ValueError, match=r'471 missing: batch_stats/Conv2d_1a_3x3/bn/mean.*'
                                       r'1 unexpected: extra/w'):
    inception.load_variables(path)


def test_missing_weights_file_says_how_to_make_it(tmp_path):
  path = str(tmp_path / 'absent.npz')
  with pytest.raises(FileNotFoundError) as info:
    inception.InceptionExtractor(path)
  message = str(info.value)
  assert path in message
  assert (f'python -m gan_jax.evaluators.convert_inception '
          f'--src=pt_inception-2015-12-05-6726825d.pth --dst={path}') in message
  assert inception.FID_WEIGHTS_SOURCE in message
  assert not os.path.exists(path)


def test_inception_metrics_through_the_evaluator(weights_file):
  from conftest import load_experiment
  from gan_jax import parallel, train
  from gan_jax.evaluators import evaluator
  config = load_experiment('dcgan_digits')
  config.evals.metrics = ('fid', 'kid', 'is', 'precision_recall')
  config.evals.num_samples = 10
  config.evals.num_real = 10
  config.evals.inception_weights = weights_file
  _, family = train.build(config)
  _, init = train.abstract_state(family, parallel.make_mesh(jax.devices()[:1]))
  state = init(jax.random.PRNGKey(0))
  values = evaluator.Evaluator(config, family)(state.ema['g'])
  assert set(values) == {'eval/fid', 'eval/kid', 'eval/kid_std', 'eval/is', 'eval/is_std',
                         'eval/precision', 'eval/recall'}
  assert all(np.isfinite(v) for v in values.values())
  assert values['eval/fid'] > 0 and values['eval/is'] >= 1.0
  assert 0.0 <= values['eval/precision'] <= 1.0 and 0.0 <= values['eval/recall'] <= 1.0
