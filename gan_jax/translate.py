"""Translates a folder of images with a trained Pix2Pix or CycleGAN run.

  python -m gan_jax.translate --workdir=DIR --input=IMAGES_DIR --out=OUT_DIR \\
      [--direction=a2b|b2a] [--step=S] [--seed=S] [--batch_size=N]

Every PNG or JPEG below IMAGES_DIR is translated by the run's generator (its EMA where kept)
and written to OUT_DIR under the same relative name and format. Images of another size than the
model's are resized to it (bicubic, ignoring the aspect ratio, as the official test does), and
the command says how many; images are converted to the model's channels. Files that cannot be
read are skipped and named. `--direction` exists only for CycleGAN runs, which translate both
ways (default a2b: domain A to domain B, as `data.direction` defined them in training). Pix2Pix
keeps its dropout at test time, as the paper does: `--seed` chooses the masks.
"""

from __future__ import annotations

import os

from absl import app, flags, logging
import jax
import numpy as np
from PIL import Image

from gan_jax import files, runs, train, writers
from gan_jax.data import convert, sources



def _define_flags():
  # Defined only when run as a program, like the classifier command's: tests import several
  # commands into one process.
  flags.DEFINE_string('workdir', None, 'The run directory (holds config.json).')
  flags.DEFINE_string('input', None, 'A folder of PNG or JPEG images to translate.')
  flags.DEFINE_string('out', None, 'Where the translations are written.')
  flags.DEFINE_string('direction', None, 'CycleGAN runs: a2b (default) or b2a.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_integer('seed', 0, "Seed of the generator's dropout (Pix2Pix).")
  flags.DEFINE_integer('batch_size', 64, 'Images translated at once.', lower_bound=1)
  flags.mark_flags_as_required(['workdir', 'input', 'out'])


def list_inputs(folder: str) -> list[str]:
  """The PNG and JPEG files below `folder`, sorted; an error when there are none."""
  folder = os.path.expanduser(folder)
  if not os.path.isdir(folder):
    raise FileNotFoundError(f'--input={folder!r} is not a directory: give a folder of PNG or '
                            'JPEG images')
  found = []
  for root, dirs, names in os.walk(folder):
    dirs.sort()
    found.extend(os.path.join(root, n) for n in sorted(names)
                 if n.lower().endswith(sources.IMAGE_EXTENSIONS) and not n.startswith('.'))
  if not found:
    raise FileNotFoundError(f'no PNG or JPEG images in {folder} (--input); the extensions read '
                            f'are {", ".join(sources.IMAGE_EXTENSIONS)}')
  return found


def read_image(path: str, size: int, channels: int):
  """(uint8 (size, size, channels) array, whether it was resized), or None if unreadable."""
  try:
    with Image.open(path) as image:
      image = image.convert('L' if channels == 1 else 'RGB')
      resized = image.size != (size, size)
      if resized:
        image = image.resize((size, size), Image.BICUBIC)
      array = np.asarray(image, np.uint8)
  except Exception as e:  # PIL raises many types for damaged or unsupported files
    logging.warning('Skipping unreadable image %s (%s: %s).', path, type(e).__name__, e)
    return None
  return (array[..., None] if channels == 1 else array), resized


def translate_folder(workdir: str, input_dir: str, out_dir: str, *, direction: str | None = None,
                     step: int | None = None, seed: int = 0, batch_size: int = 64) -> dict:
  """Translates every image below `input_dir` into `out_dir`; returns {'written': [paths],
  'skipped': [paths], 'resized': count, 'direction': ...}. Checks the run and the folder
  before the checkpoint is read."""
  config = runs.load_config(workdir)
  family = train.build(config)[1]
  if not getattr(family, 'translates', False):
    raise ValueError(f'the run in {workdir} is a {config.family!r} run, which generates from '
                     'latents; gan_jax.translate needs a pix2pix or cyclegan run (use '
                     'gan_jax.sample for this one)')
  if direction is not None and len(family.directions) == 1:
    raise ValueError(f'--direction: a {config.family} run translates one way only (a2b, '
                     f'as data.direction={config.data.get("direction", "AtoB")!r} set it in '
                     'training); drop --direction')
  direction = family.check_direction(direction or 'a2b')
  inputs = list_inputs(input_dir)
  input_dir = os.path.abspath(os.path.expanduser(input_dir))
  out_dir = os.path.abspath(os.path.expanduser(out_dir))
  if out_dir == input_dir:
    raise ValueError('--out is the --input folder: the translations would overwrite the '
                     'images; choose another folder')
  _, spec, family, state = runs.restore(workdir, step)
  ema = jax.device_get(state.ema['g'])
  size, channels = spec.shape[0], spec.shape[-1]
  written, skipped, resized = [], [], 0
  for first in range(0, len(inputs), batch_size):
    paths, images = [], []
    for path in inputs[first:first + batch_size]:
      read = read_image(path, size, channels)
      if read is None:
        skipped.append(path)
        continue
      paths.append(path)
      images.append(read[0])
      resized += read[1]
    if not images:
      continue
    # Dropout draws from each image's position among all inputs, whatever the batch size.
    out = family.translate(ema, convert.to_unit_range(np.stack(images)), direction=direction,
                           seed=seed, batch_size=len(images), first_index=first)
    for path, image in zip(paths, convert.to_uint8(out)):
      target = os.path.join(out_dir, os.path.relpath(path, input_dir))
      os.makedirs(os.path.dirname(target), exist_ok=True)
      picture = sources.array_to_image(image)
      fmt = 'JPEG' if target.lower().endswith(('.jpg', '.jpeg')) else 'PNG'
      files.write_atomically(target, lambda tmp, p=picture, f=fmt: p.save(tmp, format=f))
      written.append(target)
  if resized:
    logging.warning('%d of %d images were not %dx%d and were resized to it (ignoring their '
                    'aspect ratio) before translation.', resized, len(written), size, size)
  return {'written': written, 'skipped': skipped, 'resized': resized, 'direction': direction,
          'size': size}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.INFO)
  writers.quiet_library_logs()
  args = flags.FLAGS
  try:
    result = translate_folder(args.workdir, args.input, args.out, direction=args.direction,
                              step=args.step, seed=args.seed, batch_size=args.batch_size)
  except (ValueError, FileNotFoundError) as e:
    raise app.UsageError(str(e)) from None
  if result['resized']:
    print(f"resized {result['resized']} image(s) to {result['size']}x{result['size']}")
  for path in result['skipped']:
    print(f'skipped (unreadable): {path}')
  print(f"translated {len(result['written'])} image(s) ({result['direction']}) into "
        f'{os.path.abspath(args.out)}')


if __name__ == '__main__':
  _define_flags()
  app.run(main)
