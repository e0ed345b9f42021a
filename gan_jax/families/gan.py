"""The adversarial game of G(z, y) against D(x, y): unconditional (no y), or class-conditional
(`families/conditional.py` builds its models and sampling and plays this game with labels).

Each step takes `train.d_steps` discriminator updates, each on its own real minibatch, then
`train.g_steps` generator updates against the discriminator as its updates left it
(alternating, the default), or against the discriminator the step started from
(`simultaneous`: both players' gradients at the same point, as the PacGAN and ALI code train).
Each update draws its own latents (and, conditional, its own uniformly drawn fake labels).

The discriminator's loss is the objective's (`losses.py`), plus its penalties (`penalties.py`:
WGAN-GP, R1, R2, DRAGAN; R1 and R2 lazily every `loss.penalty_every` steps) and, for ACGAN, the
auxiliary classifier's cross-entropy on real and generated examples; the generator adds the
cross-entropy on its own samples.

Batch norm in D: the real and the generated minibatch go through D separately, each normalised
over itself, and D's running statistics are updated by both, real first (as the PyTorch DCGAN
reference does). Penalties and the generator's update run D in training mode without touching
its statistics. Spectral normalisation's power-iteration vectors (kept with the statistics)
advance once per update: the real pass's are kept, the fake pass's iteration is not stored.

DiffAugment (`train.augment`): D sees only augmented images, real and generated, in both
players' updates (and the penalties see the augmented images); each example's augmentation
comes from its own key. BigGAN's orthogonal regularisation (`loss.ortho_weight`) is added to
G's loss.

The EMA generator: its parameters are averaged every step; its batch-norm statistics are its
own, recomputed by `refresh` (standing statistics) before the trainer samples, evaluates or
saves, never borrowed from the raw generator.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from gan_jax import augment, optim, penalties, pictures, steps
from gan_jax import state as state_lib
from gan_jax import truncation as truncation_lib
from gan_jax.data import convert
from gan_jax.losses import Objective

# Purposes folded into the step key, so that no two uses share random numbers. The first seven
# keep the values they had before the step took labels, so unconditional runs are unchanged.
_D_LATENTS, _D_EPSILON, _G_LATENTS = 0, 1, 2
_DROPOUT_REAL, _DROPOUT_FAKE, _DROPOUT_GP, _DROPOUT_G = 3, 4, 5, 6
_DROPOUT_R1, _DROPOUT_R2, _DROPOUT_DRAGAN, _DRAGAN_NOISE = 7, 8, 9, 10
_D_LABELS, _G_LABELS, _G_RANDOM = 11, 12, 13
_AUGMENT_REAL, _AUGMENT_FAKE, _AUGMENT_G = 14, 15, 16
# Standing statistics draw from their own stream of the run's key, independent of the step.
_STANDING = 0x57A4D


@dataclasses.dataclass(frozen=True)
class Game:
  """The fixed settings of the game, bound into the step before it is compiled."""
  objective: Objective
  z_dim: int
  data_key: str = 'image'       # the batch entry D sees: 'image' or 'points'
  num_classes: int = 0          # 0: unconditional; else labels reach G and D
  class_weight: float = 0.0     # ACGAN: weight of the auxiliary classifier's cross-entropy
  class_on_fake: bool = True    # ACGAN: D's class loss also on generated examples (the paper)
  gp_weight: float = 10.0       # WGAN-GP (objectives with gradient_penalty)
  r1_gamma: float = 0.0
  r2_gamma: float = 0.0
  dragan_weight: float = 0.0
  penalty_every: int = 1        # R1 / R2 every k steps, scaled by k (lazy regularisation)
  clip: float = 0.0
  g_steps: int = 1
  simultaneous: bool = False
  pack: int = 1                 # PacGAN: D judges packs of this many examples
  slots: int = 1                # runs of G per batch (PacGAN's per-slot batch norm)
  ema_decay: float = 0.0
  ema_stats: str = 'standing'   # 'standing' or 'generator' (the raw G's; for comparisons)
  standing_batches: int = 20
  augment: tuple[str, ...] = ()  # DiffAugment's policies (augment.POLICIES) on all D's inputs
  ortho_weight: float = 0.0     # BigGAN's orthogonal regularisation of G's weights


def generate(generator, params, batch_stats, z, labels=None, *, slots: int = 1, rngs=None):
  """The generator in training mode: (samples, updated batch_stats).

  `slots` = k > 1 runs it once per slot of the discriminator's packs (examples i, i + k, ...),
  as PacGAN's code does: batch norm then normalises each slot over its own examples, and the
  running statistics take the mean of the k updates. With 1, one run over all examples.
  """
  variables = {'params': params, 'batch_stats': batch_stats}
  if slots == 1:
    fake, updates = generator.apply(variables, z, labels, train=True, mutable=['batch_stats'],
                                    rngs=rngs)
    return fake, updates['batch_stats']
  per_slot = z.reshape(z.shape[0] // slots, slots, *z.shape[1:])
  runs = [generator.apply(variables, per_slot[:, i], train=True, mutable=['batch_stats'],
                          rngs=rngs) for i in range(slots)]
  fake = jnp.stack([x for x, _ in runs], axis=1)  # (packs, slots, ...): a pack's examples
  stats = jax.tree.map(lambda *s: jnp.mean(jnp.stack(s), axis=0),
                       *[updates['batch_stats'] for _, updates in runs])
  return fake.reshape(z.shape[0], *fake.shape[2:]), stats


def _split_outputs(outputs):
  """D's outputs: logits, or (logits, class logits) for ACGAN's discriminator."""
  if isinstance(outputs, tuple):
    return outputs
  return outputs, None


def class_cross_entropy(class_logits, labels) -> jax.Array:
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
      class_logits.astype(jnp.float32), labels))


def _probabilities(objective: Objective, real_logits, fake_logits):
  if not objective.probabilistic:
    return {}
  return {'d_real_prob': jnp.mean(jax.nn.sigmoid(real_logits)),
          'd_fake_prob': jnp.mean(jax.nn.sigmoid(fake_logits))}


def _fake_inputs(key, local_batch, game: Game, axis_name, latents_purpose, labels_purpose):
  z = steps.example_normals(jax.random.fold_in(key, latents_purpose), local_batch,
                            (game.z_dim,), axis_name)
  labels = None
  if game.num_classes:
    labels = steps.example_labels(jax.random.fold_in(key, labels_purpose), local_batch,
                                  game.num_classes, axis_name)
  return z, labels


def _g_rngs(key):
  # The generator's own random stream (dropout, noise inputs), per example in its layers.
  k = jax.random.fold_in(key, _G_RANDOM)
  return {'dropout': k, 'noise': jax.random.fold_in(k, 1)}


def d_step(d_state, g_state, batch, key, step, *, generator, discriminator, game: Game,
           axis_name: str):
  """One discriminator update on one real minibatch. Returns (d_state, metrics)."""
  real = batch[game.data_key]
  real_labels = batch['label'] if game.num_classes else None
  local_batch = real.shape[0]
  z, fake_labels = _fake_inputs(key, local_batch, game, axis_name, _D_LATENTS, _D_LABELS)
  fake, _ = generate(generator, g_state.params, g_state.batch_stats, z, fake_labels,
                     slots=game.slots, rngs=_g_rngs(key))
  fake = lax.stop_gradient(fake)
  if game.augment:  # D sees only augmented images, real and generated (DiffAugment)
    real = augment.augment_batch(real, jax.random.fold_in(key, _AUGMENT_REAL), game.augment,
                                 axis_name)
    fake = augment.augment_batch(fake, jax.random.fold_in(key, _AUGMENT_FAKE), game.augment,
                                 axis_name)
  objective = game.objective

  def loss_fn(params):
    def d_apply(x, labels, stats, purpose):
      return discriminator.apply({'params': params, 'batch_stats': stats}, x, labels,
                                 train=True, mutable=['batch_stats'],
                                 rngs={'dropout': jax.random.fold_in(key, purpose)})
    real_out, updates = d_apply(real, real_labels, d_state.batch_stats, _DROPOUT_REAL)
    real_stats = updates['batch_stats']
    fake_out, updates = d_apply(fake, fake_labels, real_stats, _DROPOUT_FAKE)
    # Batch norm averages both passes; spectral norm advances one power iteration per update.
    stats = steps.spectral_vectors_from(real_stats, updates['batch_stats'])
    (real_logits, real_class), (fake_logits, fake_class) = (_split_outputs(real_out),
                                                            _split_outputs(fake_out))
    loss, scalars = objective.d_loss(real_logits=real_logits, fake_logits=fake_logits)

    # Penalties see D with this update's statistics and leave them unchanged; each draws its
    # own dropout masks.
    def d_fn(purpose, labels):
      return lambda x: _split_outputs(d_apply(x, labels, stats, purpose)[0])[0]
    pack = game.pack
    if objective.gradient_penalty:
      epsilon = steps.example_uniforms(jax.random.fold_in(key, _D_EPSILON), local_batch,
                                       axis_name)
      gp = penalties.gradient_penalty(d_fn(_DROPOUT_GP, real_labels), real=real, fake=fake,
                                      epsilon=epsilon, pack=pack)
      loss = loss + game.gp_weight * gp
      scalars = {**scalars, 'gradient_penalty': gp}
    every = game.penalty_every
    if game.r1_gamma > 0:
      r1 = steps.every(every, step, lambda: penalties.r1_penalty(
          d_fn(_DROPOUT_R1, real_labels), real=real, pack=pack))
      loss = loss + 0.5 * game.r1_gamma * every * r1
      scalars = {**scalars, 'r1_penalty': r1}
    if game.r2_gamma > 0:
      r2 = steps.every(every, step, lambda: penalties.r2_penalty(
          d_fn(_DROPOUT_R2, fake_labels), fake=fake, pack=pack))
      loss = loss + 0.5 * game.r2_gamma * every * r2
      scalars = {**scalars, 'r2_penalty': r2}
    if game.dragan_weight > 0:
      noise_keys = steps.example_keys(jax.random.fold_in(key, _DRAGAN_NOISE), local_batch,
                                      axis_name)
      noise = jax.vmap(lambda k: jax.random.uniform(k, real.shape[1:]))(noise_keys)
      alpha = jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(k, 1)))(noise_keys)
      dragan = penalties.dragan_penalty(d_fn(_DROPOUT_DRAGAN, real_labels), real=real,
                                        noise=noise, alpha=alpha, axis_name=axis_name,
                                        pack=pack)
      loss = loss + game.dragan_weight * dragan
      scalars = {**scalars, 'dragan_penalty': dragan}
    if game.class_weight:
      class_loss = class_cross_entropy(real_class, real_labels)
      if game.class_on_fake:
        class_loss = class_loss + class_cross_entropy(fake_class, fake_labels)
      loss = loss + game.class_weight * class_loss
      scalars = {**scalars, 'd_class_loss': class_loss,
                 'd_real_class_accuracy': jnp.mean(jnp.argmax(real_class, -1) == real_labels)}
    scalars = {**scalars, 'd_real_logit': jnp.mean(real_logits),
               'd_fake_logit': jnp.mean(fake_logits),
               **_probabilities(objective, real_logits, fake_logits)}
    return loss, (stats, scalars)

  d_state, loss, scalars, grads = steps.update(d_state, loss_fn, axis_name=axis_name)
  if objective.weight_clipping and game.clip > 0:
    d_state = d_state.replace(params=steps.clip_params(d_state.params, game.clip))
  metrics = {'d_loss': loss, 'd_grad_norm': optax.global_norm(grads), **scalars}
  return d_state, lax.pmean(metrics, axis_name)


def g_step(g_state, d_state, key, *, local_batch: int, generator, discriminator, game: Game,
           axis_name: str):
  """One generator update against the given discriminator. Returns (g_state, metrics)."""
  z, labels = _fake_inputs(key, local_batch, game, axis_name, _G_LATENTS, _G_LABELS)

  def loss_fn(params):
    fake, batch_stats = generate(generator, params, g_state.batch_stats, z, labels,
                                 slots=game.slots, rngs=_g_rngs(key))
    if game.augment:
      fake = augment.augment_batch(fake, jax.random.fold_in(key, _AUGMENT_G), game.augment,
                                   axis_name)
    # D's statistics are not updated by the generator's step.
    out, _ = discriminator.apply(
        {'params': d_state.params, 'batch_stats': d_state.batch_stats}, fake, labels,
        train=True, mutable=['batch_stats'], rngs={'dropout': jax.random.fold_in(key, _DROPOUT_G)})
    fake_logits, fake_class = _split_outputs(out)
    loss, scalars = game.objective.g_loss(fake_logits=fake_logits)
    if game.class_weight:
      class_loss = class_cross_entropy(fake_class, labels)
      loss = loss + game.class_weight * class_loss
      scalars = {**scalars, 'g_class_loss': class_loss}
    if game.ortho_weight:
      ortho = penalties.orthogonal_penalty(params, exclude=('shared',))
      loss = loss + game.ortho_weight * ortho
      scalars = {**scalars, 'ortho_penalty': ortho}
    return loss, (batch_stats, scalars)

  g_state, loss, scalars, grads = steps.update(g_state, loss_fn, axis_name=axis_name)
  metrics = {'g_loss': loss, 'g_grad_norm': optax.global_norm(grads), **scalars}
  return g_state, lax.pmean(metrics, axis_name)


def train_step(state: state_lib.GANState, batches: dict, *, generator, discriminator,
               game: Game, axis_name: str = 'batch'):
  """`batches` holds this device's (d_steps, local_batch, ...) share of every entry.
  Returns (state, metrics), metrics averaged over devices and each player's updates."""
  batches = {k: v for k, v in batches.items() if k in (game.data_key, 'label')}
  batches[game.data_key] = convert.to_unit_range(batches[game.data_key])
  num_d_steps, local_batch = batches[game.data_key].shape[:2]
  step_key = jax.random.fold_in(state.rng, state.step)
  d_keys = jax.random.split(jax.random.fold_in(step_key, 0), num_d_steps)
  g_state, d_state = state.players['g'], state.players['d']
  # A Python loop, not lax.scan: on XLA:CPU the same step inside a scan (even one with
  # unroll=True) ran 14x slower (docs/PERFORMANCE.md). d_steps is small, so unrolling it costs
  # little compile time.
  d_metrics = []
  for i in range(num_d_steps):
    batch = jax.tree.map(lambda x: x[i], batches)
    d_state, m = d_step(d_state, g_state, batch, d_keys[i], state.step, generator=generator,
                        discriminator=discriminator, game=game, axis_name=axis_name)
    d_metrics.append(m)
  # The generator's updates take keys fold_in 1, 2, ...; fold_in 0 is the discriminator's.
  g_metrics = []
  for i in range(game.g_steps):
    g_state, m = g_step(g_state, state.players['d'] if game.simultaneous else d_state,
                        jax.random.fold_in(step_key, 1 + i), local_batch=local_batch,
                        generator=generator, discriminator=discriminator, game=game,
                        axis_name=axis_name)
    g_metrics.append(m)
  decay = state_lib.ema_decay_at(state.step, game.ema_decay)
  ema = state.ema['g'].replace(
      params=state_lib.update_ema_params(state.ema['g'].params, g_state.params, decay))
  metrics = {**steps.mean_metrics(d_metrics), **steps.mean_metrics(g_metrics)}
  new_state = state.replace(step=state.step + 1, players={'g': g_state, 'd': d_state},
                            ema={'g': ema})
  return new_state, metrics


