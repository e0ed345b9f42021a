"""Age-cGAN (Antipov et al. 2017): change one attribute of a real image and keep who it is.

Three parts, as in the paper:
1. a conditional GAN over the attribute's classes (age groups; for the bundled digits, the
   digit), the label joined to z and to D's input (`model.conditioning='concat'`, the
   conditional family's game, `families/gan.py`);
2. an encoder E (`models/dcgan.py` `Encoder`) trained on the generator's own samples to recover
   their latents: z ~ N(0, I), y uniform, loss mean ||E(G(z, y)) - z||^2, with G fixed;
3. latent optimisation for identity and regeneration with another class
   (`gan_jax/reattribute.py`).

The run trains the GAN for `train.steps - train.encoder_steps` steps, then E alone for the
last `train.encoder_steps`, against the trained generator in inference mode (the paper trains
E once the GAN is trained). Which part a step trains is chosen on the host (`step_phases`), one
compiled program each. E inverts the generator itself, so the EMA is off
(`train.ema_decay=0`; the paper has none) and sampling, evaluation and re-attribution all use
the one generator E was trained on.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax
from jax import lax

from gan_jax import optim, steps
from gan_jax import state as state_lib
from gan_jax.families import conditional, gan

PHASES = ('gan', 'encoder')
_E_LATENTS, _E_LABELS = 0, 1


def encoder_step(state: state_lib.GANState, local_batch: int, *, generator, encoder,
                 game: gan.Game, axis_name: str):
  """One update of E on fresh samples of the fixed generator. Returns (state, metrics)."""
  key = jax.random.fold_in(jax.random.fold_in(state.rng, state.step), 0xE)
  z = steps.example_normals(jax.random.fold_in(key, _E_LATENTS), local_batch, (game.z_dim,),
                            axis_name)
  labels = steps.example_labels(jax.random.fold_in(key, _E_LABELS), local_batch,
                                game.num_classes, axis_name)
  g = state.players['g']
  images = lax.stop_gradient(generator.apply(
      {'params': g.params, 'batch_stats': g.batch_stats}, z, labels, train=False))
  e = state.players['e']

  def loss_fn(params):
    out, updates = encoder.apply({'params': params, 'batch_stats': e.batch_stats}, images,
                                 train=True, mutable=['batch_stats'])
    loss = jnp.mean(jnp.sum(jnp.square(out - z), axis=-1))
    return loss, (updates['batch_stats'], {'e_latent_mse': jnp.mean(jnp.square(out - z))})
  e, loss, scalars, grads = steps.update(e, loss_fn, axis_name=axis_name)
  metrics = {'e_loss': loss, 'e_grad_norm': optax.global_norm(grads), **scalars}
  return (state.replace(step=state.step + 1, players={**state.players, 'e': e}),
          lax.pmean(metrics, axis_name))


def train_step(state: state_lib.GANState, batches: dict, *, generator, discriminator, encoder,
               game: gan.Game, phases: str, axis_name: str = 'batch'):
  """`phases`: 'gan' (the conditional game's step) or 'encoder' (E's)."""
  if phases == 'encoder':
    local_batch = batches['image'].shape[1]
    return encoder_step(state, local_batch, generator=generator, encoder=encoder, game=game,
                        axis_name=axis_name)
  e = state.players['e']
  pair = state.replace(players={'g': state.players['g'], 'd': state.players['d']})
  pair, metrics = gan.train_step(pair, batches, generator=generator,
                                 discriminator=discriminator, game=game, axis_name=axis_name)
  return pair.replace(players={**pair.players, 'e': e}), metrics


def step_phases(step: int, *, gan_steps: int) -> str:
  return 'gan' if step < gan_steps else 'encoder'


class AgeCganFamily(conditional.ConditionalFamily):
  """Players 'g', 'd' and the encoder 'e'; an EMA of 'g' equal to it (decay 0)."""

  player_names = ('g', 'd', 'e')
  ema_statistics = "the generator's running statistics (no EMA)"  # what evaluations report

  def __init__(self, config, spec, generator, discriminator, encoder, game):
    super().__init__(config, spec, generator, discriminator, game)
    self.encoder = encoder
    self.train_step = functools.partial(train_step, generator=generator,
                                        discriminator=discriminator, encoder=encoder, game=game)
    self.gan_steps = config.train.steps - config.train.encoder_steps
    self.step_phases = functools.partial(step_phases, gan_steps=self.gan_steps)
    self._encode = jax.jit(lambda e, x: encoder.apply(e, x, train=False))

  def init(self, rng: jax.Array) -> state_lib.GANState:
    state = super().init(rng)
    variables = self.encoder.init(jax.random.fold_in(rng, 0xE),
                                  jnp.zeros((1, *self.spec.shape), jnp.float32), train=False)
    e = state_lib.create_player(self.encoder, variables, optim.make_optimizer(
        self.config.optim, 'e', params=variables['params'], total_steps=self.config.train.steps))
    return state.replace(players={**state.players, 'e': e})

  def encode(self, e_player, images) -> jax.Array:
    """Latents of images (n, H, W, C) in [-1, 1] by the encoder in inference mode."""
    return self._encode({'params': e_player.params, 'batch_stats': e_player.batch_stats},
                        jnp.asarray(images, jnp.float32))

  def generate_from(self, g_variables, z, labels):
    """The generator in inference mode on latents z and classes `labels` (differentiable)."""
    return self.generator.apply(g_variables, z, labels, train=False)


def build(config, spec, dtype) -> AgeCganFamily:
  from gan_jax.models import dcgan
  family = conditional.build(config, spec, dtype)
  if config.model.name != 'dcgan' or config.model.get('conditioning') != 'concat':
    raise ValueError("family 'agecgan' is a conditional GAN with the label joined to z and to "
                     "D's input, as the paper: set model.name='dcgan' and "
                     "model.conditioning='concat'")
  if config.train.ema_decay != 0:
    raise ValueError("family 'agecgan' trains its encoder to invert the generator itself: set "
                     'train.ema_decay=0 (the paper has no EMA)')
  encoder_steps = config.train.get('encoder_steps', 0)
  if not 0 < encoder_steps < config.train.steps:
    raise ValueError(f'train.encoder_steps={encoder_steps}: the encoder trains for the last '
                     f'train.encoder_steps of train.steps={config.train.steps}; give a number '
                     'between 1 and train.steps - 1')
  encoder = dcgan.Encoder(z_dim=config.model.z_dim, width=config.model.get('e_width', 64),
                          dtype=dtype)
  return AgeCganFamily(config, spec, family.generator, family.discriminator, encoder,
                       family.game)
