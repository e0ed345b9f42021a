"""Re-attributes real images with a trained Age-cGAN run: encodes an image, optimises its latent
so that the generator reproduces it, and regenerates it with another class ("this handwriting,
as a 7"; in the paper, this face at another age).

  python -m gan_jax.reattribute --workdir=DIR --image=FILE --to=7 [--out=DIR] \\
      [--optimise=pixel|features] [--from=K] [--steps=300] [--step=S]
  python -m gan_jax.reattribute --workdir=DIR --image=FILE --to=all
  python -m gan_jax.reattribute --workdir=DIR --measure=450 [--optimise=...]   (bundled digits)

How, as the paper: z0 = E(x), the encoder's estimate; then z is optimised from z0 by Adam
(`--steps`, rate 0.02) so that G(z, y_from) reproduces x, y_from the image's own class
(`--from`, or by default the dataset classifier's prediction where the run has one):
- `pixel`: the mean squared pixel distance ||x - G(z, y_from)||^2 (the paper's "pixelwise"
  optimisation);
- `features`: the mean squared distance of a feature network's features (the paper's
  identity-preserving optimisation, with a face-recognition network). The feature network is
  the run's dataset classifier (penultimate layer; digits), or for other data the FID Inception
  network, whose weights the user supplies as for FID (`evals.inception_weights`; see the
  README's Evaluation). A face-recognition network's embeddings serve better for faces: any
  network can be used through `reattribute(..., feature_fn=)`, a JAX function of NHWC images in
  [-1, 1] to features.
Then G(z*, y_to) for each class asked for.

Outputs in `--out` (default DIR/reattribute_<image name>): `input.png`, `reconstruction.png`
(G(z*, y_from)), `as_<class>.png` for each class, and `side_by_side.png` (input,
reconstruction, then the classes). The log reports the time per image.

`--measure=N` (runs on the bundled digits): the first N of the 450 held-out digits, each
re-attributed to the 9 other classes; writes `measure_<optimise>.json` and a picture of the
first 10 as every class (`measure_<optimise>.png`) into `--out` (default DIR/reattribute).
Reported: `target_accuracy`, the share of re-attributed digits the digits classifier assigns to
the class asked for; `thickness_corr` and `slant_corr`, the correlation over all (digit, class)
pairs between the digit's thickness (slant) and its re-attribution's (`data/attributes.py`),
and `thickness_corr_per_class`, `slant_corr_per_class`, the same within each class asked for,
averaged over the classes (the pooled figure also counts how the classes differ);
`thickness_corr_standardised`, `slant_corr_standardised`, the pooled correlation of each
input's standing within its own class (its z-score) with its output's within the class asked
for, which is 1 for a re-attribution that keeps every digit's standing and does not count the
classes' own differences; `thickness_corr_ceiling`, `slant_corr_ceiling`, what the pooled
figure would be for such a re-attribution (`style_correlations`);
`generator_thickness_corr_across_classes` and `generator_slant_corr_across_classes`, how far
the generator itself keeps a style across classes (`cross_class_consistency`, on 500 latents
from the prior); `reconstruction_mse` before (E alone) and after the optimisation, and
`reconstruction_thickness_corr`, `reconstruction_slant_corr`, the correlation of each input's
attribute with its reconstruction's (the same class: how far the measurement itself follows a
close reconstruction); seconds per image.
"""

from __future__ import annotations

import json
import os
import time
from typing import Callable

from absl import app, flags, logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import files, plots, project, runs, train, writers
from gan_jax.data import attributes, convert

OPTIMISE = ('pixel', 'features')
LEARNING_RATE = 0.02
PRIOR_LATENTS = 500   # latents from the prior for `cross_class_consistency` in `--measure`


def check_agecgan(family, where: str) -> None:
  if not hasattr(family, 'encode'):
    name = getattr(getattr(family, 'config', None), 'family', None)
    raise ValueError(f'{where} is not an Age-cGAN run (family {name!r}): re-attribution needs '
                     "the encoder of family 'agecgan' (e.g. experiments/agecgan_digits.py)")


