"""Evaluating a generator: the metrics a config asks for, on samples from its EMA parameters.

`config.evals.metrics` names them (`METRICS` below); each gives one or more scalars, logged as
`eval/<name>`. They run every `config.evals.every` steps during training and on demand through
`python -m gan_jax.evaluate`. The same code serves both, so the numbers agree.

- `modes`: low-dimensional mixtures: modes captured, % high-quality samples, reverse KL
  (VEEGAN / PacGAN; `evaluators/modes.py`) from `evals.num_samples` points (2,500).
- `stacked_modes`: stacked digits: modes covered among 1,000 and KL to uniform, each channel
  classified by the project's digit classifier (`evals.classifier`).
- `domain_fd`: Fréchet distance in the penultimate features of the dataset's classifier, the
  way TF-GAN measures MNIST.
- `fid`, `kid`, `is`, `precision_recall`: over InceptionV3 features (FID's network; weights from
  `evals.inception_weights`, a file the user supplies).
Real statistics come from the training data: `evals.num_real` examples in a fixed order.
"""

from __future__ import annotations

import functools
import json
import os

from absl import logging
import jax
import numpy as np

from gan_jax import sampling
from gan_jax import data as data_lib
from gan_jax.data import toy
from gan_jax.evaluators import metrics as metrics_lib
from gan_jax.evaluators import modes as modes_lib

# metric name -> the scalars it logs (without the 'eval/' prefix)
METRICS = {
    'modes': ('modes', 'high_quality', 'reverse_kl'),
    'stacked_modes': ('stacked_modes', 'stacked_kl'),
    'domain_fd': ('domain_fd',),
    'fid': ('fid',),
    'kid': ('kid', 'kid_std'),
    'is': ('is', 'is_std'),
    'precision_recall': ('precision', 'recall'),
}
INCEPTION_METRICS = ('fid', 'kid', 'is', 'precision_recall')
LOWER_IS_BETTER = ('reverse_kl', 'stacked_kl', 'domain_fd', 'fid', 'kid', 'kid_std', 'is_std')


def lower_is_better(scalar: str) -> bool:
  name = scalar.split('/')[-1]
  return name in LOWER_IS_BETTER or any(part in ('fid', 'fd', 'kid', 'kl', 'distance')
                                        for part in name.split('_'))


def check(config) -> None:
  """Start-up checks of `config.evals` (names and what each metric needs)."""
  evals = config.get('evals')
  if evals is None or not evals.metrics:
    return
  for name in evals.metrics:
    if name not in METRICS:
      raise ValueError(f'unknown evals.metrics entry {name!r}; choose from {sorted(METRICS)}')
  kind = data_lib.spec(config.data).kind
  if 'modes' in evals.metrics and config.data.name not in data_lib.MIXTURES:
    raise ValueError(f"evals 'modes' needs a mixture dataset {data_lib.MIXTURES}, "
                     f'not {config.data.name!r}')
  image_metrics = set(evals.metrics) - {'modes'}
  if image_metrics and kind != 'image':
    raise ValueError(f'evals {sorted(image_metrics)} need image data, not {config.data.name!r}')
  if 'stacked_modes' in evals.metrics and data_lib.spec(config.data).shape[-1] != 3:
    raise ValueError("evals 'stacked_modes' needs 3-channel stacked digits")
  if {'stacked_modes', 'domain_fd'} & set(evals.metrics):
    classifier_name(config)
  best = evals.get('best_metric', '')
  produced = {s for name in evals.metrics for s in METRICS[name]}
  if best and best not in produced:
    raise ValueError(f'evals.best_metric={best!r} is not among the scalars of evals.metrics '
                     f'{list(evals.metrics)}: {sorted(produced)}')


@functools.lru_cache(maxsize=2)
def _inception(path: str):
  from gan_jax.evaluators import inception
  return inception.InceptionExtractor(path)


@functools.lru_cache(maxsize=4)
def _classifier(name: str, directory: str | None):
  from gan_jax import classifier
  return classifier.load(name, directory)


CLASSIFIER_FOR_DATA = {'digits': 'digits', 'stacked_digits': 'digits', 'mnist': 'mnist',
                       'stacked_mnist': 'mnist', 'fashion_mnist': 'fashion_mnist'}


def classifier_name(config) -> str:
  """`evals.classifier`, or by default the classifier of the data's own digits or clothes."""
  name = config.evals.get('classifier') or CLASSIFIER_FOR_DATA.get(config.data.name)
  if not name:
    raise ValueError(f'no dataset classifier for data {config.data.name!r}: set '
                     f'evals.classifier to one of {sorted(set(CLASSIFIER_FOR_DATA.values()))}')
  return name


def real_examples(config, num: int) -> np.ndarray:
  """`num` training examples in a fixed order (a permutation drawn from the config's seed),
  as float32 in [-1, 1]."""
  source = data_lib.open_source(config.data, config.seed)
  order = np.random.default_rng([config.seed, 0xE7A1]).permutation(len(source))[:num]
  examples, _ = source.read(np.sort(order))
  if examples.dtype == np.uint8:
    examples = examples.astype(np.float32) / 127.5 - 1.0
  return examples


