"""What the image-translation families (`pix2pix.py`, `cyclegan.py`) share: their fixed
settings, the adversarial terms in the official implementation's form, the on-device jitter of
the inputs, the image pool, the held-out examples their pictures show, and the host-side
translation that sampling, evaluation and `gan_jax.translate` use.

Batches are dicts with 'a' (the generator's input domain), 'b' (its output domain) and labels
(`data/translation.py`); `data.direction` has already decided which domain is 'a'.

- **Adversarial terms.** `loss.name='non_saturating'` is the official "vanilla" GAN loss
  (binary cross-entropy with logits, per patch); `least_squares` its LSGAN loss (mean squared
  error against 1 and 0). Each is applied to every patch logit of the PatchGAN, as the official
  code does: D's loss is half the sum of its real and fake terms, G's adversarial term is the
  fake term against the target 1.
- **Jitter.** With `data.load_size` > `data.image_size`, every example is randomly cropped to
  the model's size (and with `data.flip` flipped left-right) on the device, from its own key:
  the official "resize_and_crop" with flips, and the same for any number of devices. A paired
  example's two images get the same crop and flip; an unpaired one's get their own.
- **The image pool** (Shrivastava et al. 2017, as the official code keeps it): a buffer of
  `train.pool_size` past generated images per discriminator, which D is shown instead of the
  newest ones half of the time once it is full. It lives in `GANState.extra`, so it is
  checkpointed; it is updated with the global batch in its global order, each example drawing
  from its own key, so every device holds the same pool whatever the device count.
"""

from __future__ import annotations

import dataclasses

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from gan_jax import plots, steps
from gan_jax import state as state_lib
from gan_jax.data import convert

GAN_LOSSES = {'non_saturating': 'bce', 'least_squares': 'mse'}
# Step-key purposes.
JITTER_A, JITTER_B, G_DROPOUT, POOL_A, POOL_B = 20, 21, 22, 23, 24


@dataclasses.dataclass(frozen=True)
class Settings:
  """The fixed settings of a translation game, bound into the step before it is compiled."""
  gan_loss: str                  # 'bce' (vanilla) or 'mse' (least squares)
  image_size: int                # the model's input and output size
  load_size: int                 # the size examples arrive at (>= image_size; jitter crops)
  flip: bool                     # random left-right flips
  paired: bool                   # whether 'a' and 'b' of an example belong together
  l1_weight: float = 0.0         # Pix2Pix's lambda_L1 (100)
  cycle_weight: float = 0.0      # CycleGAN's lambda (10, both directions)
  identity_weight: float = 0.0   # CycleGAN's identity weight, a fraction of lambda (0.5)
  pool_size: int = 0             # past generated images per discriminator (CycleGAN: 50)
  ema_decay: float = 0.0


def settings_from_config(config, spec) -> Settings:
  name = config.loss.name
  if name not in GAN_LOSSES:
    raise ValueError(f'loss.name={name!r}: the translation families use the official '
                     f"implementation's GAN losses, {sorted(GAN_LOSSES)} ('non_saturating' is "
                     "its 'vanilla', 'least_squares' its 'lsgan')")
  if config.train.d_steps != 1 or config.train.g_steps != 1:
    raise ValueError(f'family {config.family!r} updates each player once a step, as the '
                     f'official code does: set train.d_steps=1 and train.g_steps=1 (got '
                     f'{config.train.d_steps} and {config.train.g_steps})')
  if config.train.augment:
    raise ValueError(f"family {config.family!r} does not take DiffAugment: set "
                     "--config.train.augment=''")
  size = spec.shape[0]
  load = config.data.get('load_size', 0) or size
  if load < size:
    raise ValueError(f'data.load_size={load} is smaller than data.image_size={size}: examples '
                     'are cropped from load_size down to image_size, so choose load_size >= '
                     'image_size (the official 286 for 256), or 0 for no crop')
  loss = config.loss
  return Settings(gan_loss=GAN_LOSSES[name], image_size=size, load_size=load,
                  flip=bool(config.data.get('flip', False)), paired=spec.kind == 'paired',
                  l1_weight=loss.get('l1_weight', 0.0), cycle_weight=loss.get('cycle_weight', 0.0),
                  identity_weight=loss.get('identity_weight', 0.0),
                  pool_size=config.train.get('pool_size', 0), ema_decay=config.train.ema_decay)


# ---- Losses ----
def gan_term(logits, target: float, kind: str) -> jax.Array:
  """The official GANLoss: every patch logit against `target` (1 real, 0 fake), averaged."""
  logits = logits.astype(jnp.float32)
  if kind == 'bce':
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, target)))
  return jnp.mean((logits - target) ** 2)


def d_loss(real_logits, fake_logits, kind: str) -> jax.Array:
  """The discriminator's loss: half the sum of its real and fake terms (the official code)."""
  return 0.5 * (gan_term(real_logits, 1.0, kind) + gan_term(fake_logits, 0.0, kind))


def l1(x, y) -> jax.Array:
  """Mean absolute difference: Pix2Pix's L1 term, CycleGAN's cycle and identity losses."""
  return jnp.mean(jnp.abs(x.astype(jnp.float32) - y.astype(jnp.float32)))