def parse_to(value: str, num_classes: int) -> list[int]:
  """The classes of `--to`: 'all', or comma-separated classes of the run."""
  if str(value) == 'all':
    return list(range(num_classes))
  try:
    classes = [int(v) for v in str(value).split(',') if v.strip()]
  except ValueError:
    raise ValueError(f"--to={value!r}: give a class (e.g. 7), classes (3,7) or 'all'") from None
  bad = [c for c in classes if not 0 <= c < num_classes]
  if not classes or bad:
    raise ValueError(f'--to={value!r}: this run has the classes 0..{num_classes - 1}')
  return classes


def check_optimise(optimise: str) -> str:
  if optimise not in OPTIMISE:
    raise ValueError(f"--optimise={optimise!r}: choose 'pixel' or 'features'")
  return optimise


def optimise_latents(family, g_variables, z0, labels, targets, *, steps: int,
                     distance: Callable) -> tuple[np.ndarray, list[float]]:
  """z (n, z_dim) optimised from z0 by Adam so that G(z, labels) matches `targets` under
  `distance(images, targets) -> (n,)`; each image's distance is its own, so the batch's
  images are optimised independently. Returns (z, the mean distance after each step)."""
  adam = optax.adam(LEARNING_RATE)
  labels = jnp.asarray(labels, jnp.int32)
  targets = jnp.asarray(targets, jnp.float32)

  @jax.jit
  def step(z, opt_state):
    def loss_fn(z):
      per_image = distance(family.generate_from(g_variables, z, labels), targets)
      return jnp.sum(per_image), jnp.mean(per_image)
    (_, mean), grads = jax.value_and_grad(loss_fn, has_aux=True)(z)
    updates, opt_state = adam.update(grads, opt_state, z)
    return optax.apply_updates(z, updates), opt_state, mean
  z = jnp.asarray(z0, jnp.float32)
  opt_state = adam.init(z)
  history = []
  for _ in range(steps):
    z, opt_state, mean = step(z, opt_state)
    history.append(mean)
  return np.asarray(z), [float(v) for v in jax.device_get(history)]


def pixel_distance(images, targets):
  return jnp.mean(jnp.square(images - targets), axis=(1, 2, 3))


def feature_distance(feature_fn: Callable, targets) -> Callable:
  target_features = feature_fn(jnp.asarray(targets, jnp.float32)).astype(jnp.float32)

  def distance(images, _):
    features = feature_fn(images).astype(jnp.float32)
    return jnp.mean(jnp.square(features - target_features), axis=-1)
  return distance


def reattribute(family, state, images, *, from_labels, to_classes, optimise: str = 'pixel',
                feature_fn: Callable | None = None, steps: int = 300) -> dict:
  """Re-attributes images (n, H, W, C) in [-1, 1] of classes `from_labels` (n,) to each class
  of `to_classes`. Returns {'z0', 'z', 'start' (G(z0, from)), 'reconstruction' (G(z, from)),
  'as': {class: images}, 'history'}."""
  optimise = check_optimise(optimise)
  images = np.asarray(images, np.float32)
  g = state.players['g']
  g_variables = {'params': g.params, 'batch_stats': g.batch_stats}
  z0 = np.asarray(family.encode(state.players['e'], images))
  if optimise == 'features':
    if feature_fn is None:
      raise ValueError("--optimise=features needs a feature network: the run's dataset "
                       'classifier, or the FID Inception weights (see the module docstring)')
    distance = feature_distance(feature_fn, images)
  else:
    distance = pixel_distance
  z, history = optimise_latents(family, g_variables, z0, from_labels, images, steps=steps,
                                distance=distance)
  render = jax.jit(family.generate_from)
  as_class = {int(c): np.asarray(render(g_variables, jnp.asarray(z),
                                        jnp.full((len(z),), c, jnp.int32)))
              for c in to_classes}
  from_labels = jnp.asarray(from_labels, jnp.int32)
  return {'z0': z0, 'z': z, 'start': np.asarray(render(g_variables, jnp.asarray(z0), from_labels)),
          'reconstruction': np.asarray(render(g_variables, jnp.asarray(z), from_labels)),
          'as': as_class, 'history': history}


