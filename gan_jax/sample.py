"""Draws samples from a run's latest (or chosen) checkpoint, with no dataset and no config file.

  python -m gan_jax.sample --workdir=DIR [--num=64] [--seed=S] [--out=FILE] [--step=S]
  python -m gan_jax.sample --workdir=DIR --labels=3,7 [--num=8]     (conditional runs)
  python -m gan_jax.sample --workdir=DIR --interpolate [--num=8] [--interpolation_steps=10]
  python -m gan_jax.sample --workdir=DIR --truncation=0.5 [--labels=3,7]
  python -m gan_jax.sample --workdir=DIR --truncation_psi=0.7 [--truncation_cutoff=K]  (StyleGAN2)
  python -m gan_jax.sample --workdir=DIR --style_mix [--num=5] [--style_cutoff=K]   (StyleGAN2)
  python -m gan_jax.sample --workdir=DIR --truncation_strip [--num=8]               (StyleGAN2)
  python -m gan_jax.sample --workdir=DIR --condition=FILE.npy                       (StackGAN)

Images: a PNG grid. 1-D / 2-D data: a plot over the data density plus a .npy of the points.
`--out=FILE.npy` writes the samples themselves (NHWC images, or points) and, for a conditional
run, the class of each sample in FILE.labels.npy. Conditional runs draw one row per class: the
classes of `--labels`, `--num` samples each (default 8), or every class. `--interpolate` writes
rows of spherical interpolations between pairs of random latents. Samples come from the EMA
generator (identical to the generator when EMA is off), with its own batch-norm statistics.
`--truncation=t` applies the truncation trick (BigGAN, Brock et al. 2019): latent entries beyond
+-t are resampled until inside (`gan_jax/truncation.py`), for plain and per-class samples; the
picture is then written to sample_<step>_truncation_<t>.png. Interpolations refuse it: the
spherical path between two truncated end points can leave [-t, t]. StyleGAN2 runs truncate in
w instead with `--truncation_psi=psi` in [0, 1]: w_avg + psi (w - w_avg) toward the tracked
average w, in every layer or in the first `--truncation_cutoff` layers (sample_<step>_psi_<psi>
.png); `--style_mix` writes StyleGAN's style-mixing grid (style_mix_<step>.png): `--num` row
sources down the left, `--num` column sources along the top, each image with the coarse styles
(the first `--style_cutoff` w's, default half) of its row and the fine ones of its column;
`--truncation_strip` writes one row per latent at psi 1, 0.75, 0.5, 0.25 and 0; and
`--interpolate` interpolates linearly in w. A translation run
(Pix2Pix, CycleGAN) draws `--num` held-out examples (default 16) beside their translations;
`gan_jax.translate` translates a folder of images. A StackGAN run samples from the training
data's descriptions (with `--labels`, descriptions of those classes), or with
`--condition=FILE.npy` from the description vectors in the file, (n, dim) or (n, K, dim) (the
first of each row's K), one sample each.
"""

from __future__ import annotations

import os

from absl import app, flags, logging
import jax
import numpy as np

from gan_jax import pictures, runs, train, writers
from gan_jax import truncation as truncation_lib
from gan_jax.families import stylegan2

_WORKDIR = flags.DEFINE_string('workdir', None, 'The run directory (holds config.json).')
_NUM = flags.DEFINE_integer('num', None, 'Samples to draw (default: 64 images, 2,500 points); '
                            'with --labels, per class (default 8); with --interpolate, rows.',
                            lower_bound=1)
_LABELS = flags.DEFINE_list('labels', None, 'Conditional runs: the classes to draw, e.g. 3,7.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed for the latents.')
_OUT = flags.DEFINE_string('out', None, 'Output .png, or .npy for the samples themselves '
                           '(default: workdir/samples/sample_<step>.png).')
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
_INTERPOLATE = flags.DEFINE_bool('interpolate', False, 'Write spherical interpolations.')
_INTERP_STEPS = flags.DEFINE_integer('interpolation_steps', 10, 'Images per interpolation row.',
                                     lower_bound=2)
_TRUNCATION = flags.DEFINE_float('truncation', None, 'Truncation trick: resample latent '
                                  'entries beyond +-t until inside (t > 0; default: none).')
_PSI = flags.DEFINE_float('truncation_psi', None, 'StyleGAN2: truncation toward the average w, '
                          'psi in [0, 1] (1: none).')
