"""Class-conditional GANs: labels reach both players.

The game is `families/gan.py`'s with labels: D sees real examples with their own labels and
generated ones with the labels they were generated for, drawn uniformly per example. How labels
enter is `model.conditioning` (see the architectures, e.g. `models/dcgan.py`):

- `concat`: the original conditional GAN (Mirza & Osindero 2014), a one-hot label joined to z
  and to D's input;
- `projection`: conditional batch norm in G and a projection discriminator (Miyato & Koyama
  2018);
- `acgan`: Odena et al. 2017: D has an auxiliary classifier head; its cross-entropy, weighted
  by `loss.class_weight`, is added to D's loss on real and generated examples and to G's loss
  on generated ones. G conditions its batch norm on the class, as for projection.
  `loss.class_on_fake=False` keeps D's class loss to real examples only, so that its head stays
  a classifier of the data rather than of whatever G marks its samples with.

Sampling takes labels: the trainer's grids have one row per class, evaluations draw classes
uniformly, and `gan_jax.sample --labels=3,7` draws the classes asked for.
"""

from __future__ import annotations

import numpy as np

from gan_jax.families import gan

CONDITIONINGS = ('concat', 'projection', 'acgan')


class ConditionalFamily(gan.GanFamily):
  """The conditional game: players 'g' and 'd', an EMA of 'g', labels in both."""

  @property
  def num_classes(self) -> int:
    return self.game.num_classes

  def labels_for(self, num: int, labels=None) -> np.ndarray:
    """The classes of `num` samples: uniform (0, 1, ..., C-1, 0, ...) by default, else
    `labels` cycled."""
    return class_labels(self.num_classes, num, labels)

  def grid(self, ema, *, seed: int, num: int):
    """One row per class, `num // classes` samples each (at least one)."""
    per_class = max(1, num // self.num_classes)
    labels = np.repeat(np.arange(self.num_classes), per_class)
    samples, _ = self.sample(ema, seed=seed, num=len(labels), labels=labels)
    return samples, per_class


def class_labels(num_classes: int, num: int, labels=None) -> np.ndarray:
  """The classes of `num` samples of a conditional generator: uniform (0, 1, ..., C-1, 0, ...)
  by default, else `labels` cycled; raises for classes outside 0..C-1."""
  if labels is None:
    return np.arange(num) % num_classes
  labels = np.asarray(labels, np.int64).reshape(-1)
  bad = labels[(labels < 0) | (labels >= num_classes)]
  if len(labels) == 0 or len(bad):
    raise ValueError(f'labels must be classes 0..{num_classes - 1} of this run, got '
                     f'{labels.tolist()}')
  return np.resize(labels, num)


def build(config, spec, dtype) -> ConditionalFamily:
  from gan_jax import losses, models
  num_classes = spec.num_classes
  if num_classes < 2:
    raise ValueError(f"family 'conditional' needs labelled data with at least 2 classes; data "
                     f'{config.data.name!r} has data.num_classes={num_classes}')
  conditioning = config.model.get('conditioning', 'projection')
  if conditioning not in CONDITIONINGS:
    raise ValueError(f'unknown model.conditioning {conditioning!r}; choose one of '
                     f'{list(CONDITIONINGS)}')
  generator, discriminator = models.build(config.model, spec.shape, dtype, num_classes)
  class_weight = config.loss.get('class_weight', 1.0) if conditioning == 'acgan' else 0.0
  game = gan.game_from_config(config, spec, losses.get(config.loss.name),
                              num_classes=num_classes, class_weight=class_weight,
                              class_on_fake=config.loss.get('class_on_fake', True))
  return ConditionalFamily(config, spec, generator, discriminator, game)
