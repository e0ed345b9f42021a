"""Per-player optimizers: learning-rate schedules, per-module multipliers, SGD's own momentum,
and each player's optimizer in the state."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_experiment
from gan_jax import configs, optim, parallel, train


def _optim(**fields):
  c = configs.base_config().optim
  c.update(fields)
  return c


def _rates(tx, params, counts):
  """The learning rate in effect at each update count, read off SGD's updates of grad 1."""
  state = tx.init(params)
  rates, count = [], 0
  for target in counts:
    while count < target:
      _, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
      count += 1
    updates, _ = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
    rates.append(-float(jax.tree.leaves(updates)[0].ravel()[0]))
  return rates


def test_linear_decay_is_constant_then_falls_to_zero_as_pix2pix():
  params = {'w': jnp.zeros(3)}
  c = _optim(name='sgd', g_lr=0.1, schedule='linear_decay', decay_start=10)
  tx = optim.make_optimizer(c, 'g', params=params, total_steps=20)
  # Pix2Pix: factor 1 - max(0, step + 1 - n) / (n_decay + 1), n = 10 constant, 10 decaying.
  expected = [0.1 * (1 - max(0, s + 1 - 10) / 11) for s in (0, 9, 10, 15, 19)]
  np.testing.assert_allclose(_rates(tx, params, [0, 9, 10, 15, 19]), expected, rtol=1e-5)
  # Two updates per step (d_steps = 2): the rate follows the step, not the update.
  tx = optim.make_optimizer(c, 'g', params=params, total_steps=20, updates_per_step=2)
  np.testing.assert_allclose(_rates(tx, params, [30, 31]), [expected[3]] * 2, rtol=1e-5)


def test_warmup_rises_linearly_then_stays():
  params = {'w': jnp.zeros(2)}
  c = _optim(name='sgd', d_lr=1.0, schedule='warmup', warmup_steps=4)
  tx = optim.make_optimizer(c, 'd', params=params, total_steps=100)
  np.testing.assert_allclose(_rates(tx, params, [0, 1, 3, 10]), [0.25, 0.5, 1.0, 1.0])


def test_sgd_takes_its_own_momentum_not_adams_beta1():
  params = {'w': jnp.zeros(1)}
  plain = optim.make_optimizer(_optim(name='sgd', g_lr=1.0, b1=0.9, momentum=0.0), 'g',
                               params=params, total_steps=10)
  heavy = optim.make_optimizer(_optim(name='sgd', g_lr=1.0, b1=0.0, momentum=0.5), 'g',
                               params=params, total_steps=10)
  assert _rates(plain, params, [0, 3]) == [1.0, 1.0]        # b1 is ignored
  assert _rates(heavy, params, [0, 1]) == [1.0, 1.5]        # 1 + 0.5 * 1


def test_lr_multipliers_scale_the_updates_of_the_modules_they_name():
  params = {'mapping': {'Dense_0': {'kernel': jnp.zeros(2)}}, 'synthesis': {'w': jnp.zeros(2)}}
  c = _optim(name='sgd', g_lr=1.0, lr_multipliers=('g/mapping=0.01', 'd/other=3'))
  tx = optim.make_optimizer(c, 'g', params=params, total_steps=10)
  updates, _ = tx.update(jax.tree.map(jnp.ones_like, params), tx.init(params), params)
  np.testing.assert_allclose(updates['mapping']['Dense_0']['kernel'], -0.01)
  np.testing.assert_allclose(updates['synthesis']['w'], -1.0)
  with pytest.raises(ValueError, match="names \\['nowhere'\\], which match no parameters"):
    optim.make_optimizer(_optim(lr_multipliers=('g/nowhere=2',)), 'g', params=params,
                         total_steps=10)
  with pytest.raises(ValueError, match="is not 'PLAYER/PATH=FACTOR'"):
    optim.parse_multipliers(('mapping',))
  with pytest.raises(ValueError, match='must be positive'):
    optim.parse_multipliers(('g/mapping=-1',))


