"""Evaluating a generator: the metrics a config asks for (`registry.py`), on samples from a
family's EMA generator.

`Evaluator(config, family)(ema, seed=...)` returns {'eval/<scalar>': value}. It runs every
`config.evals.every` steps during training and on demand through `python -m gan_jax.evaluate`;
the same code serves both, so the numbers agree. Real statistics come from the training data:
`evals.num_real` examples in a fixed order, computed on first use and kept. `truncation=t` draws
the samples from latents truncated at t (`gan_jax/truncation.py`; the evaluate command's
`--truncation` and `--truncation_sweep`).
"""

from __future__ import annotations

import functools

from absl import logging
import numpy as np

from gan_jax import data as data_lib
from gan_jax import truncation as truncation_lib
from gan_jax.data import convert, toy
from gan_jax.evaluators import metrics as metrics_lib
from gan_jax.evaluators import modes as modes_lib
from gan_jax.evaluators import registry


@functools.lru_cache(maxsize=2)
def _inception(path: str):
  from gan_jax.evaluators import inception
  return inception.InceptionExtractor(path)


@functools.lru_cache(maxsize=4)
def _classifier(name: str, directory: str | None):
  from gan_jax.evaluators import classifier
  return classifier.load(name, directory)


CLASSIFIER_FOR_DATA = {'digits': 'digits', 'described_digits': 'digits', 'stacked_digits': 'digits', 'mnist': 'mnist',
                       'stacked_mnist': 'mnist', 'fashion_mnist': 'fashion_mnist',
                       'edges2digits': 'digits', 'printed2handwritten': 'digits'}


def classifier_name(config) -> str:
  """`evals.classifier`, or by default the classifier of the data's own digits or clothes."""
  name = config.evals.get('classifier') or CLASSIFIER_FOR_DATA.get(config.data.name)
  if not name:
    raise ValueError(f'no dataset classifier for data {config.data.name!r}: set '
                     f'evals.classifier to one of {sorted(set(CLASSIFIER_FOR_DATA.values()))}')
  return name


def check(config, *, conditional: bool) -> None:
  """Start-up checks of `config.evals` for this run."""
  evals = config.get('evals')
  if evals is None or not evals.metrics:
    return
  spec = data_lib.spec(config.data)
  registry.check(evals, data_name=config.data.name, data_kind=spec.kind,
                 channels=spec.shape[-1], mixture=config.data.name in data_lib.MIXTURES,
                 conditional=conditional, labelled=spec.num_classes > 0)
  if any(registry.METRICS[name].classifier for name in evals.metrics):
    classifier_name(config)


def real_examples(config, num: int) -> tuple[np.ndarray, np.ndarray]:
  """`num` training examples (fewer if the data has fewer) in a fixed order, a permutation drawn
  from the config's seed, as float32 in [-1, 1]; and their labels."""
  source = data_lib.open_source(config.data, config.seed)
  order = np.random.default_rng([config.seed, 0xE7A1]).permutation(len(source))[:num]
  entries = source.read(np.sort(order))
  if isinstance(entries, dict):  # described images: {'image', 'label', 'condition'}
    entries = entries['image'], entries['label']
  examples, labels = entries
  return convert.to_unit_range(examples), labels


def default_metrics(config, *, conditional: bool) -> tuple[str, ...]:
  """The metrics a run is evaluated with when none are named."""
  if config.evals.metrics:
    return tuple(config.evals.metrics)
  spec = data_lib.spec(config.data)
  if spec.kind in registry.TRANSLATION_KINDS:
    has_classifier = bool(config.evals.get('classifier')
                          or config.data.name in CLASSIFIER_FOR_DATA)
    names = ('paired',) if spec.kind == 'paired' else ()
    if has_classifier:
      names += ('translation_fd',) if spec.kind == 'unpaired' else ()
      names += ('class_preserved',) if spec.num_classes else ()
    return names or ('translation_fid',)
  if config.data.name in data_lib.MIXTURES:
    return ('modes',)
  if config.data.name in ('stacked_digits', 'stacked_mnist'):
    return ('stacked_modes',)
  if config.data.name == 'described_digits':
    return ('class_accuracy', 'description_match', 'domain_fd')
  if config.data.name in ('digits', 'mnist', 'fashion_mnist'):
    return ('domain_fd', 'class_accuracy', 'intra_fd') if conditional else ('domain_fd',)
  return ('fid',)


