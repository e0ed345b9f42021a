"""StyleGAN2 (Karras et al. 2020) with adaptive discriminator augmentation (ADA, Karras et al.
2020), as the official stylegan2-ada-pytorch trains it.

Players: 'g', the style-based generator (`models/stylegan2.py`: a mapping network z -> w and a
synthesis network driven by one w per layer, with noise inputs), and 'd', the residual (or
`orig`) discriminator with minibatch standard deviation. An EMA of 'g' samples.

Each step runs the official phases in their order, each its own optimizer update:

- Gmain: the non-saturating logistic loss softplus(-D(aug(G(z)))), G against the current D;
- Greg, every `loss.pl_every` (4) steps: path-length regularisation on half the batch
  (`loss.pl_batch_shrink`): for images G(w) and y ~ N(0, I) / sqrt(H W), the length
  a = |J_w^T y| (the gradient of sum(G(w) * y) with respect to the w's: its squared norm summed
  over w's dimensions, averaged over the layers' w's, square-rooted), penalised as
  pl_weight * (a - mean)^2, where the running mean moves by `loss.pl_decay` (0.01) toward the
  batch's mean length each time; the loss is multiplied by the interval;
- Dmain: softplus(D(aug(G(z)))) + softplus(-D(aug(x)));
- Dreg, every `loss.penalty_every` (16) steps: R1, gamma / 2 * |grad_x D(aug(x))|^2, times the
  interval.

Which regularisers run at a step is chosen on the host (`step_phases`; the trainer compiles one
program per choice, `train.PhasedStep`), as the official loop does: on XLA:CPU a `lax.cond`
around them ran their convolutions about 10x slower (docs/PERFORMANCE.md).

The regularised players' Adam runs at lr * c with betas ** c, c = interval / (interval + 1), as
the paper's lazy regularisation prescribes. Gradients are cleaned of NaN and infinities before
they are applied, as the official loop does.

Style mixing (`loss.style_mixing`, 0.9): with that probability an example's w's switch, from a
layer drawn uniformly in [1, num_ws), to those of a second latent. The official code draws one
switch for a whole GPU batch; here each example draws its own from its own key, so that the
result does not depend on how the batch is split over devices.

State beyond the players (`GANState.extra`): the tracked average w (`w_avg`, moved by
`model.w_avg_beta` = 0.995 toward the batch's mean w at every mapping of fresh latents: in
Gmain, Greg and Dmain), the path-length mean (`pl_mean`), ADA's augmentation probability and
its accumulator (`ada`: p, the sum of sign(D(real)) and its count), and the last values of the
lazy penalties (for logging). The EMA copy carries `w_avg` as its own (its 'batch_stats'), so
that it samples with truncation on its own.

The EMA: a half-life of `train.ema_kimg` thousand images, ramped up over the first images as
min(ema_kimg * 1000, images seen * `train.ema_rampup`) when the ramp-up is set: beta =
0.5 ** (batch / half-life images).

ADA (`gan_jax/ada.py`): every image D sees, real and generated, in every phase, is augmented
with probability p per transform, differentiably; every `train.ada_interval` steps p moves
toward the target r_t = E[sign(D(real))] = `train.ada_target` (0.6) by
batch * interval / (ada_kimg * 1000). `train.ada_target=0` keeps p fixed at `train.ada_p`.
Logged: `ada_p`, and `ada_rt`, this step's mean sign of D's outputs on real images (Dmain's and,
on R1 steps, Dreg's), what the controller accumulates.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax import lax

from gan_jax import ada, optim, pictures, steps
from gan_jax import state as state_lib
from gan_jax import truncation as truncation_lib
from gan_jax.data import convert
from gan_jax.families import conditional

# Step-key purposes: one per phase, and within a phase one per use.
_G_MAIN, _G_REG, _D_MAIN, _D_REG = 40, 41, 42, 43
_Z, _MIX, _LABELS, _NOISE, _AUG_FAKE, _AUG_REAL, _PL_NOISE = 0, 1, 2, 3, 4, 5, 6


@dataclasses.dataclass(frozen=True)
class Settings:
  """The fixed settings of the game, bound into the step before it is compiled."""
  z_dim: int
  w_dim: int
  num_ws: int
  num_classes: int
  batch_size: int               # the global batch (for the EMA's and ADA's image counts)
  r1_gamma: float = 10.0
  r1_every: int = 16
  pl_weight: float = 2.0
  pl_every: int = 4
  pl_decay: float = 0.01
  pl_batch_shrink: int = 2
  style_mixing: float = 0.9
  w_avg_beta: float = 0.995
  ema_kimg: float = 10.0
  ema_rampup: float = 0.0       # 0: no ramp-up
  ada_pipeline: str = 'bgc'     # '' : no augmentation
  ada_target: float = 0.6       # 0: p fixed at its initial value
  ada_interval: int = 4
  ada_kimg: float = 500.0


def lazy_ratio(interval: int) -> float:
  """c = interval / (interval + 1): the regularised player's lr and betas are lr * c and
  beta ** c (1 without lazy regularisation)."""
  return interval / (interval + 1) if interval > 0 else 1.0


def ema_beta(step, settings: Settings) -> jax.Array:
  """The EMA's decay at `step`: 0.5 ** (batch / half-life), the half-life in images ramped up
  as min(ema_kimg * 1000, images seen * ema_rampup) when the ramp-up is on."""
  nimg = step.astype(jnp.float32) * settings.batch_size
  half_life = jnp.float32(settings.ema_kimg * 1000.0)
  if settings.ema_rampup > 0:
    half_life = jnp.minimum(half_life, nimg * settings.ema_rampup)
  return 0.5 ** (settings.batch_size / jnp.maximum(half_life, 1e-8))


def mix_styles(w, w_mix, cutoff, num_ws: int) -> jax.Array:
  """(N, num_ws, w_dim): each example's w for layers below its `cutoff`, `w_mix` from it on."""
  layer = jnp.arange(num_ws)[None, :, None]
  return jnp.where(layer < cutoff[:, None, None], w[:, None, :], w_mix[:, None, :])


