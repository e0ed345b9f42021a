"""The start-up checks on a config: names, ranges and shapes that cannot work fail here, before
any data is read or anything compiled, saying what was wrong and what to do."""

from __future__ import annotations

import ml_collections

from gan_jax import data as data_lib
from gan_jax import families, losses, optim, parallel
from gan_jax.evaluators import evaluator

DTYPES = ('float32', 'bfloat16')
UPDATES = ('alternating', 'simultaneous')
PACK_NORMS = ('batch', 'slot')
EMA_STATS = ('standing', 'generator')

# (section, field, low, high, low inclusive, high inclusive): the valid range of a number.
_RANGES = (
    ('optim', 'g_lr', 0.0, None, False, True), ('optim', 'd_lr', 0.0, None, False, True),
    ('optim', 'b1', 0.0, 1.0, True, False), ('optim', 'b2', 0.0, 1.0, True, False),
    ('optim', 'eps', 0.0, None, False, True), ('optim', 'momentum', 0.0, 1.0, True, False),
    ('optim', 'decay_start', 0, None, True, True), ('optim', 'warmup_steps', 0, None, True, True),
    ('optim', 'decay_every', 0, None, True, True), ('optim', 'decay_factor', 0.0, 1.0, False, True),
    ('loss', 'kl_weight', 0.0, None, True, True), ('model', 'condition_dim', 1, None, True, True),
    ('model', 'residual_blocks', 0, None, True, True),
    ('train', 'encoder_steps', 0, None, True, True),
    ('loss', 'gp_weight', 0.0, None, True, True), ('loss', 'r1_gamma', 0.0, None, True, True),
    ('loss', 'r2_gamma', 0.0, None, True, True), ('loss', 'dragan_weight', 0.0, None, True, True),
    ('loss', 'penalty_every', 1, None, True, True), ('loss', 'clip', 0.0, None, True, True),
    ('loss', 'class_weight', 0.0, None, True, True),
    ('loss', 'ortho_weight', 0.0, None, True, True),
    ('loss', 'l1_weight', 0.0, None, True, True), ('loss', 'cycle_weight', 0.0, None, True, True),
    ('loss', 'identity_weight', 0.0, None, True, True),
    ('train', 'pool_size', 0, None, True, True),
    ('model', 'z_dim', 1, None, True, True), ('model', 'pack', 1, None, True, True),
    ('train', 'ema_decay', 0.0, 1.0, True, False),
    ('train', 'standing_batches', 1, None, True, True),
    ('train', 'standing_batch_size', 1, None, True, True),
    ('train', 'num_samples', 1, None, True, True),
    ('data', 'workers', 0, None, True, True), ('data', 'prefetch', 1, None, True, True),
    ('data', 'num_classes', 0, None, True, True), ('data', 'num_train', 1, None, True, True),
    ('data', 'image_size', 1, None, True, True), ('data', 'std', 0.0, None, False, True),
    ('data', 'load_size', 0, None, True, True),
)
_AT_LEAST_ONE = ('steps', 'batch_size', 'd_steps', 'g_steps', 'log_every', 'sample_every',
                 'checkpoint_every', 'keep_checkpoints')


def _choose(kind, name, valid):
  if name not in valid:
    raise ValueError(f'unknown {kind} {name!r}; choose one of {sorted(valid)}')


def _check_range(section, field, value, low, high, low_inclusive, high_inclusive):
  ok = ((low is None or (value >= low if low_inclusive else value > low))
        and (high is None or (value <= high if high_inclusive else value < high)))
  if not ok:
    lo = '' if low is None else f'{"[" if low_inclusive else "("}{low}'
    hi = 'inf)' if high is None else f'{high}{"]" if high_inclusive else ")"}'
    raise ValueError(f'{section}.{field} must be in {lo}, {hi}, got {value}')


