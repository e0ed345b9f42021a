"""StackGAN (Zhang et al. 2017): an image from a description, in two stages.

Data: described images (`data/descriptions.py`): batches {'image', 'label', 'condition'}, each
image with K description embeddings; each step takes one of them per example, drawn uniformly
from the example's own key (the reference picks one caption's embedding per image).

Stages (`stage`, top-level in the config):
- 'stage1': players 'g1', 'd1': stage I at `model.stage1_size` (the real images are
  average-pooled to it);
- 'stage2': players 'g2', 'd2', stage I frozen: its generator is read from the EMA of the run in
  `stage1_workdir` when the run starts, and kept in this run's state (so that the run samples on
  its own), as the paper trains stage II with stage I fixed;
- 'both' (the bundled digits): all four players in one run: stage I for `train.stage1_steps`
  steps, then stage II with stage I fixed. Which stage a step trains is chosen on the host
  (`step_phases`), one compiled program per stage.

A step of a stage, as the reference trainer's: G runs once on the batch (stage II's takes the
frozen stage I's image of the same z, stage I in inference mode); D is updated on the matching
real pair, the mismatched real pair (real image i with the description of example i + 1 of the
global batch, rolled across devices so that the pairs do not depend on the device count) and
the generated pair; then G against the updated D, through the same forward pass:

  D (stage I):  BCE(D(x, c), 1) + (BCE(D(x, c_wrong), 0) + BCE(D(G, c), 0)) / 2
  D (stage II): (BCE(D(x, c), 1) + BCE(D_u(x), 1)) / 2
                + (BCE(D(G, c), 0) + BCE(D(x, c_wrong), 0) + BCE(D_u(G), 0)) / 3
  G:            BCE(D(G, c), 1) [+ BCE(D_u(G), 1)] + loss.kl_weight * KL(N(mu, sigma) || N(0, I))

where D's condition c is the generator's mu (conditioning augmentation's mean, without
gradient) as in the PyTorch reference, or with `model.d_condition='embedding'` the description
itself, which D compresses with its own layer (the original TensorFlow code), D_u stage II's unconditional head, and the KL the mean over the
condition's dimensions. Adam (lr 2e-4, beta1 0.5) with `optim.schedule='step_decay'` halving it.

The EMA 'g' holds both stages' generators ({'stage1': ..., 'stage2': ...}); with
`train.ema_decay=0` (the reference has no EMA) it is the generators themselves. Each stage's
average warms up from that stage's first step (with stage='both', stage II's from step
`train.stage1_steps`). Its batch-norm statistics are the raw generators' running statistics.

Sampling takes descriptions: by default those of the dataset, in an order drawn from the seed
(conditional data: of the classes asked for), or given vectors (`sample(condition=...)`,
`gan_jax.sample --condition=FILE.npy`). The trainer's grid shows each stage I image, upsampled,
beside its stage II image.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from gan_jax import optim, pictures, steps
from gan_jax import state as state_lib
from gan_jax import truncation as truncation_lib
from gan_jax.data import convert

STAGES = ('both', 'stage1', 'stage2')
# Purposes folded into the step key.
_PICK, _Z, _EPS1, _EPS2 = 0, 1, 2, 3


def _bce(logits, target: float):
  """Mean binary cross-entropy of sigmoid(logits) against a constant target, 1 or 0."""
  return jnp.mean(jax.nn.softplus(-logits) if target else jax.nn.softplus(logits))


def kl_loss(mu, logvar):
  """KL(N(mu, exp(logvar)) || N(0, I)), averaged over examples and dimensions (the
  reference's KL_loss)."""
  return jnp.mean(-0.5 * (1.0 + logvar - jnp.square(mu) - jnp.exp(logvar)))


def rolled(x, axis_name: str):
  """Example i of the global batch gets example i + 1's row (the last gets the first's): the
  mismatched descriptions, the same on any number of devices."""
  everything = lax.all_gather(x, axis_name, tiled=True)
  local = x.shape[0]
  start = lax.axis_index(axis_name) * local
  return lax.dynamic_slice_in_dim(jnp.roll(everything, -1, axis=0), start, local)


def pool(images, size: int):
  """Images average-pooled to `size` (a divisor of their side)."""
  n, h, w, c = images.shape
  f = h // size
  return images.reshape(n, size, f, size, f, c).mean(axis=(2, 4))


def pick(conditions, key, axis_name: str):
  """One of each example's K descriptions (n, K, dim) -> (n, dim), uniformly from its key."""
  n, k = conditions.shape[:2]
  if k == 1:
    return conditions[:, 0]
  index = steps.example_labels(key, n, k, axis_name)
  return jnp.take_along_axis(conditions, index[:, None, None], axis=1)[:, 0]


def train_step(state: state_lib.GANState, batches: dict, *, models, settings, phases: str,
               axis_name: str = 'batch'):
  """Per device: `batches` holds this device's (1, local_batch, ...) share of 'image' and
  'condition'. `phases`: 'stage1' or 'stage2', the stage this step trains."""
  (g1, d1), (g2, d2) = models
  stage2 = phases == 'stage2'
  real = convert.to_unit_range(batches['image'][0])
  key = jax.random.fold_in(state.rng, state.step)
  local = real.shape[0]
  embedding = pick(batches['condition'][0].astype(jnp.float32), jax.random.fold_in(key, _PICK),
                   axis_name)
  z = steps.example_normals(jax.random.fold_in(key, _Z), local, (settings['z_dim'],), axis_name)
  eps1 = steps.example_normals(jax.random.fold_in(key, _EPS1), local,
                               (settings['condition_dim'],), axis_name)
  ema = state.ema['g']
  if stage2:
    eps2 = steps.example_normals(jax.random.fold_in(key, _EPS2), local,
                                 (settings['condition_dim'],), axis_name)
    stage1_image, _, _ = g1.apply({'params': ema.params['stage1'],
                                   'batch_stats': ema.batch_stats['stage1']},
                                  embedding, z, eps1, train=False)
    generator, discriminator, names = g2, d2, ('g2', 'd2')
    inputs = (embedding, lax.stop_gradient(stage1_image), eps2)
  else:
    generator, discriminator, names = g1, d1, ('g1', 'd1')
    real = pool(real, settings['stage1_size'])
    inputs = (embedding, z, eps1)
  g, d = state.players[names[0]], state.players[names[1]]

  def generate(params):
    (fake, mu, logvar), updates = generator.apply(
        {'params': params, 'batch_stats': g.batch_stats}, *inputs, train=True,
        mutable=['batch_stats'])
    return (fake, mu, logvar), updates['batch_stats']
  (fake, mu, logvar), g_vjp, g_stats = jax.vjp(generate, g.params, has_aux=True)
  # D's condition: the generator's mu (the PyTorch reference) or the description itself.
  condition = embedding if settings['d_embeds'] else lax.stop_gradient(mu)
  wrong = rolled(condition, axis_name)

  def d_loss_fn(params):
    def run(x, conditions, stats):
      (logits, uncond), updates = discriminator.apply(
          {'params': params, 'batch_stats': stats}, x, conditions, train=True,
          mutable=['batch_stats'])
      return logits, uncond, updates['batch_stats']
    (real_logits, wrong_logits), real_uncond, stats = run(real, [condition, wrong],
                                                          d.batch_stats)
    (fake_logits,), fake_uncond, stats = run(lax.stop_gradient(fake), [condition], stats)
    real_term, wrong_term, fake_term = (_bce(real_logits, 1), _bce(wrong_logits, 0),
                                        _bce(fake_logits, 0))
    if real_uncond is None:
      loss = real_term + 0.5 * (fake_term + wrong_term)
    else:
      loss = ((real_term + _bce(real_uncond, 1)) / 2
              + (fake_term + wrong_term + _bce(fake_uncond, 0)) / 3)
    return loss, (stats, {'d_real_loss': real_term, 'd_wrong_loss': wrong_term,
                          'd_fake_loss': fake_term,
                          'd_real_prob': jnp.mean(jax.nn.sigmoid(real_logits)),
                          'd_wrong_prob': jnp.mean(jax.nn.sigmoid(wrong_logits)),
                          'd_fake_prob': jnp.mean(jax.nn.sigmoid(fake_logits))})
  d, d_loss, d_scalars, d_grads = steps.update(d, d_loss_fn, axis_name=axis_name)

  def g_loss_fn(outputs):
    fake, mu, logvar = outputs
    (logits,), uncond = discriminator.apply(
        {'params': d.params, 'batch_stats': d.batch_stats}, fake, [condition], train=True,
        mutable=['batch_stats'])[0]
    adversarial = _bce(logits, 1) + (0.0 if uncond is None else _bce(uncond, 1))
    kl = kl_loss(mu, logvar)
    return adversarial + settings['kl_weight'] * kl, {'g_gan_loss': adversarial, 'kl_loss': kl}
  (g_loss, g_scalars), cotangents = jax.value_and_grad(g_loss_fn, has_aux=True)(
      (fake, mu, logvar))
  grads = lax.pmean(g_vjp(cotangents)[0], axis_name)
  g = g.apply_gradients(grads=grads, batch_stats=g_stats)

  stage = 'stage2' if stage2 else 'stage1'
  # Each stage's EMA warms up from that stage's first step, not from the run's.
  decay = state_lib.ema_decay_at(state.step - stage_start(stage, settings),
                                 settings['ema_decay'])
  ema = ema.replace(
      params={**ema.params, stage: state_lib.update_ema_params(ema.params[stage], g.params,
                                                               decay)},
      batch_stats={**ema.batch_stats, stage: g.batch_stats})
  metrics = {'d_loss': d_loss, 'g_loss': g_loss, 'd_grad_norm': optax.global_norm(d_grads),
             'g_grad_norm': optax.global_norm(grads), **d_scalars, **g_scalars}
  metrics = {f'{stage}/{k}': v for k, v in metrics.items()}  # e.g. 'stage1/d_loss'
  players = {**state.players, names[0]: g, names[1]: d}
  return state.replace(step=state.step + 1, players=players, ema={'g': ema}), lax.pmean(
      metrics, axis_name)


def stage_start(phase: str, settings: dict) -> int:
  """The run's step at which `phase` ('stage1' or 'stage2') starts training."""
  return settings['stage1_steps'] if phase == 'stage2' and settings['stage'] == 'both' else 0


def step_phases(step: int, *, stage: str, stage1_steps: int) -> str:
  """The stage step `step` trains."""
  if stage == 'both':
    return 'stage1' if step < stage1_steps else 'stage2'
  return stage


class StackGANFamily:
  """Two stages of (G, D); the EMA 'g' holds both generators."""

  translates = False
  ema_statistics = "the raw generators' running statistics"  # what evaluations report
  classes_note = ("the training data's descriptions in an order drawn from the seed, each "
                  "sample's class the one in its description")

  def __init__(self, config, spec, models, settings: dict):
    self.config = config
    self.spec = spec
    self.models = models
    self.settings = settings
    self.stage = settings['stage']
    self.player_names = {'stage1': ('g1', 'd1'), 'stage2': ('g2', 'd2'),
                         'both': ('g1', 'd1', 'g2', 'd2')}[self.stage]
    self.train_step = functools.partial(train_step, models=models, settings=settings)
    self.step_phases = functools.partial(step_phases, stage=self.stage,
                                         stage1_steps=settings['stage1_steps'])
    self._generate = jax.jit(self._generate_fn)
    self._descriptions = None

  @property
  def conditional(self) -> bool:
    return self.spec.num_classes > 0

  @property
  def num_classes(self) -> int:
    return self.spec.num_classes

  @property
  def has_latent(self) -> bool:
    return True

  # ---- State ----
  def _init_player(self, module, key, args, kind: str):
    variables = module.init(key, *args, train=False)
    total = self.config.train.steps
    return state_lib.create_player(module, variables, optim.make_optimizer(
        self.config.optim, kind, params=variables['params'], total_steps=total))

  def init(self, rng: jax.Array) -> state_lib.GANState:
    (g1, d1), (g2, d2) = self.models
    s = self.settings
    keys = jax.random.split(rng, 5)
    dim = self.spec.condition_shape[-1]
    embedding = jnp.zeros((1, dim), jnp.float32)
    z = jnp.zeros((1, s['z_dim']), jnp.float32)
    eps = jnp.zeros((1, s['condition_dim']), jnp.float32)
    size, channels = self.spec.shape[0], self.spec.shape[-1]
    small = jnp.zeros((1, s['stage1_size'], s['stage1_size'], channels), jnp.float32)
    players = {}
    if self.stage != 'stage2':
      players['g1'] = self._init_player(g1, keys[0], (embedding, z, eps), 'g')
      players['d1'] = self._init_player(d1, keys[1], (small, [self._d_condition(eps, embedding)]),
                                        'd')
      stage1 = state_lib.ema_from(players['g1'])
    else:
      # Replaced by the stage I run's generator when training starts (`initial_state`).
      variables = g1.init(keys[0], embedding, z, eps, train=False)
      stage1 = state_lib.EMA(variables['params'], variables['batch_stats'])
    ema = {'params': {'stage1': stage1.params}, 'batch_stats': {'stage1': stage1.batch_stats}}
    if self.stage != 'stage1':
      players['g2'] = self._init_player(g2, keys[2], (embedding, small, eps), 'g')
      players['d2'] = self._init_player(
          d2, keys[3], (jnp.zeros((1, size, size, channels), jnp.float32),
                        [self._d_condition(eps, embedding)]), 'd')
      second = state_lib.ema_from(players['g2'])
      ema['params']['stage2'] = second.params
      ema['batch_stats']['stage2'] = second.batch_stats
    return state_lib.GANState(step=jnp.zeros((), jnp.int32), players=players,
                              ema={'g': state_lib.EMA(**ema)}, rng=keys[4], extra={})

  def _d_condition(self, mu, embedding):
    return embedding if self.settings['d_embeds'] else mu

  def initial_state(self, state: state_lib.GANState, read_run) -> state_lib.GANState:
    """A fresh stage II run's state with stage I's generator from `stage1_workdir`, read by
    the trainer's `read_run(workdir) -> (config, family, state)`."""
    if self.stage != 'stage2':
      return state
    stage1 = load_stage1(self.config, read_run)
    ema = state.ema['g']
    return state.replace(ema={'g': ema.replace(
        params={**ema.params, 'stage1': stage1.params},
        batch_stats={**ema.batch_stats, 'stage1': stage1.batch_stats})})

  def check_start(self) -> None:
    """Start-up check of a stage II run: stage I's checkpoint is there."""
    if self.stage == 'stage2':
      check_stage1_workdir(self.config)

  def refresh(self, state, indices, *, axis_name: str = 'batch'):
    del indices, axis_name
    return state  # the EMA keeps the raw generators' statistics, updated every step

  # ---- Sampling ----
  def _generate_fn(self, ema, embedding, z, eps1, eps2):
    (g1, _), (g2, _) = self.models
    image1, _, _ = g1.apply({'params': ema.params['stage1'],
                             'batch_stats': ema.batch_stats['stage1']}, embedding, z, eps1,
                            train=False)
    if 'stage2' not in ema.params:
      return image1, image1
    image2, _, _ = g2.apply({'params': ema.params['stage2'],
                             'batch_stats': ema.batch_stats['stage2']}, embedding, image1, eps2,
                            train=False)
    return image1, image2

  def descriptions(self) -> tuple[np.ndarray, np.ndarray]:
    """(descriptions (n, dim): each example's first, labels (n,)) of the training data."""
    if self._descriptions is None:
      from gan_jax.data import descriptions
      conditions, labels = descriptions.all_descriptions(self.config.data)
      self._descriptions = (np.asarray(conditions[:, 0], np.float32),
                            np.asarray(labels, np.int64))
    return self._descriptions

  def conditions_for(self, num: int, seed: int, labels=None) -> tuple[np.ndarray, np.ndarray]:
    """(descriptions (num, dim), their labels): the data's, in an order drawn from `seed`;
    with `labels`, descriptions of those classes (cycled)."""
    from gan_jax.families import conditional
    conditions, classes = self.descriptions()
    rng = np.random.default_rng([seed, 0xDE5C])
    if labels is None:
      order = rng.permutation(len(conditions))
      index = np.resize(order, num)
      return conditions[index], classes[index]
    wanted = conditional.class_labels(self.num_classes, num, labels)
    index = np.empty(num, np.int64)
    for c in np.unique(wanted):
      pool_c = rng.permutation(np.flatnonzero(classes == c))
      if not len(pool_c):
        raise ValueError(f'the data has no description of class {c}')
      where = np.flatnonzero(wanted == c)
      index[where] = np.resize(pool_c, len(where))
    return conditions[index], wanted

  def latents(self, seed: int, num: int, truncation: float | None = None):
    """Latents z determined by `seed` alone (see `truncation.seeded_latents`)."""
    return truncation_lib.seeded_latents(seed, num, self.settings['z_dim'], truncation)

  def _ca_noise(self, seed: int, num: int) -> jax.Array:
    """(2, num, condition_dim): the conditioning augmentation's eps of both stages, from
    `seed` alone."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 0xCA)
    return jax.random.normal(key, (2, num, self.settings['condition_dim']))

  def check_condition(self, condition) -> np.ndarray:
    condition = np.asarray(condition, np.float32)
    dim = self.spec.condition_shape[-1]
    if condition.ndim == 3:
      condition = condition[:, 0]
    if condition.ndim != 2 or condition.shape[-1] != dim or not len(condition):
      raise ValueError(f'the descriptions have shape {condition.shape}; this run takes '
                       f'(n, {dim}) or (n, K, {dim}) description vectors')
    return condition

  def generate_stages(self, ema, condition, *, seed: int, truncation=None,
                      batch_size: int | None = None):
    """(stage I images, final images) for description vectors `condition` (n, dim)."""
    condition = self.check_condition(condition)
    num = len(condition)
    z = self.latents(seed, num, truncation)
    eps = self._ca_noise(seed, num)
    batch_size = batch_size or self.config.evals.get('batch_size', 500)
    firsts, finals = [], []
    for i in range(0, num, batch_size):
      part = slice(i, i + batch_size)
      a, b = self._generate(ema, jnp.asarray(condition[part]), z[part], eps[0, part],
                            eps[1, part])
      firsts.append(np.asarray(a))
      finals.append(np.asarray(b))
    return np.concatenate(firsts), np.concatenate(finals)

  def labels_for(self, num: int, labels=None):
    if not self.conditional:
      if labels is not None:
        raise ValueError('this run has no classes: its descriptions carry no labels')
      return None
    from gan_jax.families import conditional
    return conditional.class_labels(self.num_classes, num, labels)

  def sample_described(self, ema, *, seed: int, num: int, labels=None, truncation=None):
    """(final images, labels or None, the description vectors used) of `num` samples."""
    condition, classes = self.conditions_for(num, seed, labels)
    _, images = self.generate_stages(ema, condition, seed=seed, truncation=truncation)
    return images, (classes if self.conditional else None), condition

  def sample(self, ema, *, seed: int, num: int, labels=None, truncation=None, condition=None):
    """(final images, labels or None): from the data's descriptions (of `labels`' classes), or
    from given description vectors `condition`."""
    if condition is not None:
      _, images = self.generate_stages(ema, condition, seed=seed, truncation=truncation)
      return images, None
    images, classes, _ = self.sample_described(ema, seed=seed, num=num, labels=labels,
                                               truncation=truncation)
    return images, classes

  def grid(self, ema, *, seed: int, num: int):
    """Stage I (upsampled) beside stage II, pairs in rows of up to 4; conditional data: one
    class per row."""
    labels = (np.repeat(np.arange(self.num_classes), max(1, num // (2 * self.num_classes)))
              if self.conditional else None)
    condition, _ = self.conditions_for(len(labels) if labels is not None else max(1, num // 2),
                                       seed, labels)
    first, final = self.generate_stages(ema, condition, seed=seed)
    if self.stage == 'stage1':
      return first, (max(1, num // (2 * self.num_classes)) if self.conditional else None)
    factor = final.shape[1] // first.shape[1]
    first = np.repeat(np.repeat(first, factor, axis=1), factor, axis=2)
    pairs = np.stack([first, final], axis=1).reshape(-1, *final.shape[1:])
    per_row = max(1, num // (2 * self.num_classes)) if self.conditional else min(4, len(final))
    return pairs, 2 * per_row

  def interpolation(self, ema, *, seed: int, rows: int, steps_per_row: int, labels=None):
    """Rows of interpolations in z between two latents, each row with one description."""
    from gan_jax.families import gan
    condition, _ = self.conditions_for(rows, seed, labels)
    ends = self.latents(seed, 2 * rows)
    t = jnp.linspace(0.0, 1.0, steps_per_row)
    dim = self.settings['z_dim']
    z = jnp.concatenate([gan.slerp(jnp.broadcast_to(ends[2 * r], (len(t), dim)),
                                   jnp.broadcast_to(ends[2 * r + 1], (len(t), dim)), t)
                         for r in range(rows)])
    condition = np.repeat(condition, steps_per_row, axis=0)
    eps = self._ca_noise(seed, len(z))
    _, images = self._generate(ema, jnp.asarray(condition), z, eps[0], eps[1])
    return np.asarray(images), steps_per_row

  def picture(self, host_state, samples, path: str, *, title: str = '', columns=None):
    pictures.save_picture(self.config, self.spec, samples, path, title=title, columns=columns)


def check_stage1_workdir(config) -> None:
  import os
  workdir = config.get('stage1_workdir', '')
  if not workdir:
    raise ValueError("stage='stage2' trains stage II on a trained stage I: set "
                     '--config.stage1_workdir to the workdir of a stage I run (stage='
                     "'stage1'), or train both with stage='both'")
  checkpoints = os.path.join(os.path.expanduser(workdir), 'checkpoints')
  if not os.path.isdir(checkpoints) or not any(n.isdigit() for n in os.listdir(checkpoints)):
    raise FileNotFoundError(f'stage1_workdir={workdir!r} holds no checkpoint '
                            f'({checkpoints} has none): train stage I there first')


def load_stage1(config, read_run) -> state_lib.EMA:
  """The stage I generator (EMA params and statistics) of the run in `config.stage1_workdir`,
  checked against this run's stage I settings."""
  check_stage1_workdir(config)
  workdir = config.stage1_workdir
  other, family, state = read_run(workdir)
  if other.get('family') != 'stackgan':
    raise ValueError(f'stage1_workdir={workdir!r} is a {other.get("family")!r} run, not StackGAN')
  mine = {k: config.model[k] for k in ('z_dim', 'condition_dim', 'ca_activation', 'stage1_size',
                                       'g1_width')}
  theirs = {k: other.model.get(k) for k in mine}
  mine['description_dim'] = config.data.get('embedding_dim') or None
  theirs['description_dim'] = other.data.get('embedding_dim') or None
  if mine != theirs:
    raise ValueError(f'the stage I run in {workdir} has the settings {theirs}, this run '
                     f'{mine}: they must match')
  ema = state.ema['g']
  return state_lib.EMA(ema.params['stage1'], ema.batch_stats['stage1'])