def path_lengths(synthesize, ws, noise) -> tuple[jax.Array, jax.Array]:
  """(images, per-example path lengths): the gradient of sum(synthesize(ws) * noise) with
  respect to `ws` (N, num_ws, w_dim), its squared entries summed over w's dimensions, averaged
  over the layers, square-rooted. Differentiable (its gradient is the penalty's)."""
  images, vjp = jax.vjp(synthesize, ws)
  (grads,) = vjp(noise.astype(images.dtype))
  return images, jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads.astype(jnp.float32)), axis=2),
                                   axis=1))


def _update(player, loss_fn, axis_name: str, gain: float = 1.0):
  """One update with gradients averaged over devices and cleaned of NaN and infinities.
  Returns (player, loss, aux, the gradients' global norm)."""
  (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(player.params)
  grads = lax.pmean(grads, axis_name)
  grads = jax.tree.map(lambda g: jnp.nan_to_num(g * gain, nan=0.0, posinf=1e5, neginf=-1e5),
                       grads)
  return player.apply_gradients(grads=grads), loss, aux, optax.global_norm(grads)


def step_phases(step: int, settings: Settings) -> tuple[bool, bool]:
  """(path length, R1): which lazy regularisers run at `step`."""
  s = settings
  return (s.pl_weight > 0 and step % s.pl_every == 0, s.r1_gamma > 0 and step % s.r1_every == 0)


def train_step(state: state_lib.GANState, batches: dict, *, generator, discriminator,
               settings: Settings, phases: tuple[bool, bool], axis_name: str = 'batch'):
  """Per device: `batches` holds this device's (1, local_batch, ...) share of 'image' (and
  'label' when conditional). `phases`: (path length, R1), whether each regulariser runs at this
  step, as `step_phases` chose them on the host. Returns (state, metrics averaged over
  devices)."""
  s = settings
  pl_now, r1_now = phases
  real = convert.to_unit_range(batches['image'][0])
  real_labels = batches['label'][0] if s.num_classes else None
  n = real.shape[0]
  key = jax.random.fold_in(state.rng, state.step)
  step = state.step
  g, d = state.players['g'], state.players['d']
  extra = state.extra
  p = extra['ada']['p']

  def keys(phase, purpose, num=n):
    return steps.example_keys(jax.random.fold_in(jax.random.fold_in(key, phase), purpose), num,
                              axis_name)

  def fake_inputs(phase, num=n):
    z = jax.vmap(lambda k: jax.random.normal(k, (s.z_dim,)))(keys(phase, _Z, num))
    labels = None
    if s.num_classes:
      labels = jax.vmap(lambda k: jax.random.randint(k, (), 0, s.num_classes))(
          keys(phase, _LABELS, num))
    return z, labels

  def styles(params, phase, z, labels):
    """(ws, the batch's mean w): mapped latents, mixed as style mixing draws."""
    w = generator.apply({'params': params}, z, labels, method='map')
    mean_w = lax.pmean(jnp.mean(w.astype(jnp.float32), axis=0), axis_name)
    if s.style_mixing <= 0:
      return jnp.broadcast_to(w[:, None], (w.shape[0], s.num_ws, w.shape[-1])), mean_w
    mix_keys = keys(phase, _MIX, z.shape[0])
    z_mix = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, 0), (s.z_dim,)))(mix_keys)
    w_mix = generator.apply({'params': params}, z_mix, labels, method='map')
    cutoff = jax.vmap(lambda k: jnp.where(
        jax.random.uniform(jax.random.fold_in(k, 1)) < s.style_mixing,
        jax.random.randint(jax.random.fold_in(k, 2), (), 1, s.num_ws), s.num_ws))(mix_keys)
    return mix_styles(w, w_mix, cutoff, s.num_ws), mean_w

  def synthesize(params, ws, noise_keys):
    return generator.apply({'params': params}, ws, noise_keys, 'random', method='synthesize')

  def augment(images, phase, purpose):
    if not s.ada_pipeline:
      return images
    return ada.augment(images, keys(phase, purpose, images.shape[0]), p, s.ada_pipeline)

  def judge(params, images, labels):
    return discriminator.apply({'params': params}, images, labels, train=True)

  def track(w_avg, mean_w):
    return mean_w + s.w_avg_beta * (w_avg - mean_w)

  w_avg = extra['w_avg']

  # ---- Gmain ----
  z, labels = fake_inputs(_G_MAIN)

  def g_main(params):
    ws, mean_w = styles(params, _G_MAIN, z, labels)
    fake = synthesize(params, ws, keys(_G_MAIN, _NOISE))
    logits = judge(d.params, augment(fake, _G_MAIN, _AUG_FAKE), labels)
    return jnp.mean(jax.nn.softplus(-logits)), mean_w
  g, g_loss, mean_w, g_norm = _update(g, g_main, axis_name)
  w_avg = track(w_avg, mean_w)

  # ---- Greg: path length, every pl_every steps ----
  pl_mean, pl_penalty = extra['pl_mean'], extra['pl_penalty']
  if s.pl_weight > 0:
    num_pl = max(1, n // s.pl_batch_shrink)
    z_pl, labels_pl = fake_inputs(_G_REG, num_pl)

    def g_reg(params):
      ws, mean_w = styles(params, _G_REG, z_pl, labels_pl)
      noise_keys = keys(_G_REG, _NOISE, num_pl)
      fake_shape = jax.eval_shape(lambda w: synthesize(params, w, noise_keys), ws).shape
      noise = jax.vmap(lambda k: jax.random.normal(k, fake_shape[1:]))(
          keys(_G_REG, _PL_NOISE, num_pl)) / np.sqrt(fake_shape[1] * fake_shape[2])
      _, lengths = path_lengths(lambda w: synthesize(params, w, noise_keys), ws, noise)
      new_mean = pl_mean + s.pl_decay * (lax.pmean(jnp.mean(lengths), axis_name) - pl_mean)
      penalty = jnp.mean(jnp.square(lengths - new_mean))
      return penalty * s.pl_weight, (lax.stop_gradient(new_mean), penalty, mean_w)

    def regularise(g):
      g, _, (new_mean, penalty, mean_w), _ = _update(g, g_reg, axis_name, gain=s.pl_every)
      return g, new_mean, lax.pmean(penalty, axis_name), track(w_avg, mean_w)
    if pl_now:
      g, pl_mean, pl_penalty, w_avg = regularise(g)

  # ---- Dmain ----
  z, labels = fake_inputs(_D_MAIN)
  ws, mean_w = styles(g.params, _D_MAIN, z, labels)
  w_avg = track(w_avg, mean_w)
  fake = lax.stop_gradient(synthesize(g.params, ws, keys(_D_MAIN, _NOISE)))
  # One pass of D (and of the augmentation) over fakes and reals together where the minibatch
  # standard deviation's groups cannot straddle the two halves; the same values either way.
  group = getattr(discriminator, 'mbstd_group_size', 1)
  if group <= n and n % group == 0:
    both_labels = jnp.concatenate([labels, real_labels]) if s.num_classes else None
    both = jnp.concatenate([fake, real])
    if s.ada_pipeline:
      both = ada.augment(both, jnp.concatenate([keys(_D_MAIN, _AUG_FAKE),
                                                keys(_D_MAIN, _AUG_REAL)]), p, s.ada_pipeline)

    def judge_both(params):
      logits = judge(params, both, both_labels)
      return logits[:n], logits[n:]
  else:
    fake_aug = augment(fake, _D_MAIN, _AUG_FAKE)
    real_aug = augment(real, _D_MAIN, _AUG_REAL)

    def judge_both(params):
      return judge(params, fake_aug, labels), judge(params, real_aug, real_labels)

  def d_main(params):
    fake_logits, real_logits = judge_both(params)
    loss = jnp.mean(jax.nn.softplus(fake_logits)) + jnp.mean(jax.nn.softplus(-real_logits))
    return loss, (real_logits, fake_logits)
  d, d_loss, (real_logits, fake_logits), d_norm = _update(d, d_main, axis_name)
  signs, count = ada.real_sign_stats(real_logits)

  # ---- Dreg: R1, every r1_every steps ----
  r1_penalty = extra['r1_penalty']
  if s.r1_gamma > 0:
    def d_reg(params):
      def total(x):
        logits = judge(params, augment(x, _D_REG, _AUG_REAL), real_labels)
        return jnp.sum(logits), logits
      grads, logits = jax.grad(total, has_aux=True)(real)
      penalty = jnp.mean(jnp.sum(jnp.square(grads), axis=(1, 2, 3)))
      return penalty * (s.r1_gamma / 2), (penalty, ada.real_sign_stats(logits))

    def regularise_d(d):
      d, _, (penalty, (reg_signs, reg_count)), _ = _update(d, d_reg, axis_name,
                                                           gain=s.r1_every)
      return d, lax.pmean(penalty, axis_name), reg_signs, reg_count
    if r1_now:
      d, r1_penalty, reg_signs, reg_count = regularise_d(d)
      signs, count = signs + reg_signs, count + reg_count

  # ---- EMA, ADA ----
  beta = ema_beta(step, s)
  ema = state_lib.EMA(params=state_lib.update_ema_params(state.ema['g'].params, g.params, beta),
                      batch_stats={'w_avg': w_avg})
  ada_state = extra['ada']
  signs, count = lax.psum((signs, count), axis_name)
  if s.ada_pipeline and s.ada_target > 0:
    ada_state = ada.update_state(ada_state, signs, count, step, interval=s.ada_interval,
                                 batch_size=s.batch_size, target=s.ada_target, kimg=s.ada_kimg)
  extra = {'w_avg': w_avg, 'pl_mean': pl_mean, 'pl_penalty': pl_penalty,
           'r1_penalty': r1_penalty, 'ada': ada_state}
  metrics = lax.pmean({
      'g_loss': g_loss, 'd_loss': d_loss,
      'd_real_logit': jnp.mean(real_logits), 'd_fake_logit': jnp.mean(fake_logits),
      'd_real_sign': jnp.mean(jnp.sign(real_logits))}, axis_name)
  metrics = {**metrics, 'g_grad_norm': g_norm, 'd_grad_norm': d_norm, 'pl_penalty': pl_penalty, 'pl_mean': pl_mean, 'r1_penalty': r1_penalty,
             'ada_p': ada_state['p'], 'ada_rt': signs / count, 'ema_beta': beta}
  new_state = state.replace(step=step + 1, players={'g': g, 'd': d}, ema={'g': ema},
                            extra=extra)
  return new_state, metrics


def refresh(state: state_lib.GANState, indices, *, axis_name: str = 'batch'):
  """The EMA copy runs on its own already (its w_avg is the tracked one): nothing to do."""
  del indices, axis_name
  ema = state.ema['g']
  return state.replace(ema={'g': ema.replace(batch_stats={'w_avg': state.extra['w_avg']})})


class StyleGan2Family:
  """StyleGAN2: players 'g' and 'd', an EMA of 'g' carrying the tracked average w."""

  player_names = ('g', 'd')
  has_latent = True

  def __init__(self, config, spec, generator, discriminator, settings: Settings):
    self.config = config
    self.spec = spec
    self.generator = generator
    self.discriminator = discriminator
    self.settings = settings
    self.train_step = functools.partial(train_step, generator=generator,
                                        discriminator=discriminator, settings=settings)
    self.refresh = refresh
    self.step_phases = functools.partial(step_phases, settings=settings)
    self._map = jax.jit(lambda params, z, labels: generator.apply(
        {'params': params}, z, labels, method='map'))
    self._synthesize = jax.jit(lambda params, ws: generator.apply(
        {'params': params}, ws, None, 'const', method='synthesize'))

  @property
  def conditional(self) -> bool:
    return self.settings.num_classes > 0

  def check_devices(self, num_devices: int) -> None:
    """Start-up check: the minibatch-stddev group divides each device's batch."""
    check_batch(self.config, num_devices)

  @property
  def num_classes(self) -> int:
    return self.settings.num_classes

  @property
  def num_ws(self) -> int:
    return self.settings.num_ws

  # ---- State ----
  def _optimizer(self, player: str, params, interval: int):
    """Adam at lr * c and betas ** c for a lazily regularised player (c = lazy_ratio), with the
    mapping network's learning-rate multiplier (`model.mapping_lr`) among the per-module
    multipliers (the class embedding keeps 1, as the official code's)."""
    config = self.config
    c = lazy_ratio(interval)
    oc = ml_collections.ConfigDict(config.optim.to_dict())
    oc[f'{player}_lr'] = config.optim[f'{player}_lr'] * c
    oc.b1, oc.b2 = config.optim.b1 ** c, config.optim.b2 ** c
    entries = list(config.optim.get('lr_multipliers', ()))
    named = optim.parse_multipliers(entries).get(player, {})
    if 'mapping' in params and 'mapping' not in named:
      entries.append(f'{player}/mapping={config.model.mapping_lr}')
      if 'embed' in params['mapping'] and 'mapping/embed' not in named:
        entries.append(f'{player}/mapping/embed=1')   # the official class embedding: no multiplier
    oc.lr_multipliers = tuple(entries)
    return optim.make_optimizer(oc, player, params=params, total_steps=config.train.steps)

  def init(self, rng: jax.Array) -> state_lib.GANState:
    """A fresh state. Pure in `rng`: `jax.eval_shape` of it gives the restore template."""
    s = self.settings
    g_key, d_key, train_key = jax.random.split(rng, 3)
    z = jnp.zeros((1, s.z_dim), jnp.float32)
    labels = jnp.zeros((1,), jnp.int32) if s.num_classes else None
    x = jnp.zeros((1, *self.spec.shape), jnp.float32)
    g_vars = self.generator.init(g_key, z, labels)
    d_vars = self.discriminator.init(d_key, x, labels)
    g = state_lib.create_player(self.generator, g_vars, self._optimizer(
        'g', g_vars['params'], s.pl_every if s.pl_weight > 0 else 0))
    d = state_lib.create_player(self.discriminator, d_vars, self._optimizer(
        'd', d_vars['params'], s.r1_every if s.r1_gamma > 0 else 0))
    w_avg = jnp.zeros((s.w_dim,), jnp.float32)
    ema = state_lib.ema_from(g).replace(batch_stats={'w_avg': jnp.copy(w_avg)})
    extra = {'w_avg': w_avg, 'pl_mean': jnp.zeros((), jnp.float32),
             'pl_penalty': jnp.zeros((), jnp.float32), 'r1_penalty': jnp.zeros((), jnp.float32),
             'ada': ada.init_state(self.config.train.get('ada_p', 0.0))}
    return state_lib.GANState(step=jnp.zeros((), jnp.int32), players={'g': g, 'd': d},
                              ema={'g': ema}, rng=train_key, extra=extra)

  def legacy_state(self, old):
    raise ValueError('StyleGAN2 runs have no checkpoints of the layout before families')

  # ---- Sampling ----
  def latents(self, seed: int, num: int, truncation: float | None = None) -> jax.Array:
    """Latents z determined by `seed` alone; `truncation` = t: entries beyond +-t resampled
    (BigGAN's trick on z; StyleGAN's own truncation is `psi`, in w)."""
    return truncation_lib.seeded_latents(seed, num, self.settings.z_dim, truncation)

  def labels_for(self, num: int, labels=None):
    if not self.conditional:
      if labels is not None:
        raise ValueError("this run is unconditional (family 'stylegan2' without "
                         'data.num_classes): it takes no labels')
      return None
    return conditional.class_labels(self.num_classes, num, labels)

  def styles(self, ema, z, labels=None, *, psi: float = 1.0, cutoff: int | None = None):
    """(N, num_ws, w_dim): the EMA mapping's w for each latent, truncated toward the tracked
    average w by `psi` (w_avg + psi (w - w_avg)) in the first `cutoff` layers (all: None)."""
    psi = check_psi(psi)
    w = np.asarray(self._map(ema.params, jnp.asarray(z),
                             None if labels is None else jnp.asarray(labels, jnp.int32)))
    ws = np.repeat(w[:, None], self.num_ws, axis=1)
    if psi != 1.0:
      w_avg = np.asarray(ema.batch_stats['w_avg'])
      layers = slice(None) if cutoff is None else slice(0, cutoff)
      ws[:, layers] = w_avg + psi * (ws[:, layers] - w_avg)
    return ws

  def synthesize(self, ema, ws, batch_size: int | None = None) -> np.ndarray:
    """Images of the EMA synthesis network from w's (N, num_ws, w_dim), its noise fixed."""
    batch_size = batch_size or self.config.evals.get('batch_size', 500)
    return np.concatenate([np.asarray(self._synthesize(ema.params, jnp.asarray(ws[i:i + batch_size])))
                           for i in range(0, len(ws), batch_size)])

  def generate(self, ema, z, labels=None, batch_size: int | None = None, *, psi: float = 1.0,
               cutoff: int | None = None) -> np.ndarray:
    batch_size = batch_size or self.config.evals.get('batch_size', 500)
    parts = []
    for i in range(0, len(z), batch_size):
      y = None if labels is None else labels[i:i + batch_size]
      parts.append(self.synthesize(ema, self.styles(ema, z[i:i + batch_size], y, psi=psi,
                                                    cutoff=cutoff), batch_size))
    return np.concatenate(parts)

  def sample(self, ema, *, seed: int, num: int, labels=None, truncation: float | None = None,
             psi: float = 1.0, cutoff: int | None = None):
    """(samples, their labels or None): `num` samples from latents of `seed`; `psi` < 1 truncates
    toward the average w (in the first `cutoff` layers), `truncation` resamples z's entries."""
    y = self.labels_for(num, labels)
    return self.generate(ema, self.latents(seed, num, truncation), y, psi=psi,
                         cutoff=cutoff), y

  def grid(self, ema, *, seed: int, num: int):
    if not self.conditional:
      return self.sample(ema, seed=seed, num=num)[0], None
    per_class = max(1, num // self.num_classes)
    labels = np.repeat(np.arange(self.num_classes), per_class)
    return self.sample(ema, seed=seed, num=len(labels), labels=labels)[0], per_class

  def interpolation(self, ema, *, seed: int, rows: int, steps_per_row: int, labels=None):
    """(samples, columns): rows of linear interpolations in w between pairs of latents."""
    ends = self.latents(seed, 2 * rows)
    y = self.labels_for(2 * rows, labels)
    ws = self.styles(ema, ends, y)
    t = np.linspace(0.0, 1.0, steps_per_row, dtype=np.float32)[:, None, None]
    path = np.concatenate([ws[2 * r] + t * (ws[2 * r + 1] - ws[2 * r]) for r in range(rows)])
    return self.synthesize(ema, path), steps_per_row

  def truncation_strip(self, ema, *, seed: int, rows: int,
                       psis=(1.0, 0.75, 0.5, 0.25, 0.0), cutoff: int | None = None,
                       labels=None):
    """(images, columns): one row per latent of `seed`, its image at each truncation psi of
    `psis` (the last column, psi 0, is the average w's image)."""
    z = self.latents(seed, rows)
    y = self.labels_for(rows, labels)
    ws = np.stack([self.styles(ema, z, y, psi=psi, cutoff=cutoff) for psi in psis], axis=1)
    return self.synthesize(ema, ws.reshape(rows * len(psis), self.num_ws, -1)), len(psis)

  def style_mix(self, ema, *, seed: int, rows: int, columns: int, cutoff: int | None = None,
                labels=None, psi: float = 1.0):
    """The style-mixing grid, (images, columns + 1): the top row holds the column sources, the
    left column the row sources (the corner blank); image (r, c) takes the coarse styles (the
    w's of layers below `cutoff`, default half of them) from row r and the fine ones from
    column c."""
    cutoff = self.num_ws // 2 if cutoff is None else cutoff
    if not 0 < cutoff < self.num_ws:
      raise ValueError(f'the style-mixing cutoff must be in 1..{self.num_ws - 1} (this '
                       f'generator has {self.num_ws} w inputs), got {cutoff}')
    z = self.latents(seed, rows + columns)
    y = self.labels_for(rows + columns, labels)
    ws = self.styles(ema, z, y, psi=psi)
    row_ws, col_ws = ws[:rows], ws[rows:]
    sources = self.synthesize(ema, ws)
    mixed = np.concatenate([row_ws[:, None, :cutoff].repeat(columns, 1),
                            col_ws[None, :, cutoff:].repeat(rows, 0)], axis=2)
    mixed = self.synthesize(ema, mixed.reshape(rows * columns, self.num_ws, -1))
    blank = np.full_like(sources[:1], -1.0)
    cells = [blank, sources[rows:]]
    for r in range(rows):
      cells += [sources[r:r + 1], mixed[r * columns:(r + 1) * columns]]
    return np.concatenate(cells), columns + 1

  def picture(self, host_state, samples, path: str, *, title: str = '', columns=None):
    del host_state
    pictures.save_picture(self.config, self.spec, samples, path, title=title, columns=columns)


def check_psi(psi) -> float:
  """ψ as a float in [0, 1] (1: no truncation)."""
  try:
    value = float(psi)
  except (TypeError, ValueError):
    raise ValueError(f'truncation psi {psi!r}: give a number in [0, 1]') from None
  if not 0.0 <= value <= 1.0:
    raise ValueError(f'truncation psi {psi!r} is outside [0, 1]: psi = 1 samples without '
                     'truncation, 0 gives the average w\'s image; e.g. 0.7')
  return value


def settings_from_config(config, spec, generator) -> Settings:
  model, loss, train = config.model, config.loss, config.train
  from gan_jax.models import stylegan2 as stylegan2_models
  if config.loss.name != 'non_saturating':
    raise ValueError(f"family 'stylegan2' trains with the non-saturating logistic loss; set "
                     f"--config.loss.name=non_saturating (got {config.loss.name!r})")
  if train.d_steps != 1 or train.g_steps != 1:
    raise ValueError("family 'stylegan2' runs its phases once a step: set train.d_steps=1 and "
                     f'train.g_steps=1 (got {train.d_steps} and {train.g_steps})')
  if train.get('augment', ''):
    raise ValueError(f"train.augment={train.augment!r} (DiffAugment) is not used by family "
                     "'stylegan2', which augments with ADA: set --config.train.augment='' and "
                     'choose train.ada_pipeline')
  if spec.kind != 'image':
    raise ValueError(f"family 'stylegan2' generates images; data {config.data.name!r} is "
                     f'{spec.kind}')
  pipeline = train.get('ada_pipeline', 'bgc')
  if pipeline:
    ada.check_pipeline(pipeline)
  for field, value, low in (('loss.penalty_every', loss.penalty_every, 1),
                            ('loss.pl_every', loss.pl_every, 1),
                            ('loss.pl_batch_shrink', loss.pl_batch_shrink, 1),
                            ('train.ada_interval', train.ada_interval, 1)):
    if value < low:
      raise ValueError(f'{field} must be at least {low}, got {value}')
  for field, value in (('loss.style_mixing', loss.style_mixing),
                       ('train.ada_target', train.ada_target), ('train.ada_p', train.ada_p),
                       ('model.w_avg_beta', model.w_avg_beta),
                       ('loss.pl_decay', loss.pl_decay)):
    if not 0.0 <= value <= 1.0:
      raise ValueError(f'{field} must be in [0, 1], got {value}')
  if not train.ema_kimg > 0:
    raise ValueError(f'train.ema_kimg (the EMA half-life in thousands of images) must be '
                     f'positive, got {train.ema_kimg}')
  num_classes = spec.num_classes if model.conditional else 0
  return Settings(
      z_dim=model.z_dim, w_dim=model.w_dim,
      num_ws=stylegan2_models.num_ws(spec.shape[0]), num_classes=num_classes,
      batch_size=train.batch_size, r1_gamma=loss.r1_gamma, r1_every=loss.penalty_every,
      pl_weight=loss.pl_weight, pl_every=loss.pl_every, pl_decay=loss.pl_decay,
      pl_batch_shrink=loss.pl_batch_shrink, style_mixing=loss.style_mixing,
      w_avg_beta=model.w_avg_beta, ema_kimg=train.ema_kimg, ema_rampup=train.ema_rampup,
      ada_pipeline=pipeline, ada_target=train.ada_target, ada_interval=train.ada_interval,
      ada_kimg=train.ada_kimg)


def check_batch(config, num_devices: int) -> None:
  """The minibatch-stddev group must divide each device's batch (D sees a device's share)."""
  local = config.train.batch_size // num_devices
  group = min(config.model.mbstd_group, local)
  if local % group:
    raise ValueError(f'model.mbstd_group={config.model.mbstd_group} does not divide the batch '
                     f'each device sees ({config.train.batch_size} / {num_devices} devices = '
                     f'{local}); choose a group that divides it, e.g. '
                     f'{max(g for g in range(1, group + 1) if local % g == 0)}')


def build(config, spec, dtype) -> StyleGan2Family:
  from gan_jax import models
  if config.model.name != 'stylegan2':
    raise ValueError(f"family 'stylegan2' needs model.name='stylegan2' (got "
                     f'{config.model.name!r})')
  num_classes = 0
  if config.model.conditional:
    num_classes = spec.num_classes
    if num_classes < 2:
      raise ValueError(f'model.conditional: a conditional StyleGAN2 needs labelled data with at '
                       f'least 2 classes; data {config.data.name!r} has data.num_classes='
                       f'{num_classes}')
  generator, discriminator = models.build(config.model, spec.shape, dtype, num_classes)
  settings = settings_from_config(config, spec, generator)
  return StyleGan2Family(config, spec, generator, discriminator, settings)
