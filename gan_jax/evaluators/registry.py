"""The metrics by name (`config.evals.metrics`): the scalars each one logs, which way each is
better, and what a metric needs of a run. Checked at start-up, before anything is loaded.

- `modes`: low-dimensional mixtures: modes captured, % high-quality samples, reverse KL
  (VEEGAN / PacGAN; `modes.py`) from `evals.num_samples` points (2,500).
- `stacked_modes`: stacked digits: modes covered among 1,000 and KL to uniform, each channel
  classified by the dataset classifier (`evals.classifier`).
- `domain_fd`: Fréchet distance in the penultimate features of the dataset's classifier, the
  way TF-GAN measures MNIST.
- `class_accuracy` (conditional runs): the share of generated samples that the dataset
  classifier assigns to the class they were generated for, classes drawn uniformly.
- `intra_fd` (conditional runs): `domain_fd` within each class (the real examples of that class
  against samples generated for it), averaged over the classes.
- `class_spread` (labelled data): the variety within each class, the mean squared distance of
  the classifier's features to their class mean, averaged over the classes; generated samples
  grouped by the class the classifier assigns them (any run), the real examples by their labels.
  Scalars `class_spread`, `real_class_spread` and their ratio `spread_ratio` (1: the real
  digits' variety; below: samples too alike within a class).
- `description_match` (StackGAN on `described_digits`): Pearson's correlation between the
  thickness, slant and size each sample was asked for (its description) and those measured on
  it (`data/attributes.py`): `thickness_corr`, `slant_corr`, `size_corr`.
- `fid`, `kid`, `is`, `precision_recall`: over InceptionV3 features (FID's network; weights from
  `evals.inception_weights`, a file the user supplies).

Translation runs (families `pix2pix`, `cyclegan`; `evaluators/translation.py`) are measured on
the held-out split, translating its 'a' images into domain B:
- `paired` (paired data): `l1`, `psnr` and `ssim` of the translations against their targets,
  beside `source_l1`, `source_psnr`, `source_ssim` of the untranslated sources (the baseline a
  translation has to beat), all on images scaled to [0, 1];
- `class_preserved` (data with labels and a dataset classifier): the share of translations the
  classifier assigns to their source's class;
- `translation_fd`: the domain Fréchet distance (the classifier's features) of the
  translations against the held-out images of domain B, beside `source_fd`, that of the
  untranslated sources; `translation_fid` the same over InceptionV3 features.
"""

from __future__ import annotations

import dataclasses

LOWER, HIGHER, NEITHER = 'lower', 'higher', 'neither'


@dataclasses.dataclass(frozen=True)
class Metric:
  scalars: dict[str, str]        # scalar name -> which way is better
  data: str = 'image'            # 'image', 'points', 'mixture' (a Gaussian mixture), 'paired'
                                 # (paired translation data) or 'translation' (either kind)
  classifier: bool = False       # needs the dataset classifier
  inception: bool = False        # needs the Inception network
  conditional: bool = False      # needs samples generated for given classes
  labels: bool = False           # needs labelled data
  described: bool = False        # needs the bundled digits' descriptions (StackGAN)


METRICS = {
    'modes': Metric({'modes': HIGHER, 'high_quality': HIGHER, 'reverse_kl': LOWER},
                    data='mixture'),
    'stacked_modes': Metric({'stacked_modes': HIGHER, 'stacked_kl': LOWER}, classifier=True),
    'domain_fd': Metric({'domain_fd': LOWER}, classifier=True),
    'class_accuracy': Metric({'class_accuracy': HIGHER}, classifier=True, conditional=True),
    'intra_fd': Metric({'intra_fd': LOWER}, classifier=True, conditional=True),
    'class_spread': Metric({'class_spread': NEITHER, 'real_class_spread': NEITHER,
                            'spread_ratio': NEITHER}, classifier=True, labels=True),
    'description_match': Metric({'thickness_corr': HIGHER, 'slant_corr': HIGHER,
                                 'size_corr': HIGHER}, described=True),
    'fid': Metric({'fid': LOWER}, inception=True),
    'kid': Metric({'kid': LOWER, 'kid_std': NEITHER}, inception=True),
    'is': Metric({'is': HIGHER, 'is_std': NEITHER}, inception=True),
    'precision_recall': Metric({'precision': HIGHER, 'recall': HIGHER}, inception=True),
    'paired': Metric({'l1': LOWER, 'psnr': HIGHER, 'ssim': HIGHER, 'source_l1': NEITHER,
                      'source_psnr': NEITHER, 'source_ssim': NEITHER}, data='paired'),
    'class_preserved': Metric({'class_preserved': HIGHER}, data='translation', classifier=True,
                              labels=True),
    'translation_fd': Metric({'translation_fd': LOWER, 'source_fd': NEITHER},
                             data='translation', classifier=True),
    'translation_fid': Metric({'translation_fid': LOWER, 'source_fid': NEITHER},
                              data='translation', inception=True),
}
TRANSLATION_KINDS = ('paired', 'unpaired')


