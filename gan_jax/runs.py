"""A finished or running training run, read back from its workdir alone: its config, its family
and a checkpoint restored on one device; and its evaluation, optionally with truncated latents
or a sweep over truncation thresholds. Used by the sample and evaluate commands."""

from __future__ import annotations

import os

import jax

from gan_jax import checkpointing, files, parallel, plots, train
from gan_jax import truncation as truncation_lib
from gan_jax import data as data_lib
from gan_jax.evaluators import evaluator as evaluator_lib
from gan_jax.evaluators import registry


load_config = train.load_config  # the run's config.json, completed with today's defaults


def restore(workdir: str, step: int | None = None, subdir: str = 'checkpoints'):
  """(config, data spec, family, state) of a run's checkpoint, on one device."""
  config = load_config(workdir)
  spec, family = train.build(config)
  mesh = parallel.make_mesh(jax.devices()[:1])
  template, _ = train.abstract_state(family, mesh)
  ckpt = checkpointing.Checkpointer(workdir, read_only=True, subdir=subdir)
  try:
    state, _, legacy = train.restore(ckpt, family, template, step)
  finally:
    ckpt.close()
  if legacy:
    # The trainer saves the EMA copies' own statistics; a checkpoint from before families
    # holds none, so they are computed here as the trainer would have.
    state = train.sharded_refresh(config, family, mesh)(state)
  return config, spec, family, state


def truncation_sweep(evaluator, ema, *, seed: int = 0, thresholds=truncation_lib.SWEEP,
                     known=None) -> list[dict]:
  """The truncation trick's trade-off: `evaluator`'s metrics on samples from the same latents
  (`seed`) truncated at each of `thresholds`, then untruncated. Rows {'truncation': t or None,
  <metric>: value, ...} (metric names without 'eval/'). `known`: {threshold or None: values}
  already computed, reused rather than evaluated again."""
  known = known or {}
  rows = []
  for t in (*thresholds, None):
    values = known[t] if t in known else evaluator(ema, seed=seed, truncation=t)
    rows.append({'truncation': t, **{k.removeprefix('eval/'): v for k, v in values.items()}})
  return rows


def evaluate_run(workdir: str, *, metrics=None, num_samples=None, num_real=None, step=None,
                 best=False, seed=0, truncation=None,
                 sweep: bool = False) -> tuple[str, dict]:
  """Evaluates a run's checkpoint; writes workdir/eval_<step>.json and returns (its path, its
  contents).

  `truncation` = t: the samples' latents are truncated at t (`gan_jax/truncation.py`).
  `sweep`: also the metrics at each of `truncation.SWEEP` and untruncated, as the contents'
  'truncation_sweep' rows, plotted as the trade-off curve in workdir/truncation_<step>.png.
  Both are checked from the config alone, before the checkpoint is read."""
  truncation = truncation_lib.check_threshold(truncation)
  if truncation is not None or sweep:
    truncation_lib.check(train.build(load_config(workdir))[1], truncation,
                         flag='--truncation' if truncation is not None else '--truncation_sweep')
  config, _, family, state = restore(
      workdir, step, subdir='checkpoints_best' if best else 'checkpoints')
  conditional = family.conditional
  config.evals.metrics = tuple(metrics or evaluator_lib.default_metrics(
      config, conditional=conditional))
  if num_samples:
    config.evals.num_samples = num_samples
  if num_real:
    config.evals.num_real = num_real
  if config.data.name in data_lib.MIXTURES and not num_samples:
    config.evals.num_samples = 2500  # the VEEGAN / PacGAN protocol
  config.evals.best_metric = ''
  evaluator = evaluator_lib.make(config, family)
  ema = jax.device_get(state.ema['g'])
  values = evaluator(ema, seed=seed, truncation=truncation)
  step = int(state.step)
  names = set(config.evals.metrics)
  result = {'step': step, 'checkpoint': 'best' if best else 'latest or --step',
            'metrics': list(config.evals.metrics), 'values': values,
            'num_samples': config.evals.num_samples, 'seed': seed,
            'generator': 'EMA parameters (equal to the generator when train.ema_decay=0) with '
                         'batch-norm statistics: '
                         + getattr(family, 'ema_statistics', config.train.ema_stats)}
  if truncation is not None:
    result['truncation'] = truncation
  if conditional:
    result['classes'] = getattr(family, 'classes_note',
                                'uniform: sample i generated for class i mod num_classes')
  if getattr(family, 'translates', False):  # measured on the held-out split
    result['generator'] = ('EMA parameters (equal to the generator when train.ema_decay=0) with '
                           "the generator's batch-norm statistics")
    result['num_samples'] = len(family.heldout(config.evals.num_samples)['a'])
    result['heldout'] = (f"split 'test' of {config.data.name!r} at {config.data.image_size} "
                         'pixels, no crop or flip: its a images translated (a2b), compared with '
                         'its b images')
  uses = lambda what: any(getattr(registry.METRICS[n], what) for n in names)
  translates = getattr(family, 'translates', False)
  if (uses('inception') and not translates) or names & {'domain_fd', 'intra_fd'}:
    result['num_real'] = config.evals.num_real
    result['real'] = f'training data of {config.data.name!r}, split {config.data.get("split")}'
  if uses('inception'):
    result['inception_weights'] = os.path.expanduser(config.evals.inception_weights)
  if uses('classifier'):
    result['classifier'] = evaluator_lib.classifier_name(config)
  if sweep:
    rows = truncation_sweep(evaluator, ema, seed=seed, known={truncation: values})
    plot = os.path.join(workdir, f'truncation_{step}.png')
    plots.plot_truncation_sweep(rows, plot, title=f'truncation trade-off, step {step}')
    result['truncation_sweep'] = rows
    result['truncation_plot'] = plot
  path = os.path.join(workdir, f'eval_{step}.json')
  files.write_json(path, result)
  return path, result