# ---- Inputs ----
def _crop_and_flip(image, key, size: int, flip: bool):
  load = image.shape[0]
  k_y, k_x, k_f = jax.random.split(key, 3)
  if load > size:
    y = jax.random.randint(k_y, (), 0, load - size + 1)
    x = jax.random.randint(k_x, (), 0, load - size + 1)
    image = lax.dynamic_slice(image, (y, x, 0), (size, size, image.shape[-1]))
  if flip:
    image = jnp.where(jax.random.bernoulli(k_f), image[:, ::-1], image)
  return image


def step_inputs(state: state_lib.GANState, batches: dict, settings: Settings, axis_name: str):
  """(a, b, key) of a step: this device's images of both domains in [-1, 1], jittered, and the
  step's key (`batches` holds this device's (1, local_batch, ...) share of 'a' and 'b')."""
  a = convert.to_unit_range(batches['a'][0])
  b = convert.to_unit_range(batches['b'][0])
  key = jax.random.fold_in(state.rng, state.step)
  a, b = jitter(a, b, key, settings, axis_name)
  return a, b, key


def jitter(a, b, key, settings: Settings, axis_name: str):
  """Each example randomly cropped from `load_size` to `image_size` and, with `flip`,
  flipped, from its own key; a paired example's images alike."""
  if settings.load_size == settings.image_size and not settings.flip:
    return a, b
  n = a.shape[0]
  keys_a = steps.example_keys(jax.random.fold_in(key, JITTER_A), n, axis_name)
  keys_b = keys_a if settings.paired else steps.example_keys(
      jax.random.fold_in(key, JITTER_B), n, axis_name)
  crop = lambda x, k: _crop_and_flip(x, k, settings.image_size, settings.flip)
  return jax.vmap(crop)(a, keys_a), jax.vmap(crop)(b, keys_b)


# ---- The image pool ----
def pool_init(size: int, shape) -> dict:
  """An empty pool of `size` images of `shape`: {'images', 'count'} (count: images held)."""
  return {'images': jnp.zeros((size, *shape), jnp.float32), 'count': jnp.zeros((), jnp.int32)}


def pool_query(pool: dict, images, key, axis_name: str):
  """(pool, images D sees): the official ImagePool's query over the global batch, in order.

  Example i (global index) is stored while the pool has room, and returned itself. Once the
  pool is full, with probability 1/2 it replaces a uniformly drawn stored image, which is
  returned in its place; otherwise it is returned and the pool is unchanged. Each example
  draws from fold_in(key, i); every device runs the same sequence on the gathered batch."""
  size = pool['images'].shape[0]
  if size == 0:
    return pool, images
  local = images.shape[0]
  gathered = lax.all_gather(images.astype(jnp.float32), axis_name, tiled=True)

  def one(state, inputs):
    stored, count = state
    i, image = inputs
    k_swap, k_index = jax.random.split(jax.random.fold_in(key, i))
    has_room = count < size
    swap = jnp.logical_and(~has_room, jax.random.uniform(k_swap) > 0.5)
    slot = jnp.where(has_room, count, jax.random.randint(k_index, (), 0, size))
    out = jnp.where(swap, stored[slot], image)
    write = jnp.logical_or(has_room, swap)
    stored = stored.at[slot].set(jnp.where(write, image, stored[slot]))
    return (stored, count + has_room.astype(jnp.int32)), out
  (stored, count), out = lax.scan(one, (pool['images'], pool['count']),
                                  (jnp.arange(gathered.shape[0]), gathered))
  mine = lax.dynamic_slice_in_dim(out, lax.axis_index(axis_name) * local, local)
  return {'images': stored, 'count': count}, mine.astype(images.dtype)


# ---- Updates ----
def apply_gradients(player, grads, batch_stats, axis_name: str):
  """One optimizer update from per-device gradients, averaged over devices (`steps.update`
  for a gradient taken other than of a loss of the parameters: through a shared forward pass,
  or with more than statistics and scalars beside the loss)."""
  grads = lax.pmean(grads, axis_name)
  return player.apply_gradients(grads=grads, batch_stats=batch_stats), grads


def update_ema(state: state_lib.GANState, g, decay: float) -> state_lib.EMA:
  """The generator EMA's parameters after this step (decay 0: the generator's own)."""
  ema = state.ema['g']
  return ema.replace(params=state_lib.update_ema_params(
      ema.params, g.params, state_lib.ema_decay_at(state.step, decay)))


def refresh(state: state_lib.GANState, indices, *, axis_name: str = 'batch'):
  """The EMA generator runs with the raw generator's batch-norm statistics: a translation
  generator takes images, not latents, so there is no latent batch to recompute them from."""
  del indices, axis_name
  g = state.players['g']
  return state.replace(ema={'g': state.ema['g'].replace(batch_stats=g.batch_stats)})