def refresh(state: state_lib.GANState, indices: jax.Array, *, generator, game: Game,
            axis_name: str = 'batch'):
  """The EMA generator's own batch-norm statistics (per device: `indices` is this device's
  share of the standing batch's example indices). Without EMA the generator's own."""
  ema, g = state.ema['g'], state.players['g']
  if game.ema_decay == 0.0 or game.ema_stats == 'generator' or not jax.tree.leaves(
      g.batch_stats):
    return state.replace(ema={'g': ema.replace(batch_stats=g.batch_stats)})
  base = jax.random.fold_in(state.rng, _STANDING)

  def run(batch_stats, key):
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(indices)
    z = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, 0), (game.z_dim,)))(keys)
    labels = None
    if game.num_classes:
      labels = jax.vmap(lambda k: jax.random.randint(jax.random.fold_in(k, 1), (), 0,
                                                     game.num_classes))(keys)
    _, updates = generator.apply({'params': ema.params, 'batch_stats': batch_stats}, z, labels,
                                 train=True, mutable=['batch_stats'], rngs=_g_rngs(key))
    return updates['batch_stats']
  keys = jax.vmap(lambda b: jax.random.fold_in(base, b))(jnp.arange(game.standing_batches))
  stats = steps.standing_stats(run, g.batch_stats, keys)
  return state.replace(ema={'g': ema.replace(batch_stats=stats)})


