"""CycleGAN (Zhu et al. 2017): two generators that translate between domains A and B, learned
from two unpaired collections.

Players, as the official code's two optimizers: 'g' holds both generators (`ab`: A -> B, `ba`:
B -> A; the ResNet generator with instance norm by default, `models/translation.py`) and 'd'
both discriminators (`a` judges images of domain A, `b` of domain B; PatchGANs). One Adam
updates each player, over both of its networks.

Each step, as the official `optimize_parameters`: first the generators, against the current
discriminators, on

  GAN(D_b(ab(a)), real) + GAN(D_a(ba(b)), real)
  + lambda (|ba(ab(a)) - a| + |ab(ba(b)) - b|)                       (cycle, both directions)
  + identity_weight * lambda (|ab(b) - b| + |ba(a) - a|)              (identity)

with lambda = `loss.cycle_weight` (10) and `loss.identity_weight` 0.5; then the
discriminators, each on real images of its domain against generated ones drawn through its
image pool (`train.pool_size`, 50), its loss half the sum of the two terms. The GAN terms are
least squares by default (`loss.name='least_squares'`, the official LSGAN).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax import lax

from gan_jax import optim, steps
from gan_jax import state as state_lib
from gan_jax.families import translation as tr

# Step-key purposes of the generators' dropout, per pass.
_AB, _BA, _CYCLE_A, _CYCLE_B, _IDENTITY_B, _IDENTITY_A = 30, 31, 32, 33, 34, 35


class Generators(nn.Module):
  """The generator player: `ab` (A -> B) and `ba` (B -> A) under their own names."""
  ab: nn.Module
  ba: nn.Module

  def __call__(self, a, b, **kwargs):  # initialisation: both
    return self.ab(a, **kwargs), self.ba(b, **kwargs)

  def run_ab(self, x, **kwargs):
    return self.ab(x, **kwargs)

  def run_ba(self, x, **kwargs):
    return self.ba(x, **kwargs)


class Discriminators(nn.Module):
  """The discriminator player: `a` judges images of domain A, `b` of domain B."""
  a: nn.Module
  b: nn.Module

  def __call__(self, x_a, x_b, **kwargs):  # initialisation: both
    return self.a(x_a, **kwargs), self.b(x_b, **kwargs)

  def run_a(self, x, **kwargs):
    return self.a(x, **kwargs)

  def run_b(self, x, **kwargs):
    return self.b(x, **kwargs)


def generator_objective(ab, ba, judge_a, judge_b, a, b, settings: tr.Settings):
  """The generators' loss: (loss, scalars, fake_a, fake_b). `ab(x, purpose)` and
  `ba(x, purpose)` translate (the purpose keys each pass's randomness), `judge_a` and `judge_b`
  give the discriminators' logits."""
  kind, lam = settings.gan_loss, settings.cycle_weight
  fake_b, fake_a = ab(a, _AB), ba(b, _BA)
  cycle = tr.l1(ba(fake_b, _CYCLE_A), a) + tr.l1(ab(fake_a, _CYCLE_B), b)
  identity = jnp.zeros((), jnp.float32)
  if settings.identity_weight > 0:
    identity = tr.l1(ab(b, _IDENTITY_B), b) + tr.l1(ba(a, _IDENTITY_A), a)
  adversarial = tr.gan_term(judge_b(fake_b), 1.0, kind) + tr.gan_term(judge_a(fake_a), 1.0, kind)
  loss = adversarial + lam * cycle + settings.identity_weight * lam * identity
  scalars = {'g_gan_loss': adversarial, 'cycle_loss': cycle, 'identity_loss': identity}
  return loss, scalars, fake_a, fake_b


def train_step(state: state_lib.GANState, batches: dict, *, generators: Generators,
               discriminators: Discriminators, settings: tr.Settings, axis_name: str = 'batch'):
  """Per device: `batches` holds this device's (1, local_batch, ...) share of 'a' and 'b'."""
  a, b, key = tr.step_inputs(state, batches, settings, axis_name)
  g, d = state.players['g'], state.players['d']
  kind = settings.gan_loss
  ab, ba = Generators.run_ab, Generators.run_ba

  def judge(d_params, d_stats, method, x):
    logits, updates = discriminators.apply({'params': d_params, 'batch_stats': d_stats}, x,
                                           train=True, mutable=['batch_stats'], method=method)
    return logits, updates['batch_stats']

  # ---- The generators, against the current discriminators (their statistics untouched). ----
  def g_loss_fn(params):
    stats = g.batch_stats

    def gen(method):
      def run(x, purpose):
        nonlocal stats
        y, updates = generators.apply({'params': params, 'batch_stats': stats}, x, train=True,
                                      noise=True, mutable=['batch_stats'], method=method,
                                      rngs={'dropout': jax.random.fold_in(key, purpose)})
        stats = updates['batch_stats']
        return y
      return run
    loss, scalars, fake_a, fake_b = generator_objective(
        gen(ab), gen(ba), lambda x: judge(d.params, d.batch_stats, Discriminators.run_a, x)[0],
        lambda x: judge(d.params, d.batch_stats, Discriminators.run_b, x)[0], a, b, settings)
    return loss, (stats, scalars, lax.stop_gradient(fake_a), lax.stop_gradient(fake_b))
  (g_loss, (g_stats, g_scalars, fake_a, fake_b)), g_grads = jax.value_and_grad(
      g_loss_fn, has_aux=True)(g.params)
  g, g_grads = tr.apply_gradients(g, g_grads, g_stats, axis_name)

  # ---- The discriminators, on generated images drawn through their pools. ----
  pool_a, shown_a = tr.pool_query(state.extra['pool_a'], fake_a, jax.random.fold_in(
      key, tr.POOL_A), axis_name)
  pool_b, shown_b = tr.pool_query(state.extra['pool_b'], fake_b, jax.random.fold_in(
      key, tr.POOL_B), axis_name)

  def d_loss_fn(params):
    stats = d.batch_stats

    def one(method, real, fake):
      nonlocal stats
      real_logits, stats = judge(params, stats, method, real)
      fake_logits, stats = judge(params, stats, method, fake)
      return tr.d_loss(real_logits, fake_logits, kind)
    loss_a = one(Discriminators.run_a, a, shown_a)
    loss_b = one(Discriminators.run_b, b, shown_b)
    return loss_a + loss_b, (stats, {'d_a_loss': loss_a, 'd_b_loss': loss_b})
  d, d_loss, d_scalars, d_grads = steps.update(d, d_loss_fn, axis_name=axis_name)

  metrics = {'g_loss': g_loss, 'd_loss': d_loss, 'g_grad_norm': optax.global_norm(g_grads),
             'd_grad_norm': optax.global_norm(d_grads), **g_scalars, **d_scalars}
  new_state = state.replace(step=state.step + 1, players={'g': g, 'd': d},
                            ema={'g': tr.update_ema(state, g, settings.ema_decay)},
                            extra={'pool_a': pool_a, 'pool_b': pool_b})
  return new_state, lax.pmean(metrics, axis_name)


class CycleGanFamily(tr.TranslationFamily):
  """Players 'g' (generators `ab`, `ba`) and 'd' (discriminators `a`, `b`), an EMA of 'g', and
  the two image pools in `extra`."""

  player_names = ('g', 'd')
  directions = ('a2b', 'b2a')
  entries_per_example = 4  # a grid row shows a | ab(a) | b | ba(b)

  def __init__(self, config, spec, generator, discriminator, settings: tr.Settings):
    super().__init__(config, spec, settings)
    self.generators = Generators(ab=generator.clone(), ba=generator.clone())
    self.discriminators = Discriminators(a=discriminator.clone(), b=discriminator.clone())
    self.train_step = functools.partial(train_step, generators=self.generators,
                                        discriminators=self.discriminators, settings=settings)
    self.refresh = tr.refresh
    host = generator.clone(axis_name=None)
    self.host_generators = Generators(ab=host.clone(), ba=host.clone())

  def init(self, rng: jax.Array) -> state_lib.GANState:
    config = self.config
    g_key, d_key, train_key = jax.random.split(rng, 3)
    x = jnp.zeros((1, *self.spec.shape), jnp.float32)
    g_vars = self.generators.init({'params': g_key, 'dropout': g_key}, x, x, train=False,
                                  noise=False)
    d_vars = self.discriminators.init(d_key, x, x, train=False)
    total = config.train.steps
    g = state_lib.create_player(self.generators, g_vars, optim.make_optimizer(
        config.optim, 'g', params=g_vars['params'], total_steps=total))
    d = state_lib.create_player(self.discriminators, d_vars, optim.make_optimizer(
        config.optim, 'd', params=d_vars['params'], total_steps=total))
    size = self.settings.pool_size
    extra = {'pool_a': tr.pool_init(size, self.spec.shape),
             'pool_b': tr.pool_init(size, self.spec.shape)}
    return state_lib.GANState(step=jnp.zeros((), jnp.int32), players={'g': g, 'd': d},
                              ema={'g': state_lib.ema_from(g)}, rng=train_key, extra=extra)

  def _translate_fn(self, direction: str):
    method = Generators.run_ab if direction == 'a2b' else Generators.run_ba
    return tr.per_image(self.host_generators, method)

  def grid(self, ema, *, seed: int, num: int):
    """(images, columns): held-out A images and their translations to B, beside held-out B
    images and their translations to A; three examples a row."""
    examples = self.heldout(num)
    ab = self.translate(ema, examples['a'], direction='a2b', seed=seed)
    ba = self.translate(ema, examples['b'], direction='b2a', seed=seed)
    per_row = min(3, len(ab))
    return tr.interleave(examples['a'], ab, examples['b'], ba), 4 * per_row


def build(config, spec, dtype) -> CycleGanFamily:
  if spec.kind not in ('paired', 'unpaired'):
    raise ValueError(f"family 'cyclegan' translates between two image domains: data "
                     f"{config.data.name!r} is {spec.kind}. Use data.name 'unpaired' (trainA/ "
                     "trainB folders), 'cycle_gan/<name>' (TFDS) or 'printed2handwritten'.")
  return tr.build(CycleGanFamily, config, spec, dtype)