_PSI_CUTOFF = flags.DEFINE_integer('truncation_cutoff', None, 'StyleGAN2: truncate only the '
                                   'first K layers\' w (default: all).', lower_bound=1)
_STYLE_MIX = flags.DEFINE_bool('style_mix', False, 'StyleGAN2: write the style-mixing grid.')
_STRIP = flags.DEFINE_bool('truncation_strip', False, 'StyleGAN2: write rows of --num latents '
                           'at psi 1, 0.75, 0.5, 0.25 and 0.')
_STYLE_CUTOFF = flags.DEFINE_integer('style_cutoff', None, 'StyleGAN2 --style_mix: the w\'s taken '
                                     'from the rows (default: half).', lower_bound=1)
_CONDITION = flags.DEFINE_string('condition', None, 'StackGAN: a .npy of description vectors, '
                                 '(n, dim) or (n, K, dim), to sample from.')
flags.mark_flags_as_required(['workdir'])


def read_condition(path: str) -> np.ndarray:
  """The description vectors of `--condition`."""
  path = os.path.expanduser(path)
  if not os.path.isfile(path):
    raise ValueError(f'--condition={path!r} is not a file: give a .npy of description vectors')
  try:
    return np.load(path, allow_pickle=False)
  except Exception as e:  # numpy raises several types for files that are not .npy arrays
    raise ValueError(f'--condition={path!r} is not a readable .npy array ({type(e).__name__}: '
                     f'{e})') from None


def parse_labels(values) -> list[int] | None:
  if values is None:
    return None
  try:
    return [int(v) for v in values]
  except ValueError:
    raise ValueError(f'--labels takes class numbers separated by commas, e.g. 3,7; got '
                     f'{",".join(values)}') from None