class GanFamily:
  """The unconditional game: players 'g' and 'd', an EMA of 'g'."""

  player_names = ('g', 'd')

  def __init__(self, config, spec, generator, discriminator, game: Game):
    self.config = config
    self.spec = spec
    self.generator = generator
    self.discriminator = discriminator
    self.game = game
    self.train_step = functools.partial(train_step, generator=generator,
                                        discriminator=discriminator, game=game)
    self.refresh = functools.partial(refresh, generator=generator, game=game)
    self._generate = jax.jit(self._generate_fn)

  @property
  def conditional(self) -> bool:
    """Whether samples are generated for given classes."""
    return self.game.num_classes > 0

  # ---- State ----
  def init(self, rng: jax.Array) -> state_lib.GANState:
    """A fresh state. Pure in `rng`: `jax.eval_shape` of it gives the restore template."""
    config, game = self.config, self.game
    g_key, d_key, train_key = jax.random.split(rng, 3)
    z = jnp.zeros((1, game.z_dim), jnp.float32)
    labels = jnp.zeros((1,), jnp.int32) if game.num_classes else None
    x = jnp.zeros((game.pack, *self.spec.shape), jnp.float32)  # one (packed) input
    x_labels = jnp.zeros((game.pack,), jnp.int32) if game.num_classes else None
    g_vars = self.generator.init(g_key, z, labels, train=False)
    d_vars = self.discriminator.init(d_key, x, x_labels, train=False)
    steps_total = config.train.steps
    g = state_lib.create_player(self.generator, g_vars, optim.make_optimizer(
        config.optim, 'g', params=g_vars['params'], total_steps=steps_total,
        updates_per_step=config.train.g_steps))
    d = state_lib.create_player(self.discriminator, d_vars, optim.make_optimizer(
        config.optim, 'd', params=d_vars['params'], total_steps=steps_total,
        updates_per_step=config.train.d_steps))
    return state_lib.GANState(step=jnp.zeros((), jnp.int32), players={'g': g, 'd': d},
                              ema={'g': state_lib.ema_from(g)}, rng=train_key, extra={})

  def legacy_state(self, old: dict) -> state_lib.GANState:
    """A state from a checkpoint of the layout before families (step, g, d, ema_params, rng):
    its EMA runs with the raw generator's statistics, as it did then."""
    g, d = old['g'], old['d']
    # Copies: the step donates the state, and one buffer in two places would be given twice.
    stats = jax.tree.map(lambda x: jnp.array(x, copy=True), g.batch_stats)
    return state_lib.GANState(step=old['step'], players={'g': g, 'd': d},
                              ema={'g': state_lib.EMA(old['ema_params'], stats)},
                              rng=old['rng'], extra={})

  # ---- Sampling ----
  def _generate_fn(self, ema: state_lib.EMA, z, labels):
    return self.generator.apply(ema.variables(), z, labels, train=False)

  def latents(self, seed: int, num: int, truncation: float | None = None) -> jax.Array:
    """A latent batch determined by `seed` alone (the trainer's fixed batch uses the run's).

    `truncation` = t > 0: the truncation trick (BigGAN, Brock et al. 2019): the same latents
    with every entry beyond +-t resampled until inside (`truncation.truncate_latents`); None:
    untruncated."""
    return truncation_lib.seeded_latents(seed, num, self.game.z_dim, truncation)

  def labels_for(self, num: int, labels=None) -> np.ndarray | None:
    """The class of each of `num` samples: unconditional, None."""
    if labels is not None:
      raise ValueError('this run is unconditional (family '
                       f'{self.config.get("family", "gan")!r}): it takes no labels')
    return None

  def generate(self, ema: state_lib.EMA, z, labels=None,
               batch_size: int | None = None) -> np.ndarray:
    """Samples of the EMA generator in inference mode, in batches of `batch_size` (default
    `evals.batch_size`)."""
    batch_size = batch_size or self.config.evals.get('batch_size', 500)
    parts = []
    for i in range(0, len(z), batch_size):
      y = None if labels is None else jnp.asarray(labels[i:i + batch_size], jnp.int32)
      parts.append(np.asarray(self._generate(ema, z[i:i + batch_size], y)))
    return np.concatenate(parts)

  def sample(self, ema, *, seed: int, num: int, labels=None, truncation: float | None = None):
    """(samples, their labels or None): `num` samples from latents of `seed`, truncated at
    `truncation` if given (see `latents`)."""
    y = self.labels_for(num, labels)
    return self.generate(ema, self.latents(seed, num, truncation), y), y

  @property
  def has_latent(self) -> bool:
    """Whether the generator takes a latent z (what truncation truncates)."""
    return self.game.z_dim > 0

  def interpolation(self, ema, *, seed: int, rows: int, steps_per_row: int, labels=None):
    """(samples, columns): rows of spherical interpolations between pairs of latents."""
    ends = self.latents(seed, 2 * rows)
    t = jnp.linspace(0.0, 1.0, steps_per_row)
    z_dim = self.game.z_dim
    z = jnp.concatenate([slerp(jnp.broadcast_to(ends[2 * r], (len(t), z_dim)),
                               jnp.broadcast_to(ends[2 * r + 1], (len(t), z_dim)), t)
                         for r in range(rows)])
    y = self.labels_for(len(z), labels)
    return self.generate(ema, z, y), steps_per_row

  def grid(self, ema, *, seed: int, num: int):
    """(samples, columns) for the trainer's grid of a fixed batch."""
    return self.sample(ema, seed=seed, num=num)[0], None

  def picture(self, host_state, samples, path: str, *, title: str = '', columns=None):
    """A PNG of samples: an image grid, or for points a plot over the data (1-D: with D's
    output curve)."""
    d_curve = None
    if self.spec.shape == (1,) and self.game.pack == 1:  # a packed D judges packs
      d = host_state.players['d']
      d_curve = pictures.d_curve_1d(
          self.config, self.game.objective,
          lambda x: self.discriminator.apply({'params': d.params, 'batch_stats': d.batch_stats},
                                             x, train=False))
    pictures.save_picture(self.config, self.spec, samples, path, title=title, d_curve=d_curve,
                          columns=columns)


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  """Spherical interpolation between latent vectors `a` and `b` (rows) at fractions `t`."""
  a_n = a / jnp.linalg.norm(a, axis=-1, keepdims=True)
  b_n = b / jnp.linalg.norm(b, axis=-1, keepdims=True)
  omega = jnp.arccos(jnp.clip(jnp.sum(a_n * b_n, axis=-1, keepdims=True), -1.0, 1.0))
  so = jnp.sin(omega)
  t = t[:, None]
  safe = so > 1e-6
  w_a = jnp.where(safe, jnp.sin((1.0 - t) * omega) / jnp.where(safe, so, 1.0), 1.0 - t)
  w_b = jnp.where(safe, jnp.sin(t * omega) / jnp.where(safe, so, 1.0), t)
  return w_a * a + w_b * b


