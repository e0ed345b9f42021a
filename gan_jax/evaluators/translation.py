"""Evaluating an image-translation run (families `pix2pix` and `cyclegan`): its EMA generator
translates the held-out split's 'a' images into domain B, and the metrics of `registry.py`
measure the translations (`paired`, `class_preserved`, `translation_fd`, `translation_fid`).

The held-out split is `data.split='test'` of the run's data at the model's size (no crop, no
flip), `evals.num_samples` examples at most in a fixed order drawn from the config's seed
(`families/translation.heldout`). Training never reads it.
"""

from __future__ import annotations

from absl import logging
import numpy as np

from gan_jax.evaluators import metrics as metrics_lib
from gan_jax.evaluators import registry


def _unit(images: np.ndarray) -> np.ndarray:
  return (np.asarray(images, np.float64) + 1.0) / 2.0


class TranslationEvaluator:
  """Computes `config.evals.metrics` (checked already) for a translation family's EMA
  generator; `classifier()` and `inception()` load the feature networks (`evaluator.make`)."""

  def __init__(self, config, family, *, classifier, inception):
    self.config = config
    self.family = family
    self.names = tuple(config.evals.metrics)
    self._classifier, self._inception = classifier, inception
    # The feature networks load now: a missing one fails at start-up, not at an evaluation.
    if self._needs('classifier'):
      self._classifier()
    if self._needs('inception'):
      self._inception()

  def _needs(self, what: str) -> bool:
    return any(getattr(registry.METRICS[name], what) for name in self.names)

  def __call__(self, ema, *, seed: int = 0, truncation: float | None = None) -> dict[str, float]:
    if truncation is not None:
      raise ValueError('a translation run has no latent to truncate')
    examples = self.family.heldout(self.config.evals.num_samples)
    source, target = examples['a'], examples['b']
    fake = self.family.translate(ema, source, seed=seed)
    out = {}
    if 'paired' in self.names:
      out['l1'] = metrics_lib.mean_l1(_unit(fake), _unit(target))
      out['psnr'] = metrics_lib.psnr(_unit(fake), _unit(target))
      out['ssim'] = metrics_lib.ssim(_unit(fake), _unit(target))
      if source.shape == target.shape:
        out['source_l1'] = metrics_lib.mean_l1(_unit(source), _unit(target))
        out['source_psnr'] = metrics_lib.psnr(_unit(source), _unit(target))
        out['source_ssim'] = metrics_lib.ssim(_unit(source), _unit(target))
    # Unpaired data may show a B image beside more than one A image: each counts once.
    domain_b = np.unique(target, axis=0)
    if self._needs('classifier'):
      net = self._classifier()
      if 'class_preserved' in self.names:
        out['class_preserved'] = float(np.mean(net.predict(fake) == examples['label']))
      if 'translation_fd' in self.names:
        real = net.features(domain_b)
        out['translation_fd'] = metrics_lib.frechet_distance(real, net.features(fake))
        out['source_fd'] = metrics_lib.frechet_distance(real, net.features(source))
    if 'translation_fid' in self.names:
      net = self._inception()
      real = net(domain_b)['pool']
      out['translation_fid'] = metrics_lib.frechet_distance(real, net(fake)['pool'])
      out['source_fid'] = metrics_lib.frechet_distance(real, net(source)['pool'])
    logging.info('Evaluation of %d held-out translations: %s', len(fake),
                 ', '.join(f'{k} {v:.4g}' for k, v in out.items()))
    return {f'eval/{k}': float(v) for k, v in out.items()}