class Evaluator:
  """Computes `config.evals.metrics` for generator parameters. Real statistics are computed on
  first use and kept, so evaluating during training pays for them once."""

  def __init__(self, config, generator):
    check(config)
    self.config = config
    self.evals = config.evals
    self.names = tuple(self.evals.metrics)
    self.generate = sampling.make_generate(generator)
    self._real = {}
    # Load the feature networks now: a missing weights file or classifier fails at start-up,
    # naming the command that makes it, not at the first evaluation hours into a run.
    if {'stacked_modes', 'domain_fd'} & set(self.names):
      _classifier(classifier_name(config), self.evals.get('classifier_dir'))
    if set(self.names) & set(INCEPTION_METRICS):
      _inception(self.evals.inception_weights)

  def samples(self, params, batch_stats, num: int, seed: int) -> np.ndarray:
    """`num` generated samples from latents drawn from `seed`, in batches."""
    z = sampling.latents(seed, num, self.config.model.z_dim)
    size = self.evals.get('batch_size', 500)
    parts = [np.asarray(self.generate(params, batch_stats, z[i:i + size]))
             for i in range(0, num, size)]
    return np.concatenate(parts)

  def _real_features(self, key, extract):
    if key not in self._real:
      real = real_examples(self.config, self.evals.num_real)
      self._real[key] = extract(real)
    return self._real[key]

  def __call__(self, params, batch_stats, *, seed: int = 0) -> dict[str, float]:
    """The metrics' scalars as {'eval/<name>': value}; parameters may be host arrays."""
    params, batch_stats = jax.device_get((params, batch_stats))
    num = self.evals.num_samples
    fake = self.samples(params, batch_stats, num, seed)
    out = {}
    if 'modes' in self.names:
      result = modes_lib.mixture_modes(fake, toy.mixture_means(self.config.data),
                                       self.config.data.std)
      out.update({k: result[k] for k in METRICS['modes']})
    if 'stacked_modes' in self.names:
      digits = _classifier(classifier_name(self.config), self.evals.get('classifier_dir'))
      channels = np.stack([digits.predict(fake[..., c:c + 1]) for c in range(3)], axis=1)
      result = modes_lib.stacked_modes(channels, digits.num_classes)
      out.update({'stacked_modes': result['modes'], 'stacked_kl': result['kl']})
    if 'domain_fd' in self.names:
      net = _classifier(classifier_name(self.config), self.evals.get('classifier_dir'))
      real = self._real_features('classifier', net.features)
      out['domain_fd'] = metrics_lib.frechet_distance(real, net.features(fake))
    if set(self.names) & set(INCEPTION_METRICS):
      net = _inception(self.evals.inception_weights)
      real = self._real_features('inception', net)
      gen = net(fake)
      if 'fid' in self.names:
        out['fid'] = metrics_lib.frechet_distance(real['pool'], gen['pool'])
      if 'kid' in self.names:
        out['kid'], out['kid_std'] = metrics_lib.kernel_distance(real['pool'], gen['pool'])
      if 'is' in self.names:
        logits = gen['logits'].astype(np.float64)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        out['is'], out['is_std'] = metrics_lib.inception_score(probs / probs.sum(1, keepdims=True))
      if 'precision_recall' in self.names:
        out['precision'], out['recall'] = metrics_lib.precision_recall(real['pool'], gen['pool'])
    logging.info('Evaluation: %s', ', '.join(f'{k} {v:.4g}' for k, v in out.items()))
    return {f'eval/{k}': float(v) for k, v in out.items()}


def default_metrics(config) -> tuple[str, ...]:
  if config.evals.metrics:
    return tuple(config.evals.metrics)
  if config.data.name in data_lib.MIXTURES:
    return ('modes',)
  if config.data.name in ('stacked_digits', 'stacked_mnist'):
    return ('stacked_modes',)
  if config.data.name in ('digits', 'mnist', 'fashion_mnist'):
    return ('domain_fd',)
  return ('fid',)


def evaluate_run(workdir: str, *, metrics=None, num_samples=None, num_real=None, step=None,
             best=False, seed=0) -> tuple[str, dict]:
  """Writes workdir/eval_<step>.json; returns (its path, its contents)."""
  from gan_jax import runs  # lazy: runs imports the trainer, which imports this module
  config, _, generator, state = runs.restore(
      workdir, step, subdir='checkpoints_best' if best else 'checkpoints')
  config.evals.metrics = tuple(metrics or default_metrics(config))
  if num_samples:
    config.evals.num_samples = num_samples
  if num_real:
    config.evals.num_real = num_real
  if config.data.name in data_lib.MIXTURES and not num_samples:
    config.evals.num_samples = 2500  # the VEEGAN / PacGAN protocol
  config.evals.best_metric = ''
  evaluator = Evaluator(config, generator)
  values = evaluator(state.ema_params, state.g.batch_stats, seed=seed)
  step = int(state.step)
  result = {'step': step, 'checkpoint': 'best' if best else 'latest or --step',
            'metrics': list(config.evals.metrics), 'values': values,
            'num_samples': config.evals.num_samples, 'seed': seed,
            'generator': 'EMA parameters (equal to the generator when train.ema_decay=0)'}
  if set(config.evals.metrics) & set(INCEPTION_METRICS) or (
      set(config.evals.metrics) & {'domain_fd'}):
    result['num_real'] = config.evals.num_real
    result['real'] = f'training data of {config.data.name!r}, split {config.data.get("split")}'
  if set(config.evals.metrics) & set(INCEPTION_METRICS):
    result['inception_weights'] = os.path.expanduser(config.evals.inception_weights)
  if set(config.evals.metrics) & {'domain_fd', 'stacked_modes'}:
    result['classifier'] = classifier_name(config)
  path = os.path.join(workdir, f'eval_{step}.json')
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    json.dump(result, f, indent=2)
  os.replace(path + '.tmp', path)
  return path, result