def game_from_config(config, spec, objective, *, num_classes: int = 0,
                     class_weight: float = 0.0, class_on_fake: bool = True) -> Game:
  model, train, loss = config.model, config.train, config.loss
  pack = model.get('pack', 1)
  policies = augment.parse(train.get('augment', ''))
  if policies and spec.kind != 'image':
    raise ValueError(f"train.augment={train.augment!r}: DiffAugment augments images; data "
                     f"{config.data.name!r} is {spec.kind}. Set --config.train.augment=''")
  return Game(objective=objective, z_dim=model.z_dim,
              data_key='image' if spec.kind == 'image' else 'points',
              num_classes=num_classes, class_weight=class_weight,
              class_on_fake=class_on_fake,
              gp_weight=loss.gp_weight, r1_gamma=loss.r1_gamma,
              r2_gamma=loss.get('r2_gamma', 0.0), dragan_weight=loss.get('dragan_weight', 0.0),
              penalty_every=loss.get('penalty_every', 1), clip=loss.clip,
              g_steps=train.g_steps, simultaneous=train.updates == 'simultaneous',
              pack=pack, slots=pack if model.get('pack_norm', 'batch') == 'slot' else 1,
              ema_decay=train.ema_decay, ema_stats=train.get('ema_stats', 'standing'),
              standing_batches=train.get('standing_batches', 20),
              augment=policies,
              ortho_weight=loss.get('ortho_weight', 0.0))


def build(config, spec, dtype) -> GanFamily:
  from gan_jax import losses, models
  generator, discriminator = models.build(config.model, spec.shape, dtype)
  game = game_from_config(config, spec, losses.get(config.loss.name))
  return GanFamily(config, spec, generator, discriminator, game)