def cross_class_consistency(generate: Callable, z, num_classes: int) -> dict[str, float]:
  """How far the generator itself keeps a latent's style when the class changes: for latents z
  (n, z_dim), the correlation of thickness (slant) between G(z, a) and G(z, b) over the n
  latents, averaged over the ordered class pairs a != b. `generate(z, labels)` -> images in
  [-1, 1]. Re-attribution changes the class of an optimised latent, so where the generator
  does not keep a style across classes for the latents it was trained on, re-attributed images
  rarely keep it either."""
  measured = [attributes.measure(np.asarray(generate(z, np.full((len(z),), c, np.int32))))
              for c in range(num_classes)]
  pairs = [(a, b) for a in range(num_classes) for b in range(num_classes) if a != b]
  return {k: float(np.mean([attributes.correlation(measured[a][k], measured[b][k])
                            for a, b in pairs])) for k in ('thickness', 'slant')}


def _z_scores(values: np.ndarray) -> np.ndarray:
  """Each value's z-score (0 where the values are constant)."""
  std = values.std()
  return (values - values.mean()) / std if std > 0 else np.zeros(len(values))


def style_correlations(before: dict, labels: np.ndarray, after: dict) -> dict[str, float]:
  """How far re-attribution keeps each input's thickness and slant.

  `before`: {'thickness': (n,), 'slant': (n,)} of the n inputs, of classes `labels` (n,);
  `after`: {class c: the same of the re-attributions to c of the inputs whose label is not c,
  in their order}. For each attribute k:
  - `k_corr`: Pearson's correlation over all (input, class) pairs, input against output;
  - `k_corr_per_class`: the same within each class asked for, averaged over the classes;
  - `k_corr_standardised`: over all pairs, the input's z-score within its own class against
    the output's within the class asked for: whether a digit thicker (more slanted) than most
    of its class comes out thicker than most of the other. The classes' own differences
    (a 1 measures thicker than a 0) drop out, so a re-attribution that kept every input's
    standing exactly would score 1;
  - `k_corr_ceiling`: what `k_corr` would be for such an exact re-attribution, each output
    being the asked class's mean plus the input's z-score times that class's standard
    deviation (the inputs' class statistics): the pooled figure of a re-attribution that is
    faithful in the standardised sense and draws each class with its own mean and spread.
  """
  labels = np.asarray(labels)
  classes = sorted(after)
  out = {}
  for k in ('thickness', 'slant'):
    values = np.asarray(before[k], np.float64)
    stats = {c: (values[labels == c].mean(), values[labels == c].std()) for c in np.unique(labels)}
    standing = np.zeros(len(values))  # each input's z-score within its class (0: constant)
    for c, (mean, std) in stats.items():
      if std > 0:
        standing[labels == c] = (values[labels == c] - mean) / std
    pooled_in, pooled_out, standing_in, standing_out, within = [], [], [], [], []
    exact_in, exact_out = [], []  # only classes that some input has: they give the statistics
    for c in classes:
      other = labels != c
      produced = np.asarray(after[c][k], np.float64)
      pooled_in.append(values[other])
      pooled_out.append(produced)
      within.append(attributes.correlation(values[other], produced))
      standing_in.append(standing[other])
      standing_out.append(_z_scores(produced))
      if c in stats:
        mean, std = stats[c]
        exact_in.append(values[other])
        exact_out.append(mean + standing[other] * std)
    out[f'{k}_corr'] = attributes.correlation(np.concatenate(pooled_in),
                                              np.concatenate(pooled_out))
    out[f'{k}_corr_per_class'] = float(np.mean(within))
    out[f'{k}_corr_standardised'] = attributes.correlation(np.concatenate(standing_in),
                                                           np.concatenate(standing_out))
    out[f'{k}_corr_ceiling'] = attributes.correlation(np.concatenate(exact_in or [[]]),
                                                      np.concatenate(exact_out or [[]]))
  return out