def make(config, family):
  """The evaluator of a family: `Evaluator`, or for a family that translates images
  `translation.TranslationEvaluator`."""
  if getattr(family, 'translates', False):
    from gan_jax.evaluators import translation
    check(config, conditional=False)
    return translation.TranslationEvaluator(
        config, family,
        classifier=lambda: _classifier(classifier_name(config), config.evals.get('classifier_dir')),
        inception=lambda: _inception(config.evals.inception_weights))
  return Evaluator(config, family)


class Evaluator:
  """Computes `config.evals.metrics` for a family's EMA generator."""

  def __init__(self, config, family):
    self.conditional = family.conditional
    check(config, conditional=self.conditional)
    self.config = config
    self.family = family
    self.evals = config.evals
    self.names = tuple(self.evals.metrics)
    self._real = {}
    # Load the feature networks now: a missing weights file or classifier fails at start-up,
    # naming the command that makes it, not at the first evaluation hours into a run.
    if self._needs('classifier'):
      self._classifier()
    if self._needs('inception'):
      _inception(self.evals.inception_weights)

  def _needs(self, what: str) -> bool:
    return any(getattr(registry.METRICS[name], what) for name in self.names)

  def _classifier(self):
    return _classifier(classifier_name(self.config), self.evals.get('classifier_dir'))

  def samples(self, ema, num: int, seed: int, truncation: float | None = None):
    """(samples, labels or None): `num` generated samples from latents drawn from `seed`,
    truncated at `truncation` if given; conditional runs draw classes uniformly (0, 1, ...,
    C-1, 0, ...)."""
    if truncation is None:
      return self.family.sample(ema, seed=seed, num=num)
    truncation_lib.check(self.family, truncation)
    return self.family.sample(ema, seed=seed, num=num, truncation=truncation)

  def _real_data(self):
    if 'data' not in self._real:
      self._real['data'] = real_examples(self.config, self.evals.num_real)
    return self._real['data']

  def _real_features(self, key, extract):
    if key not in self._real:
      self._real[key] = extract(self._real_data()[0])
    return self._real[key]

  def __call__(self, ema, *, seed: int = 0, truncation: float | None = None) -> dict[str, float]:
    """The metrics' scalars as {'eval/<name>': value}; `ema` may hold host arrays. `truncation`:
    the latents' threshold, or None (untruncated, as in training)."""
    if 'description_match' in self.names:
      fake, labels, conditions = self.family.sample_described(
          ema, seed=seed, num=self.evals.num_samples, truncation=truncation)
    else:
      fake, labels = self.samples(ema, self.evals.num_samples, seed, truncation)
    out = {}
    if 'description_match' in self.names:
      from gan_jax.data import attributes
      size = self.family.spec.shape[0]
      _, requested = attributes.from_description(conditions, size)
      measured = attributes.stack(attributes.measure(fake))
      for i, name in enumerate(attributes.NAMES):
        out[f'{name}_corr'] = attributes.correlation(requested[:, i], measured[:, i])
    if 'modes' in self.names:
      result = modes_lib.mixture_modes(fake, toy.mixture_means(self.config.data),
                                       self.config.data.std)
      out.update({k: result[k] for k in registry.METRICS['modes'].scalars})
    if self._needs('classifier'):
      net = self._classifier()
      if 'stacked_modes' in self.names:
        channels = np.stack([net.predict(fake[..., c:c + 1]) for c in range(3)], axis=1)
        result = modes_lib.stacked_modes(channels, net.num_classes)
        out.update({'stacked_modes': result['modes'], 'stacked_kl': result['kl']})
      features = (net.features(fake) if {'domain_fd', 'intra_fd', 'class_spread'}
                  & set(self.names) else None)
      if 'domain_fd' in self.names:
        real = self._real_features('classifier', net.features)
        out['domain_fd'] = metrics_lib.frechet_distance(real, features)
      if 'class_accuracy' in self.names:
        out['class_accuracy'] = float(np.mean(net.predict(fake) == labels))
      if 'intra_fd' in self.names:
        real = self._real_features('classifier', net.features)
        out['intra_fd'] = metrics_lib.intra_class_fd(real, self._real_data()[1], features,
                                                     labels)
      if 'class_spread' in self.names:
        real = self._real_features('classifier', net.features)
        out['class_spread'] = metrics_lib.class_spread(features, net.predict(fake))
        out['real_class_spread'] = metrics_lib.class_spread(real, self._real_data()[1])
        out['spread_ratio'] = out['class_spread'] / out['real_class_spread']
    if self._needs('inception'):
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
