"""Projects a real image into the latent space of a trained StyleGAN2 run: finds the w (one for
all layers, space 'w') or the w's (one per layer, space 'w+') whose synthesis reconstructs it.

  python -m gan_jax.project --workdir=DIR --image=FILE [--out=DIR] [--steps=1000] \\
      [--space=w|w+] [--seed=0] [--label=K] [--features=auto|classifier|inception|none] \\
      [--feature_weight=W] [--step=S]

Why: a latent that reproduces a given image is what image editing in latent space starts from
(moving it along a direction, mixing its styles with another's, changing its class); `project`
is the library function such commands call, and this command runs it on one image file.

The optimisation follows the schedule of the official StyleGAN2-ADA projector: w starts at the
average w and is optimised by Adam (betas 0.9, 0.999) at a rate of 0.1, ramped up over the
first 5% of the steps and down along a half cosine over the last 25%; at every step Gaussian
noise of scale w_std * 0.05 * max(0, 1 - t / 0.75)^2 (t the fraction of steps done; w_std the
root-mean-square distance of 10,000 mapped latents from their mean) is added to w before
synthesis, so that early steps explore. It differs in three ways:
- the noise inputs stay fixed ('const' noise): the official projector also optimises them,
  with a regulariser against their autocorrelation; here only w is optimised, so the latent
  alone carries the image (what an editing command can reuse);
- the distance is the mean squared pixel difference (images in [-1, 1]) plus `feature_weight`
  times the mean squared difference of a feature network's features, rather than VGG16's LPIPS
  distance (not available here). The feature network is the run's dataset classifier
  (penultimate layer, for digits and clothes) or the FID Inception network (2048 pooled
  features), both differentiated in JAX; `--features=auto` picks the classifier when one is
  trained for the run's data, else Inception when its weights file exists, else pixels only;
- for class-conditional runs (`--label=K`) the start and w_std come from latents mapped with
  that label (the class's mean w): the tracked average mixes all classes, and the class enters
  the generator only through the mapping, so synthesis takes no label.

The feature weight defaults to the network's own (`FEATURE_WEIGHTS`), chosen so that between two
unrelated images the weighted feature distance is about as large as the pixel distance, and
neither term drowns the other: 0.03 for the digits classifier (between digits of different
classes its features' mean squared distance is about 11.5 and the pixels' about 0.39, measured
on 400 training digits; for digits of one class, 2.6 and 0.18), and 1 for Inception, whose
pooled features are averages of ReLU outputs of order one (an estimate from their typical
scale). Raise it to favour the image's content over its exact pixels.

The image must have the model's channels: an RGB photo for a 1-channel model (or a grayscale
image for an RGB model) is refused, not converted, so that a projection never silently models
something other than the file. An alpha channel is accepted only when fully opaque (then
dropped); an image with transparent pixels is refused (flatten it onto a background first).
Palette images count as RGB. An image of another size is resized to the model's (bilinear,
ignoring the aspect ratio), and the log says so.

Outputs, in `--out` (default DIR/projection_<image name>): `reconstruction.png` (the target and
the reconstruction side by side), `latent.npy` (the w's, (num_ws, w_dim) float32, for
`family.synthesize(ema, latent[None])`) and `progress.png` (reconstructions through the
optimisation, then the target).
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Callable

from absl import app, flags, logging
import jax
import jax.numpy as jnp
import numpy as np
import optax
from PIL import Image

from gan_jax import files, plots, runs, train, writers
from gan_jax.data import convert

SPACES = ('w', 'w+')
FEATURES = ('auto', 'classifier', 'inception', 'none')
# The weight of the feature term by feature network (see the module docstring); `project`'s
# default suits features of order one.
FEATURE_WEIGHTS = {'classifier': 0.03, 'inception': 1.0}
DEFAULT_FEATURE_WEIGHT = 1.0
# The official projector's schedule.
INITIAL_LR = 0.1
LR_RAMPUP = 0.05          # fraction of the steps over which the rate ramps up
LR_RAMPDOWN = 0.25        # fraction of the steps over which it ramps down
NOISE_FACTOR = 0.05       # the w noise at the start, in units of w_std
NOISE_RAMP = 0.75         # fraction of the steps after which the w noise is zero
W_AVG_SAMPLES = 10_000
W_SAMPLES_SEED = 123      # the latents w_std is measured on, whatever --seed
_MAP_BATCH = 1000

_GRAY_MODES = ('1', 'L', 'LA')
_COLOR_MODES = ('RGB', 'RGBA', 'P', 'PA')


@dataclasses.dataclass
class Projection:
  """The result of `project`.

  ws: (num_ws, w_dim) float32, the projected w's (identical rows in space 'w');
  image: (H, W, C) float32, their synthesis (about [-1, 1]);
  pixel_mse: the mean squared pixel distance of `image` to the target;
  history: (step, loss) of every step: the loss of the noisy w that step's gradient was taken
    at (pixel + weight * feature term, as optimised);
  snapshots: (step, image) of reconstructions through the optimisation, noise-free, the first
    at step 0 (the starting w), the last after all steps.
  """
  ws: np.ndarray
  image: np.ndarray
  pixel_mse: float
  history: list[tuple[int, float]]
  snapshots: list[tuple[int, np.ndarray]]


def learning_rate(t: float) -> float:
  """The rate at fraction `t` of the steps: 0.1 times a linear ramp-up over the first 5% and a
  half-cosine ramp-down over the last 25%."""
  ramp = min(1.0, (1.0 - t) / LR_RAMPDOWN)
  ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
  return INITIAL_LR * ramp * min(1.0, t / LR_RAMPUP)


def noise_scale(t: float, w_std: float, noise_factor: float = NOISE_FACTOR) -> float:
  """The standard deviation of the noise added to w at fraction `t` of the steps."""
  return w_std * noise_factor * max(0.0, 1.0 - t / NOISE_RAMP) ** 2


def projection_loss(images, target, target_features=None, feature_fn=None,
                    feature_weight: float = DEFAULT_FEATURE_WEIGHT):
  """(loss, pixel term, feature term): mean((images - target)^2) + feature_weight *
  mean((feature_fn(images) - target_features)^2); the feature term is 0 without `feature_fn`."""
  pixel = jnp.mean(jnp.square(images.astype(jnp.float32) - target))
  if feature_fn is None:
    return pixel, pixel, jnp.zeros((), jnp.float32)
  features = feature_fn(images).astype(jnp.float32)
  feature = jnp.mean(jnp.square(features - target_features))
  return pixel + feature_weight * feature, pixel, feature


def check_space(space: str) -> str:
  if space not in SPACES:
    raise ValueError(f"--space={space!r}: choose 'w' (one w shared by all layers) or 'w+' (one "
                     'w per layer)')
  return space


def check_steps(steps: int) -> int:
  if int(steps) < 1:
    raise ValueError(f'--steps={steps}: the projection needs at least 1 optimisation step '
                     '(the official projector takes 1000)')
  return int(steps)


def check_style_based(family, where: str = 'this run') -> None:
  if not hasattr(family, 'styles'):
    name = getattr(getattr(family, 'config', None), 'family', None)
    raise ValueError(f'{where} is not a StyleGAN2 run (family {name!r}): projection optimises '
                     "the w's of a StyleGAN2 synthesis network; train one with family "
                     "'stylegan2' (e.g. experiments/stylegan2_celeba64.py)")


def check_label(family, label: int | None) -> int | None:
  """The label of a conditional run (required, in range); None for an unconditional one."""
  if not family.conditional:
    if label is not None:
      raise ValueError(f'--label={label}: this run is unconditional (no classes); drop --label')
    return None
  if label is None:
    raise ValueError(f'this run is class-conditional ({family.num_classes} classes): give the '
                     f"image's class with --label=K, K in 0..{family.num_classes - 1}")
  if not 0 <= int(label) < family.num_classes:
    raise ValueError(f'--label={label} is out of range: this run has {family.num_classes} '
                     f'classes, 0..{family.num_classes - 1}')
  return int(label)


def read_target(path: str, shape) -> tuple[np.ndarray, bool]:
  """(float32 (H, W, C) image in [-1, 1], whether it was resized) of the file at `path` for a
  model of image shape `shape` (H, W, C). ValueError for a file that is not a readable image,
  whose channels differ from the model's, or that has transparent pixels."""
  height, width, channels = shape
  path = os.path.expanduser(path)
  if not os.path.isfile(path):
    raise ValueError(f'--image={path!r} is not a file: give a PNG or JPEG image')
  try:
    with Image.open(path) as image:
      image.load()
  except Exception as e:  # PIL raises many types for damaged or unsupported files
    raise ValueError(f'cannot read {path} as an image ({type(e).__name__}: {e}); give a PNG or '
                     'JPEG file') from None
  mode = image.mode
  if mode in ('P', 'PA'):
    image = image.convert('RGBA' if mode == 'PA' or 'transparency' in image.info else 'RGB')
  elif mode == '1':
    image = image.convert('L')
  elif mode not in _GRAY_MODES + _COLOR_MODES:
    raise ValueError(f'{path} has image mode {mode!r}, which projection does not read; save it '
                     'as 8-bit grayscale (L) or RGB')
  if image.mode in ('LA', 'RGBA'):
    alpha = np.asarray(image.getchannel('A'))
    if alpha.min() < 255:
      raise ValueError(f'{path} has transparent pixels (an alpha channel below 255): flatten it '
                       'onto a background first, then project it')
    image = image.convert(image.mode[:-1])
  image_channels = 1 if image.mode == 'L' else 3
  if image_channels != channels:
    kinds = {1: 'grayscale (1 channel)', 3: 'RGB (3 channels)'}
    raise ValueError(f'{path} is {kinds[image_channels]} but the model generates '
                     f'{kinds[channels]} images: the channels must match; give a '
                     f"{'grayscale (mode L)' if channels == 1 else 'colour RGB'} image")
  resized = image.size != (width, height)
  if resized:
    logging.warning('%s is %dx%d, the model %dx%d: resized it (bilinear, ignoring the aspect '
                    'ratio) before projecting.', path, image.size[0], image.size[1], width,
                    height)
    image = image.resize((width, height), Image.BILINEAR)
  array = np.asarray(image, np.uint8)
  if channels == 1:
    array = array[..., None]
  return convert.to_unit_range(array), resized