def per_image(generator, method=None):
  """`fn(variables, images, key, offset)`: `generator` in inference mode, each image run on its
  own with dropout drawn from fold_in(key, offset + its index), so that an image's translation
  does not depend on the batch it is in."""
  def fn(ema, images, key, offset):
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(offset + jnp.arange(len(images)))

    def one(image, k):
      return generator.apply(ema.variables(), image[None], train=False, noise=True,
                             rngs={'dropout': k}, method=method)[0]
    return jax.vmap(one)(images, keys)
  return fn


# ---- Held-out examples, pictures ----
def heldout(config, num: int, *, split: str = 'test'):
  """Up to `num` examples of `split` at the model's size, in a fixed order drawn from the
  config's seed: {'a', 'b', 'label', 'label_b'} as float32 images in [-1, 1]. Falls back to the
  training split, with a warning, when the data has no such split."""
  from gan_jax import data as data_lib
  c = config.data.copy_and_resolve_references()
  with c.unlocked():
    c.split = split
    c.load_size = 0  # no crop: the model's size, as the official test does
    c.flip = False
  try:
    source = data_lib.open_source(c, config.seed)
  except (FileNotFoundError, ValueError) as e:
    if split == 'train':
      raise
    logging.warning('No %r split for data %r (%s); showing and evaluating training examples '
                    'instead.', split, c.name, e)
    return heldout(config, num, split='train')
  order = np.sort(np.random.default_rng([config.seed, 0x7E57]).permutation(len(source))[:num])
  entries = source.read(order)
  return {k: (convert.to_unit_range(v) if k in ('a', 'b') else np.asarray(v))
          for k, v in entries.items()}


def interleave(*columns) -> np.ndarray:
  """Images of several columns (each (n, H, W, C)) example by example: [c0[0], c1[0], ...,
  c0[1], ...], so that a grid with a multiple of len(columns) columns shows them side by
  side."""
  stacked = np.stack([np.asarray(c, np.float32) for c in columns], axis=1)
  return stacked.reshape(-1, *stacked.shape[2:])


def save_grid(images: np.ndarray, path: str, *, columns: int) -> None:
  plots.save_png(plots.image_grid(images, columns=columns), path)


def build(family_class, config, spec, dtype):
  """A translation family of `family_class`: its models from `config.model`, its settings."""
  from gan_jax import models
  generator, discriminator = models.build(config.model, spec.shape, dtype)
  return family_class(config, spec, generator, discriminator, settings_from_config(config, spec))


class TranslationFamily:
  """What the Pix2Pix and CycleGAN families share on the host: sampling is translating
  held-out examples, and there is no latent, no class to choose."""

  translates = True
  conditional = False
  has_latent = False
  directions = ('a2b',)
  entries_per_example = 3  # a grid row shows source | translation | target

  def __init__(self, config, spec, settings: Settings):
    self.config = config
    self.spec = spec
    self.settings = settings
    self._heldout = None
    self._translate_fns = {}

  # ---- Translation on the host ----
  def _translate_fn(self, direction: str):
    raise NotImplementedError

  def check_direction(self, direction: str) -> str:
    if direction not in self.directions:
      raise ValueError(f'direction {direction!r}: this {self.config.family} run translates '
                       f'{" and ".join(self.directions)}')
    return direction

  def translate(self, ema: state_lib.EMA, images, *, direction: str = 'a2b', seed: int = 0,
                batch_size: int | None = None, first_index: int = 0) -> np.ndarray:
    """The EMA generator's translations of `images` (float32 in [-1, 1], NHWC), in batches.
    Dropout (Pix2Pix's noise) draws from `seed` and each image's index (counted from
    `first_index`), so an image's translation does not depend on the batch it is in."""
    self.check_direction(direction)
    if direction not in self._translate_fns:
      self._translate_fns[direction] = jax.jit(self._translate_fn(direction))
    fn = self._translate_fns[direction]
    batch_size = batch_size or self.config.evals.get('batch_size', 500)
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 0x7A45)
    parts = []
    for i in range(0, len(images), batch_size):
      chunk = jnp.asarray(images[i:i + batch_size], jnp.float32)
      parts.append(np.asarray(fn(ema, chunk, key, first_index + i)))
    return np.concatenate(parts) if parts else np.zeros((0, *self.spec.shape), np.float32)

  # ---- Sampling: translations of held-out examples ----
  def heldout(self, num: int) -> dict:
    if self._heldout is None or len(self._heldout['a']) < num:
      self._heldout = heldout(self.config, num)
    return {k: v[:num] for k, v in self._heldout.items()}

  def labels_for(self, num: int, labels=None):
    if labels is not None:
      raise ValueError(f'a {self.config.family} run translates images; it takes no labels')
    return None

  def sample(self, ema, *, seed: int, num: int, labels=None, truncation=None):
    raise ValueError(f'a {self.config.family} run translates images rather than sampling '
                     'latents: use python -m gan_jax.translate (or the evaluate command)')

  def interpolation(self, ema, **kwargs):
    raise ValueError(f'a {self.config.family} run has no latent to interpolate')

  def picture(self, host_state, samples, path: str, *, title: str = '', columns=None):
    del host_state, title
    save_grid(samples, path, columns=columns or self.entries_per_example)