def draw(workdir: str, *, num: int | None = None, seed: int = 0, out: str | None = None,
         step: int | None = None, labels=None, interpolate: bool = False,
         interpolation_steps: int = 10, truncation: float | None = None,
         psi: float | None = None, psi_cutoff: int | None = None, style_mix: bool = False,
         style_cutoff: int | None = None, truncation_strip: bool = False,
         condition: str | None = None):
  """Writes the picture, or the .npy of the samples; returns (path, samples, labels or None).
  `truncation`: the latents' threshold (see `gan_jax/truncation.py`), or None; `psi`,
  `psi_cutoff`, `style_mix`, `style_cutoff`, `truncation_strip`: StyleGAN2's truncation in w
  and style mixing; `condition`: a .npy of StackGAN description vectors."""
  if out is not None and not out.endswith(('.png', '.npy')):
    raise ValueError(f'--out={out!r}: give a .png (a picture) or .npy (the samples) path')
  truncation = truncation_lib.check_threshold(truncation)
  if truncation is not None and interpolate:
    raise ValueError('--truncation does not apply to --interpolate: the spherical path between '
                     'two truncated latents can leave [-t, t]. Drop one of them.')
  if psi is not None:
    psi = stylegan2.check_psi(psi)
  if sum((style_mix, interpolate, truncation_strip)) > 1:
    raise ValueError('--style_mix, --interpolate and --truncation_strip write different '
                     'pictures: choose one')
  if truncation_strip and psi is not None:
    raise ValueError('--truncation_strip draws its own psi values (1 to 0): drop '
                     '--truncation_psi')
  style_based = (psi is not None or psi_cutoff is not None or style_mix or truncation_strip
                 or style_cutoff is not None)
  vectors = None
  if condition is not None:
    config = runs.load_config(workdir)
    built = train.build(config)[1]
    if not hasattr(built, 'generate_stages'):
      raise ValueError(f'--condition: the run in {workdir} is family {config.family!r}; '
                       'description vectors condition StackGAN runs (family stackgan)')
    if labels is not None or interpolate or style_based:
      raise ValueError('--condition gives the descriptions: drop --labels, --interpolate and '
                       'the StyleGAN2 flags')
    vectors = built.check_condition(read_condition(condition))
  if labels is not None or truncation is not None or style_based:
    # Checked from the config alone, before the checkpoint is read.
    config = runs.load_config(workdir)
    built = train.build(config)[1]
    if labels is not None and not built.conditional:
      raise ValueError(f'--labels: the run in {workdir} is unconditional (family '
                       f'{config.family!r}); it generates no chosen classes. Drop --labels.')
    if truncation is not None:
      truncation_lib.check(built, truncation)
    if style_based and not hasattr(built, 'style_mix'):
      raise ValueError(f'--truncation_psi, --truncation_cutoff, --truncation_strip, --style_mix '
                       f'and --style_cutoff '
                       f'apply to style-based generators (family stylegan2); the run in '
                       f'{workdir} is family {config.family!r}')
    if style_based:
      for flag, value in (('--truncation_cutoff', psi_cutoff), ('--style_cutoff', style_cutoff)):
        if value is not None and not 0 < value <= built.num_ws:
          raise ValueError(f'{flag}={value}: this generator has {built.num_ws} w inputs; give '
                           f'1..{built.num_ws}')
  config, spec, family, state = runs.restore(workdir, step)
  style = {} if psi is None and psi_cutoff is None else {
      'psi': 1.0 if psi is None else psi, 'cutoff': psi_cutoff}
  ema = jax.device_get(state.ema['g'])
  step = int(state.step)
  columns = None
  if interpolate:
    samples, columns = family.interpolation(ema, seed=seed, rows=num or 8,
                                            steps_per_row=interpolation_steps, labels=labels)
    sample_labels = family.labels_for(len(samples), labels)
  elif truncation_strip:
    samples, columns = family.truncation_strip(ema, seed=seed, rows=num or 8, cutoff=psi_cutoff,
                                               labels=labels)
    sample_labels = None
  elif style_mix:
    samples, columns = family.style_mix(ema, seed=seed, rows=num or 5, columns=num or 5,
                                        cutoff=style_cutoff, labels=labels,
                                        psi=style.get('psi', 1.0))
    sample_labels = None
  elif vectors is not None:
    samples, sample_labels = family.sample(ema, seed=seed, num=len(vectors), condition=vectors,
                                           truncation=truncation)
  elif getattr(family, 'translates', False):
    # Held-out sources beside their translations (and targets): `num` examples.
    samples, columns = family.grid(ema, seed=seed, num=num or 16)
    sample_labels = None
  elif family.conditional:
    classes = np.arange(family.num_classes) if labels is None else np.asarray(labels)
    family.labels_for(len(classes), classes)  # checks the classes
    columns = num or 8
    sample_labels = np.repeat(classes, columns)
    samples, _ = family.sample(ema, seed=seed, num=len(sample_labels), labels=sample_labels,
                               truncation=truncation, **style)
  else:
    num = num or (64 if spec.kind == 'image' else pictures.NUM_POINTS)
    samples, sample_labels = family.sample(ema, seed=seed, num=num, truncation=truncation,
                                           **style)
  kind = ('interpolation' if interpolate else 'style_mix' if style_mix else
          'truncation_strip' if truncation_strip else 'sample')
  suffix = '' if truncation is None else f'_truncation_{truncation:g}'
  if psi is not None:
    suffix += f'_psi_{psi:g}'
  out = out or os.path.join(workdir, 'samples', f'{kind}_{step}{suffix}.png')
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  if out.endswith('.npy'):
    np.save(out, samples)
    if sample_labels is not None:
      np.save(out[:-len('.npy')] + '.labels.npy', np.asarray(sample_labels, np.int32))
  else:
    title = (f'step {step}' + ('' if truncation is None else f', truncation {truncation:g}')
             + ('' if psi is None else f', psi {psi:g}'))
    family.picture(state, samples, out, title=title, columns=columns)
    if spec.kind == 'points':
      np.save(os.path.splitext(out)[0] + '.npy', samples)
  return out, samples, sample_labels


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.INFO)
  writers.quiet_library_logs()
  try:
    out, samples, _ = draw(_WORKDIR.value, num=_NUM.value, seed=_SEED.value, out=_OUT.value,
                           step=_STEP.value, labels=parse_labels(_LABELS.value),
                           interpolate=_INTERPOLATE.value,
                           interpolation_steps=_INTERP_STEPS.value,
                           truncation=_TRUNCATION.value, psi=_PSI.value,
                           psi_cutoff=_PSI_CUTOFF.value, style_mix=_STYLE_MIX.value,
                           style_cutoff=_STYLE_CUTOFF.value, truncation_strip=_STRIP.value,
                           condition=_CONDITION.value)
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  logging.info('Wrote %d samples to %s', len(samples), out)
  print(out)


if __name__ == '__main__':
  app.run(main)