def for_translation(name: str) -> bool:
  """Whether metric `name` measures translations (else generated samples)."""
  return METRICS[name].data in ('paired', 'translation')


def direction(scalar: str) -> str:
  """Which way `scalar` ('fid' or 'eval/fid') is better: LOWER, HIGHER or NEITHER."""
  name = scalar.split('/')[-1]
  for metric in METRICS.values():
    if name in metric.scalars:
      return metric.scalars[name]
  raise ValueError(f'{scalar!r} is not a scalar of any metric; known: '
                   f'{sorted(s for m in METRICS.values() for s in m.scalars)}')


def lower_is_better(scalar: str) -> bool:
  return direction(scalar) == LOWER


def check(evals, *, data_name: str, data_kind: str, channels: int, mixture: bool,
          conditional: bool, labelled: bool = True) -> None:
  """Start-up checks of `config.evals`: names, and what each metric needs of the run."""
  if evals is None or not evals.metrics:
    return
  for name in evals.metrics:
    if name not in METRICS:
      raise ValueError(f'unknown evals.metrics entry {name!r}; choose from {sorted(METRICS)}')
    metric = METRICS[name]
    translation = data_kind in TRANSLATION_KINDS
    if for_translation(name) and not translation:
      raise ValueError(f'evals {name!r} measures translations: it needs a translation run '
                       "(family 'pix2pix' or 'cyclegan')")
    if translation and not for_translation(name):
      raise ValueError(f'evals {name!r} measures generated samples; a translation run is '
                       f"measured by {sorted(n for n in METRICS if for_translation(n))}")
    if metric.data == 'paired' and data_kind != 'paired':
      raise ValueError(f"evals {name!r} compares translations with their targets: data "
                       f"{data_name!r} is unpaired; use 'translation_fd' or 'translation_fid'")
    if metric.labels and not labelled:
      raise ValueError(f'evals {name!r} needs labelled data; data {data_name!r} has none '
                       '(data.num_classes=0)')
    if metric.data == 'mixture' and not mixture:
      raise ValueError(f"evals {name!r} needs a Gaussian-mixture dataset, not {data_name!r}")
    if metric.data == 'image' and data_kind != 'image':
      raise ValueError(f'evals {name!r} needs image data, not {data_name!r}')
    if metric.described and data_name != 'described_digits':
      raise ValueError(f"evals {name!r} compares samples with the digit descriptions they were "
                       f"asked for: it needs data 'described_digits', not {data_name!r}")
    if metric.conditional and not conditional:
      raise ValueError(f'evals {name!r} measures samples generated for given classes: it needs '
                       "a conditional run (family='conditional'), not this unconditional one")
  if 'stacked_modes' in evals.metrics and channels != 3:
    raise ValueError("evals 'stacked_modes' needs 3-channel stacked digits")
  if evals.every < 0:
    raise ValueError(f'evals.every must be 0 (off) or a number of steps, got {evals.every}')
  for key in ('num_samples', 'num_real', 'batch_size'):
    if evals.get(key, 2) < 2:
      raise ValueError(f'evals.{key} must be at least 2, got {evals[key]}')
  best = evals.get('best_metric', '')
  produced = {s for name in evals.metrics for s in METRICS[name].scalars}
  if best and best not in produced:
    raise ValueError(f'evals.best_metric={best!r} is not among the scalars of evals.metrics '
                     f'{list(evals.metrics)}: {sorted(produced)}')
  if best and direction(best) == NEITHER:
    raise ValueError(f'evals.best_metric={best!r} has no better direction; choose one of '
                     f'{sorted(s for s in produced if direction(s) != NEITHER)}')