def check_ranges(config: ml_collections.ConfigDict) -> None:
  """Every numeric field with a valid range, where the config has it."""
  for section, field, *bounds in _RANGES:
    if section in config and field in config[section]:
      value = config[section][field]
      if value is not None:
        _check_range(section, field, value, *bounds)
  for key in _AT_LEAST_ONE:
    if config.train[key] < 1:
      raise ValueError(f'train.{key} must be at least 1, got {config.train[key]}')
  if config.optim.get('schedule') == 'linear_decay' and not (
      0 <= config.optim.decay_start < config.train.steps):
    raise ValueError(f'optim.decay_start={config.optim.decay_start} must be below '
                     f'train.steps={config.train.steps} for the linear decay to happen')
  if config.optim.get('schedule') == 'step_decay' and config.optim.get('decay_every', 0) < 1:
    raise ValueError('optim.schedule=step_decay needs optim.decay_every, the steps between '
                     f"decays, of at least 1 (got {config.optim.get('decay_every', 0)})")


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Fails fast, before data or compilation, on names and numbers that cannot work."""
  data_lib.check(config.data)
  _choose('family', config.get('family', 'gan'), families.FAMILIES)
  _choose('loss.name', config.loss.name, losses.OBJECTIVES)
  _choose('optim.name', config.optim.name, optim.OPTIMIZERS)
  _choose('optim.schedule', config.optim.get('schedule', 'constant'), optim.SCHEDULES)
  optim.parse_multipliers(config.optim.get('lr_multipliers', ()))
  _choose('train.dtype', config.train.dtype, DTYPES)
  _choose('train.cpu_convolutions', config.train.cpu_convolutions, parallel.CPU_CONVOLUTIONS)
  _choose('train.updates', config.train.updates, UPDATES)
  _choose('train.ema_stats', config.train.get('ema_stats', 'standing'), EMA_STATS)
  _choose('model.pack_norm', config.model.get('pack_norm', 'batch'), PACK_NORMS)
  check_ranges(config)
  n, b = num_devices, config.train.batch_size
  if b % n:
    raise ValueError(f'train.batch_size={b} is not divisible by the {n} devices; choose a '
                     f'multiple of {n}, e.g. {max(n, b // n * n)} or {(b // n + 1) * n}.')
  standing = config.train.get('standing_batch_size', n)
  if standing % n:
    raise ValueError(f'train.standing_batch_size={standing} is not divisible by the {n} '
                     f'devices; choose a multiple of {n}, e.g. {(standing // n + 1) * n}.')
  pack = config.model.get('pack', 1)
  if pack > 1 and (b // n) % pack:
    raise ValueError(f'model.pack={pack} needs each device\'s share of the batch '
                     f'({b} / {n} devices) to be a multiple of {pack}; choose '
                     'train.batch_size accordingly.')
  objective = losses.get(config.loss.name)
  penalised = [name for name, on in (
      (f'loss.name={config.loss.name!r}', objective.gradient_penalty),
      (f'loss.r1_gamma={config.loss.r1_gamma}', config.loss.r1_gamma > 0),
      (f'loss.r2_gamma={config.loss.get("r2_gamma", 0.0)}', config.loss.get('r2_gamma', 0) > 0),
      (f'loss.dragan_weight={config.loss.get("dragan_weight", 0.0)}',
       config.loss.get('dragan_weight', 0) > 0)) if on]
  if penalised and config.model.get('d_norm', 'none') == 'batch':
    raise ValueError(
        f"{', '.join(penalised)} penalises each example's input gradient, which batch norm in "
        "D mixes across the batch; set --config.model.d_norm=layer (or none), as the WGAN-GP "
        'paper does.')
  spec = data_lib.spec(config.data)
  # Building the family checks its models' shapes and fields (e.g. DCGAN image sizes).
  family = families.build(config, spec, 'float32')
  check_devices = getattr(family, 'check_devices', None)  # a family's own batch constraints
  if check_devices is not None:
    check_devices(n)
  check_start = getattr(family, 'check_start', None)  # inputs a family reads at start-up
  if check_start is not None:
    check_start()
  evaluator.check(config, conditional=family.conditional)