def build(config, spec, dtype) -> StackGANFamily:
  from gan_jax import models
  if not spec.condition_shape:
    raise ValueError(f"family 'stackgan' generates from descriptions: data {config.data.name!r} "
                     "has none. Use data.name='described_digits', or a folder with "
                     'data.embeddings=FILE.npy')
  if spec.condition_shape[-1] < 1:
    raise ValueError('data.embedding_dim must be the embeddings\' dimension (1,024 for the CUB '
                     'and Oxford-102 char-CNN-RNN embeddings)')
  if config.model.name != 'stackgan':
    raise ValueError(f"family 'stackgan' needs model.name='stackgan', not {config.model.name!r}")
  stage = config.get('stage', 'both')
  if stage not in STAGES:
    raise ValueError(f'unknown stage {stage!r}; choose one of {list(STAGES)}')
  if config.train.d_steps != 1 or config.train.g_steps != 1:
    raise ValueError("family 'stackgan' updates D and G once a step, as the reference: set "
                     'train.d_steps=1 and train.g_steps=1')
  size = spec.shape[0]
  s1 = config.model.stage1_size
  if stage == 'stage1' and s1 != size:
    raise ValueError(f"stage='stage1' trains at data.image_size={size}: set model.stage1_size="
                     f'{size}')
  if stage != 'stage1' and not (size > s1 and size % s1 == 0):
    raise ValueError(f'stage II refines stage I: data.image_size={size} must be a multiple of '
                     f'model.stage1_size={s1} above it')
  stage1_steps = config.train.get('stage1_steps', 0)
  if stage == 'both' and not 0 < stage1_steps < config.train.steps:
    raise ValueError(f"stage='both' trains stage I for train.stage1_steps, then stage II: give "
                     f'0 < train.stage1_steps < train.steps={config.train.steps}, got '
                     f'{stage1_steps}')
  if stage == 'stage2':
    if not config.get('stage1_workdir', ''):
      check_stage1_workdir(config)
  stage1_models, stage2_models = models.build(config.model, spec.shape, dtype)
  settings = {'stage': stage, 'stage1_steps': stage1_steps, 'z_dim': config.model.z_dim,
              'condition_dim': config.model.condition_dim, 'stage1_size': s1,
              'kl_weight': config.loss.get('kl_weight', 2.0),
              'ema_decay': config.train.ema_decay,
              'd_embeds': config.model.get('d_condition', 'mu') == 'embedding'}
  return StackGANFamily(config, spec, (stage1_models, stage2_models), settings)