def _features(config, optimise: str):
  """(description, feature function or None) for `--optimise`."""
  if optimise != 'features':
    return 'pixels', None
  kind, used, fn = project.feature_network(config, 'auto')
  if fn is None:
    raise ValueError('--optimise=features needs a feature network, and this run has none: no '
                     'dataset classifier for its data (train one with python -m '
                     'gan_jax.classifier) and no FID Inception weights at '
                     f'{config.evals.inception_weights}')
  return used, fn


def _classifier(config):
  from gan_jax.evaluators import evaluator
  return evaluator._classifier(evaluator.classifier_name(config),
                               config.evals.get('classifier_dir'))


def reattribute_image(workdir: str, image: str, *, to: str = 'all', out: str | None = None,
                      optimise: str = 'pixel', from_class: int | None = None, steps: int = 300,
                      step: int | None = None) -> dict:
  """The command on one image file; every check runs before the checkpoint is read."""
  optimise = check_optimise(optimise)
  steps = project.check_steps(steps)
  config = runs.load_config(workdir)
  spec, family = train.build(config)
  check_agecgan(family, f'the run in {workdir}')
  classes = parse_to(to, family.num_classes)
  if from_class is not None and not 0 <= from_class < family.num_classes:
    raise ValueError(f'--from={from_class}: this run has the classes 0..{family.num_classes - 1}')
  target, _ = project.read_target(image, spec.shape)
  used, feature_fn = _features(config, optimise)
  if from_class is None:
    try:
      net = _classifier(config)
    except (ValueError, FileNotFoundError) as e:
      raise ValueError(f"give the image's own class with --from=K: there is no classifier to "
                       f'tell it ({e})') from None
    from_class = int(net.predict(target[None])[0])
    logging.info('The dataset classifier reads the image as class %d (--from overrides it).',
                 from_class)
  out = os.path.abspath(os.path.expanduser(out or os.path.join(
      workdir, f'reattribute_{os.path.splitext(os.path.basename(image))[0]}')))
  _, spec, family, state = runs.restore(workdir, step)
  state = jax.device_get(state)
  start = time.perf_counter()
  result = reattribute(family, state, target[None], from_labels=[from_class], to_classes=classes,
                       optimise=optimise, feature_fn=feature_fn, steps=steps)
  seconds = time.perf_counter() - start
  logging.info('Re-attributed 1 image in %.2f s (%s, %d steps; includes compilation).', seconds,
               used, steps)
  os.makedirs(out, exist_ok=True)
  plots.save_png(plots.image_grid(target[None], columns=1), os.path.join(out, 'input.png'))
  plots.save_png(plots.image_grid(result['reconstruction'], columns=1),
                 os.path.join(out, 'reconstruction.png'))
  for c, images in result['as'].items():
    plots.save_png(plots.image_grid(images, columns=1), os.path.join(out, f'as_{c}.png'))
  row = np.concatenate([target[None], result['reconstruction']]
                       + [result['as'][c] for c in classes])
  plots.save_png(plots.image_grid(row, columns=len(row)), os.path.join(out, 'side_by_side.png'))
  return {'out': out, 'from': from_class, 'to': classes, 'seconds': seconds, 'features': used,
          'result': result}


