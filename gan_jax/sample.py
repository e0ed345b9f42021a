"""Draws samples from a run's latest (or chosen) checkpoint, with no dataset and no config file.

  python -m gan_jax.sample --workdir=DIR [--num=64] [--seed=S] [--out=FILE] [--step=S]
  python -m gan_jax.sample --workdir=DIR --interpolate [--num=8] [--interpolation_steps=10]

Images: a PNG grid. 1-D / 2-D data: a plot over the data density plus a .npy of the points.
`--interpolate` writes rows of spherical interpolations between pairs of random latents.
Samples come from the EMA generator (identical to the generator when EMA is off).
"""

import os

from absl import app, flags, logging
import jax.numpy as jnp
import numpy as np

from gan_jax import runs, sampling, writers

_WORKDIR = flags.DEFINE_string('workdir', None, 'The run directory (holds config.json).')
_NUM = flags.DEFINE_integer('num', None, 'Samples to draw (default: 64 images, 2,500 points); '
                            'with --interpolate, rows.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed for the latents.')
_OUT = flags.DEFINE_string('out', None, 'Output PNG (default: workdir/samples/sample_<step>.png).')
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
_INTERPOLATE = flags.DEFINE_bool('interpolate', False, 'Write spherical interpolations.')
_INTERP_STEPS = flags.DEFINE_integer('interpolation_steps', 10, 'Images per interpolation row.')
flags.mark_flags_as_required(['workdir'])


def draw(workdir: str, *, num: int | None = None, seed: int = 0, out: str | None = None,
         step: int | None = None, interpolate: bool = False, interpolation_steps: int = 10):
  """Writes the picture (and .npy for points); returns (path, samples)."""
  config, spec, generator, state = runs.restore(workdir, step)
  step = int(state.step)
  generate = sampling.make_generate(generator)
  z_dim = config.model.z_dim
  columns = None
  if interpolate:
    rows = num or 8
    ends = sampling.latents(seed, 2 * rows, z_dim)
    t = jnp.linspace(0.0, 1.0, interpolation_steps)
    z = jnp.concatenate([sampling.slerp(jnp.broadcast_to(ends[2 * r], (len(t), z_dim)),
                                        jnp.broadcast_to(ends[2 * r + 1], (len(t), z_dim)), t)
                         for r in range(rows)])
    columns = interpolation_steps
  else:
    num = num or (64 if spec.kind == 'image' else sampling.NUM_POINTS)
    z = sampling.latents(seed, num, z_dim)
  samples = np.asarray(generate(state.ema_params, state.g.batch_stats, z))
  kind = 'interpolation' if interpolate else 'sample'
  out = out or os.path.join(workdir, 'samples', f'{kind}_{step}.png')
  sampling.save_picture(config, spec, samples, out, title=f'step {step}', columns=columns)
  if spec.kind == 'points':
    np.save(os.path.splitext(out)[0] + '.npy', samples)
  return out, samples


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.INFO)
  writers.quiet_library_logs()
  out, samples = draw(_WORKDIR.value, num=_NUM.value, seed=_SEED.value, out=_OUT.value,
                      step=_STEP.value, interpolate=_INTERPOLATE.value,
                      interpolation_steps=_INTERP_STEPS.value)
  logging.info('Wrote %d samples to %s', len(samples), out)
  print(out)


if __name__ == '__main__':
  app.run(main)