def test_each_player_gets_its_own_rate_and_schedule_in_a_run():
  config = load_experiment('gan_ring')
  config.optim.update(name='sgd', g_lr=0.5, d_lr=0.25, schedule='linear_decay', decay_start=2)
  config.train.steps = 4
  _, family = train.build(config)
  _, init = train.abstract_state(family, parallel.make_mesh(jax.devices()[:1]))
  state = jax.device_get(init(jax.random.PRNGKey(0)))
  for name, lr in (('g', 0.5), ('d', 0.25)):
    player = state.players[name]
    updates, _ = player.tx.update(jax.tree.map(jnp.ones_like, player.params), player.opt_state,
                                  player.params)
    np.testing.assert_allclose(-jax.tree.leaves(updates)[0].ravel()[0], lr, rtol=1e-6)


@pytest.mark.parametrize('field,value,message', [
    ('optim.g_lr', -1e-4, r'optim.g_lr must be in \(0.0, inf\), got -0.0001'),
    ('optim.d_lr', 0.0, r'optim.d_lr must be in \(0.0'),
    ('optim.b1', 1.0, r'optim.b1 must be in \[0.0, 1.0\)'),
    ('optim.b2', -0.1, r'optim.b2 must be in \[0.0'),
    ('optim.eps', 0.0, r'optim.eps must be in \(0.0'),
    ('optim.momentum', 1.5, r'optim.momentum must be in \[0.0, 1.0\)'),
    ('optim.schedule', 'cosine', r"unknown optim.schedule 'cosine'"),
    ('loss.gp_weight', -1.0, r'loss.gp_weight must be in \[0.0'),
    ('loss.r1_gamma', -1.0, r'loss.r1_gamma must be in \[0.0'),
    ('loss.penalty_every', 0, r'loss.penalty_every must be in \[1'),
    ('loss.class_weight', -1.0, r'loss.class_weight must be in \[0.0'),
    ('model.z_dim', 0, r'model.z_dim must be in \[1'),
    ('train.ema_decay', 1.0, r'train.ema_decay must be in \[0.0, 1.0\)'),
    ('train.standing_batch_size', 12, r'standing_batch_size=12 is not divisible by the 8'),
    ('train.ema_stats', 'raw', r"unknown train.ema_stats 'raw'"),
    ('data.std', 0.0, r'data.std must be in \(0.0'),
    ('evals.num_samples', 1, r'evals.num_samples must be at least 2'),
    ('family', 'stylegan3', r"unknown family 'stylegan3'; choose one of \['agecgan', "
                            r"'conditional', 'cyclegan', 'gan', 'pix2pix', 'stackgan', "
                            r"'stylegan2'\]"),
    ('loss.cycle_weight', -1.0, r'loss.cycle_weight must be in \[0.0'),
    ('train.pool_size', -1, r'train.pool_size must be in \[0'),
])
def test_out_of_range_values_fail_at_start_up(field, value, message):
  config = load_experiment('gan_ring')
  config.evals.metrics = ('modes',)
  section, _, key = field.rpartition('.')
  (config[section] if section else config)[key] = value
  with pytest.raises(ValueError, match=message):
    configs.validate(config, 8)


def test_linear_decay_must_start_before_the_end():
  config = load_experiment('gan_ring')
  config.optim.update(schedule='linear_decay', decay_start=config.train.steps)
  with pytest.raises(ValueError, match='decay_start=4 must be below train.steps=4'):
    configs.validate(config, 8)


def test_a_conditional_family_needs_labelled_data():
  config = load_experiment('cdcgan_digits')
  config.data.num_classes = 0
  with pytest.raises(ValueError, match="family 'conditional' needs labelled data"):
    configs.validate(config, 8)
  config = load_experiment('gan_ring')
  config.family = 'conditional'
  config.data.num_classes = 8
  config.model.conditioning = 'projection'
  with pytest.raises(ValueError, match="conditioning='concat' only"):
    configs.validate(config, 8)