def measure(workdir: str, num: int, *, optimise: str = 'pixel', steps: int = 300,
            out: str | None = None, step: int | None = None) -> dict:
  """`--measure`: the first `num` held-out bundled digits re-attributed to every other class
  (see the module docstring); writes the JSON and the picture and returns the figures."""
  from gan_jax.data import digits
  optimise = check_optimise(optimise)
  steps = project.check_steps(steps)
  config = runs.load_config(workdir)
  if config.data.name != 'digits':
    raise ValueError(f'--measure re-attributes the held-out bundled digits; the run in {workdir} '
                     f'trained on {config.data.name!r}')
  spec, family = train.build(config)
  check_agecgan(family, f'the run in {workdir}')
  net = _classifier(config)
  used, feature_fn = _features(config, optimise)
  held = config.copy_and_resolve_references()
  held.data.digits_split = 'test'
  images, labels = digits.load(held.data, 0)
  if not 1 <= num <= len(images):
    raise ValueError(f'--measure={num}: give 1..{len(images)} held-out digits')
  images, labels = convert.to_unit_range(images[:num]).astype(np.float32), labels[:num]
  _, spec, family, state = runs.restore(workdir, step)
  state = jax.device_get(state)
  classes = list(range(family.num_classes))
  start = time.perf_counter()
  result = reattribute(family, state, images, from_labels=labels, to_classes=classes,
                       optimise=optimise, feature_fn=feature_fn, steps=steps)
  seconds = time.perf_counter() - start
  render = jax.jit(family.generate_from)
  g = state.players['g']
  prior = cross_class_consistency(
      lambda z, y: render({'params': g.params, 'batch_stats': g.batch_stats}, z, y),
      jax.random.normal(jax.random.PRNGKey(0), (PRIOR_LATENTS, config.model.z_dim)),
      family.num_classes)
  before = attributes.measure(images)
  hits, after = [], {}
  for c, generated in result['as'].items():
    other = labels != c
    hits.append(net.predict(generated[other]) == c)
    after[c] = attributes.measure(generated[other])
  rebuilt = attributes.measure(result['reconstruction'])
  figures = {
      'optimise': optimise, 'features': used, 'num_digits': int(num), 'steps': int(steps),
      'checkpoint_step': int(state.step),
      'target_accuracy': float(np.mean(np.concatenate(hits))),
      **style_correlations(before, labels, after),
      **{f'generator_{k}_corr_across_classes': v for k, v in prior.items()},
      'reconstruction_mse_encoder': float(np.mean(np.square(result['start'] - images))),
      'reconstruction_mse': float(np.mean(np.square(result['reconstruction'] - images))),
      'reconstruction_class_accuracy': float(np.mean(net.predict(result['reconstruction'])
                                                     == labels)),
      **{f'reconstruction_{k}_corr': attributes.correlation(before[k], rebuilt[k])
         for k in ('thickness', 'slant')},
      'seconds_per_image': seconds / num,
  }
  out = os.path.abspath(os.path.expanduser(out or os.path.join(workdir, 'reattribute')))
  os.makedirs(out, exist_ok=True)
  files.write_text(os.path.join(out, f'measure_{optimise}.json'),
                   json.dumps(figures, indent=2) + '\n')
  shown = min(10, num)
  rows = [np.concatenate([images[i:i + 1], result['reconstruction'][i:i + 1]]
                         + [result['as'][c][i:i + 1] for c in classes]) for i in range(shown)]
  plots.save_png(plots.image_grid(np.concatenate(rows), columns=len(classes) + 2),
                 os.path.join(out, f'measure_{optimise}.png'))
  logging.info('Measured: %s', figures)
  return figures


def _define_flags():
  flags.DEFINE_string('workdir', None, 'The Age-cGAN run directory.')
  flags.DEFINE_string('image', None, 'The image to re-attribute (PNG or JPEG).')
  flags.DEFINE_string('to', 'all', "The class(es) to regenerate it as: K, K1,K2 or 'all'.")
  flags.DEFINE_integer('from', None, "The image's own class (default: the dataset classifier's "
                       'reading).')
  flags.DEFINE_string('out', None, 'Output folder.')
  flags.DEFINE_enum('optimise', 'pixel', list(OPTIMISE), 'Latent optimisation: pixel distance '
                    'or feature distance (identity-preserving).')
  flags.DEFINE_integer('steps', 300, 'Optimisation steps.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_integer('measure', None, 'Measure on this many held-out bundled digits instead.')
  flags.mark_flags_as_required(['workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.INFO)
  writers.quiet_library_logs()
  f = flags.FLAGS
  try:
    if f.measure is not None:
      figures = measure(f.workdir, f.measure, optimise=f.optimise, steps=f.steps, out=f.out,
                        step=f.step)
      print(json.dumps(figures, indent=2))
      return
    if not f.image:
      raise ValueError('give --image=FILE to re-attribute, or --measure=N')
    result = reattribute_image(f.workdir, f.image, to=f.to, out=f.out, optimise=f.optimise,
                               from_class=f['from'].value, steps=f.steps, step=f.step)
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  print(result['out'])


if __name__ == '__main__':
  _define_flags()
  app.run(main)
