"""Pix2Pix (Isola et al. 2017): a conditional GAN that translates an image of domain A into one
of domain B, trained on pairs.

Players: 'g', the generator G(a) (the U-Net by default, `models/translation.py`; dropout is its
noise, in training and at test time as the paper has it), and 'd', a PatchGAN that judges the
pair: D(concat(a, b)) real against D(concat(a, G(a))) fake, one logit per 70x70 patch.

Each step, as the official code's `optimize_parameters`: G runs once on the batch; D is updated
on the real and the generated pair (the generated one first, as the official code passes them;
batch-norm statistics updated by both), its loss half the sum of its two terms; then G is
updated against the updated D: the adversarial term plus `loss.l1_weight` (lambda_L1 = 100)
times the L1 distance to the target. G's forward pass is shared by both updates, so G runs once
a step and its batch-norm statistics are updated once.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax
from jax import lax

from gan_jax import optim, steps
from gan_jax import state as state_lib
from gan_jax.families import translation as tr


def train_step(state: state_lib.GANState, batches: dict, *, generator, discriminator,
               settings: tr.Settings, axis_name: str = 'batch'):
  """Per device: `batches` holds this device's (1, local_batch, ...) share of 'a' and 'b'."""
  a, b, key = tr.step_inputs(state, batches, settings, axis_name)
  g, d = state.players['g'], state.players['d']
  kind = settings.gan_loss

  def generate(params):
    fake, updates = generator.apply({'params': params, 'batch_stats': g.batch_stats}, a,
                                    train=True, noise=True, mutable=['batch_stats'],
                                    rngs={'dropout': jax.random.fold_in(key, tr.G_DROPOUT)})
    return fake, updates['batch_stats']
  fake, g_vjp, g_stats = jax.vjp(generate, g.params, has_aux=True)

  # D: the generated pair, then the real pair; statistics updated by both.
  def d_loss_fn(params):
    def run(x, stats):
      return discriminator.apply({'params': params, 'batch_stats': stats}, x, train=True,
                                 mutable=['batch_stats'])
    fake_logits, updates = run(jnp.concatenate([a, lax.stop_gradient(fake)], -1), d.batch_stats)
    real_logits, updates = run(jnp.concatenate([a, b], -1), updates['batch_stats'])
    loss = tr.d_loss(real_logits, fake_logits, kind)
    return loss, (updates['batch_stats'], {'d_real_logit': jnp.mean(real_logits),
                                            'd_fake_logit': jnp.mean(fake_logits)})
  d, d_loss, d_scalars, d_grads = steps.update(d, d_loss_fn, axis_name=axis_name)

  # G against the updated D (its statistics left as they are), through the shared forward pass.
  def g_loss_fn(fake):
    logits, _ = discriminator.apply({'params': d.params, 'batch_stats': d.batch_stats},
                                    jnp.concatenate([a, fake], -1), train=True,
                                    mutable=['batch_stats'])
    adversarial = tr.gan_term(logits, 1.0, kind)
    distance = tr.l1(fake, b)
    return adversarial + settings.l1_weight * distance, {'g_gan_loss': adversarial,
                                                         'g_l1_loss': distance}
  (g_loss, g_scalars), fake_grad = jax.value_and_grad(g_loss_fn, has_aux=True)(fake)
  g, g_grads = tr.apply_gradients(g, g_vjp(fake_grad)[0], g_stats, axis_name)

  metrics = {'d_loss': d_loss, 'g_loss': g_loss, 'd_grad_norm': optax.global_norm(d_grads),
             'g_grad_norm': optax.global_norm(g_grads), **d_scalars, **g_scalars}
  new_state = state.replace(step=state.step + 1, players={'g': g, 'd': d},
                            ema={'g': tr.update_ema(state, g, settings.ema_decay)})
  return new_state, lax.pmean(metrics, axis_name)


class Pix2PixFamily(tr.TranslationFamily):
  """Players 'g' and 'd', an EMA of 'g' (a copy of it with the official settings)."""

  player_names = ('g', 'd')
  entries_per_example = 3

  def __init__(self, config, spec, generator, discriminator, settings: tr.Settings):
    super().__init__(config, spec, settings)
    self.generator = generator
    self.discriminator = discriminator
    self.train_step = functools.partial(train_step, generator=generator,
                                        discriminator=discriminator, settings=settings)
    self.refresh = tr.refresh
    self.host_generator = generator.clone(axis_name=None)

  def init(self, rng: jax.Array) -> state_lib.GANState:
    config = self.config
    g_key, d_key, train_key = jax.random.split(rng, 3)
    x = jnp.zeros((1, *self.spec.shape), jnp.float32)
    g_vars = self.generator.init({'params': g_key, 'dropout': g_key}, x, train=False,
                                 noise=False)
    d_vars = self.discriminator.init(d_key, jnp.concatenate([x, x], -1), train=False)
    total = config.train.steps
    g = state_lib.create_player(self.generator, g_vars, optim.make_optimizer(
        config.optim, 'g', params=g_vars['params'], total_steps=total))
    d = state_lib.create_player(self.discriminator, d_vars, optim.make_optimizer(
        config.optim, 'd', params=d_vars['params'], total_steps=total))
    return state_lib.GANState(step=jnp.zeros((), jnp.int32), players={'g': g, 'd': d},
                              ema={'g': state_lib.ema_from(g)}, rng=train_key, extra={})

  def _translate_fn(self, direction: str):
    return tr.per_image(self.host_generator)

  def grid(self, ema, *, seed: int, num: int):
    """(images, columns): held-out sources, their translations and targets side by side, four
    examples a row."""
    examples = self.heldout(num)
    fake = self.translate(ema, examples['a'], seed=seed)
    per_row = min(4, len(fake))
    return tr.interleave(examples['a'], fake, examples['b']), 3 * per_row


def build(config, spec, dtype) -> Pix2PixFamily:
  if spec.kind != 'paired':
    raise ValueError(f"family 'pix2pix' trains on pairs: data {config.data.name!r} is "
                     f"{spec.kind}. Use paired data (data.name 'aligned', 'paired', "
                     "'edges2digits'), or family 'cyclegan' for unpaired data.")
  return tr.build(Pix2PixFamily, config, spec, dtype)