def w_statistics(family, ema, label: int | None = None, *,
                 num: int = W_AVG_SAMPLES) -> tuple[np.ndarray, np.ndarray, float]:
  """(the mean w, the tracked average w, w_std) of `num` latents mapped by the EMA mapping
  (with `label` for conditional runs): w_std = sqrt(sum |w - mean|^2 / num), as the official
  projector measures it."""
  z = np.asarray(family.latents(W_SAMPLES_SEED, num))
  parts = []
  for i in range(0, num, _MAP_BATCH):
    chunk = jnp.asarray(z[i:i + _MAP_BATCH])
    labels = None if label is None else jnp.full((len(chunk),), label, jnp.int32)
    parts.append(np.asarray(family._map(ema.params, chunk, labels), np.float64))
  w = np.concatenate(parts)
  mean = w.mean(axis=0)
  w_std = float(np.sqrt(np.sum(np.square(w - mean)) / num))
  tracked = np.asarray(ema.batch_stats['w_avg'], np.float32)
  return mean.astype(np.float32), tracked, w_std


def project(family, ema, target, *, steps: int = 1000, space: str = 'w', seed: int = 0,
            label: int | None = None, feature_fn: Callable | None = None,
            feature_weight: float = DEFAULT_FEATURE_WEIGHT, snapshots: int = 8,
            progress_every: int = 100, noise_factor: float = NOISE_FACTOR) -> Projection:
  """Optimises the w's of a StyleGAN2 family's EMA generator to reconstruct `target`.

  target: (H, W, C) image of the model's shape, float in [-1, 1] or uint8. space: 'w' (one w
  for all layers) or 'w+' (one per layer). seed: the w noise's draws. label: the class of a
  conditional run (required there). feature_fn: a differentiable JAX function of NHWC images
  in [-1, 1] to features, or None (pixels only). snapshots: how many reconstructions to keep
  through the optimisation (at least 2: the start and the end). progress_every: log every so
  many steps (0: never). noise_factor: the w noise at the start in units of w_std (the
  official 0.05; 0 turns the noise off). See the module docstring for the schedule.
  """
  check_style_based(family)
  steps = check_steps(steps)
  space = check_space(space)
  label = check_label(family, label)
  target = np.asarray(convert.to_unit_range(np.asarray(target)), np.float32)
  if target.shape != tuple(family.spec.shape):
    raise ValueError(f'the target has shape {target.shape}, the model generates '
                     f'{tuple(family.spec.shape)} images')
  num_ws, w_dim = family.num_ws, family.settings.w_dim
  mean_w, tracked, w_std = w_statistics(family, ema, label)
  start = tracked if label is None else mean_w
  w = jnp.asarray(np.tile(start[None], (num_ws if space == 'w+' else 1, 1)), jnp.float32)

  generator, params = family.generator, ema.params
  target_j = jnp.asarray(target)[None]
  target_features = None if feature_fn is None else feature_fn(target_j).astype(jnp.float32)
  adam = optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8)

  def synthesize(params, w):
    ws = jnp.broadcast_to(w, (num_ws, w_dim))[None]
    return generator.apply({'params': params}, ws, None, 'const', method='synthesize')

  @jax.jit
  def step(params, w, opt_state, key, lr, sigma):
    def loss_fn(w):
      noisy = w + sigma * jax.random.normal(key, w.shape, jnp.float32)
      loss, pixel, feature = projection_loss(synthesize(params, noisy), target_j,
                                             target_features, feature_fn, feature_weight)
      return loss, (pixel, feature)
    (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(w)
    direction, opt_state = adam.update(grads, opt_state, w)
    return w - lr * direction, opt_state, loss

  render = jax.jit(synthesize)
  keep = set(np.unique(np.round(np.linspace(0, steps, max(2, snapshots))).astype(int)).tolist())
  kept = [(0, np.asarray(render(params, w))[0])] if 0 in keep else []
  opt_state = adam.init(w)
  key = jax.random.PRNGKey(seed)
  losses = []
  for i in range(steps):
    t = i / steps
    w, opt_state, loss = step(params, w, opt_state, jax.random.fold_in(key, i),
                              jnp.float32(learning_rate(t)),
                              jnp.float32(noise_scale(t, w_std, noise_factor)))
    losses.append(loss)
    if progress_every and ((i + 1) % progress_every == 0 or i + 1 == steps):
      logging.info('projection step %d/%d: loss %.5g', i + 1, steps, float(loss))
    if i + 1 in keep:
      kept.append((i + 1, np.asarray(render(params, w))[0]))
  image = kept[-1][1]
  ws = np.asarray(jnp.broadcast_to(w, (num_ws, w_dim)), np.float32)
  return Projection(ws=ws, image=image,
                    pixel_mse=float(np.mean(np.square(image.astype(np.float32) - target))),
                    history=[(i, float(v)) for i, v in enumerate(jax.device_get(losses))],
                    snapshots=kept)


# ---- Feature networks ----
def classifier_features(net) -> Callable:
  """The differentiable penultimate features of a loaded dataset classifier
  (`evaluators/classifier.py`: its `Net` on its own input preparation)."""
  from gan_jax.evaluators import classifier
  variables = net.variables
  return lambda images: net.model.apply(variables, classifier.prepare(images))[0]


def inception_features(net) -> Callable:
  """The differentiable 2048 pooled features of the loaded FID Inception network."""
  from gan_jax.evaluators import inception
  variables = net.variables
  return lambda images: inception.InceptionV3().apply(
      variables, inception.resize_for_inception(images))['pool']


def feature_network(config, features: str) -> tuple[str, str, Callable | None]:
  """(kind: 'classifier', 'inception' or 'none'; a description; its feature function or None)
  of `--features` for the run of `config`. 'auto' takes the classifier of the run's data when
  one is trained, else Inception when its weights file exists, else none."""
  from gan_jax.evaluators import evaluator
  if features not in FEATURES:
    raise ValueError(f'--features={features!r}: choose one of {", ".join(FEATURES)}')
  if features == 'none':
    return 'none', 'none (pixels only)', None
  directory = config.evals.get('classifier_dir')
  weights = os.path.expanduser(config.evals.inception_weights)

  def dataset_classifier():
    name = evaluator.classifier_name(config)
    return ('classifier', f'the {name} classifier',
            classifier_features(evaluator._classifier(name, directory)))

  def fid_inception():
    return 'inception', f'the FID Inception network ({weights})', inception_features(
        evaluator._inception(weights))

  if features == 'classifier':
    return dataset_classifier()
  if features == 'inception':
    return fid_inception()
  try:
    return dataset_classifier()
  except (ValueError, FileNotFoundError):
    pass
  if os.path.isfile(weights):
    return fid_inception()
  return 'none', 'none (pixels only: no classifier for this data and no Inception weights)', None


# ---- The command ----
def project_image(workdir: str, image: str, *, out: str | None = None, steps: int = 1000,
                  space: str = 'w', seed: int = 0, label: int | None = None,
                  features: str = 'auto', feature_weight: float | None = None,
                  step: int | None = None) -> dict:
  """Projects the image file `image` with the run in `workdir` and writes the outputs into
  `out`; returns {'out', 'pixel_mse', 'features', 'feature_weight', 'resized', 'projection'}.
  `feature_weight` None: the feature network's own (`FEATURE_WEIGHTS`). Every check (the flags,
  the run's family, the label, the image) runs before the checkpoint is read."""
  steps = check_steps(steps)
  space = check_space(space)
  if features not in FEATURES:
    raise ValueError(f'--features={features!r}: choose one of {", ".join(FEATURES)}')
  if feature_weight is not None and not feature_weight >= 0:
    raise ValueError(f'--feature_weight={feature_weight}: give a weight of at least 0')
  config = runs.load_config(workdir)
  spec, family = train.build(config)
  check_style_based(family, f'the run in {workdir}')
  label = check_label(family, label)
  target, resized = read_target(image, spec.shape)
  kind, used, feature_fn = feature_network(config, features)
  if feature_weight is None:
    feature_weight = FEATURE_WEIGHTS.get(kind, DEFAULT_FEATURE_WEIGHT)
  logging.info('Feature loss: %s%s.', used,
               '' if feature_fn is None else f', weight {feature_weight}')
  out = os.path.abspath(os.path.expanduser(
      out or os.path.join(workdir, f'projection_{os.path.splitext(os.path.basename(image))[0]}')))
  _, spec, family, state = runs.restore(workdir, step)
  ema = jax.device_get(state.ema['g'])
  result = project(family, ema, target, steps=steps, space=space, seed=seed, label=label,
                   feature_fn=feature_fn, feature_weight=feature_weight)
  os.makedirs(out, exist_ok=True)
  plots.save_png(plots.image_grid(np.stack([target, result.image]), columns=2),
                 os.path.join(out, 'reconstruction.png'))
  strip = np.stack([image for _, image in result.snapshots] + [target])
  plots.save_png(plots.image_grid(strip, columns=len(strip)), os.path.join(out, 'progress.png'))
  files.write_atomically(os.path.join(out, 'latent.npy'),
                         lambda f: np.save(f, result.ws.astype(np.float32)))
  return {'out': out, 'pixel_mse': result.pixel_mse, 'features': used,
          'feature_weight': feature_weight if feature_fn is not None else None,
          'resized': resized, 'projection': result}


def _define_flags():
  # Defined only when run as a program: tests import several commands into one process.
  flags.DEFINE_string('workdir', None, 'The StyleGAN2 run directory (holds config.json).')
  flags.DEFINE_string('image', None, 'The PNG or JPEG image to project.')
  flags.DEFINE_string('out', None, 'Output folder (default: WORKDIR/projection_<image name>).')
  flags.DEFINE_integer('steps', 1000, 'Optimisation steps.')
  flags.DEFINE_string('space', 'w', "'w': one w for all layers; 'w+': one w per layer.")
  flags.DEFINE_integer('seed', 0, 'Seed of the noise added to w during the optimisation.')
  flags.DEFINE_integer('label', None, 'Conditional runs: the class of the image.')
  flags.DEFINE_string('features', 'auto', 'Feature loss: auto, classifier, inception or none.')
  flags.DEFINE_float('feature_weight', None,
                     'Weight of the mean squared feature distance against the pixel one '
                     f'(default: the network\'s own, {FEATURE_WEIGHTS}).')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.mark_flags_as_required(['workdir', 'image'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.INFO)
  writers.quiet_library_logs()
  args = flags.FLAGS
  try:
    result = project_image(args.workdir, args.image, out=args.out, steps=args.steps,
                           space=args.space, seed=args.seed, label=args.label,
                           features=args.features, feature_weight=args.feature_weight,
                           step=args.step)
  except (ValueError, FileNotFoundError) as e:
    raise app.UsageError(str(e)) from None
  if result['resized']:
    print(f'resized {args.image} to the model\'s size')
  print(f"projected {args.image} ({args.space}, features: {result['features']}) into "
        f"{result['out']}")
  print(f"final pixel MSE {result['pixel_mse']:.6g}")


if __name__ == '__main__':
  _define_flags()
  app.run(main)
