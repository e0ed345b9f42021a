"""The gan_jax update steps written in plain PyTorch, for benchmarks/step.py.

`make_step(config, spec)` gives the peer of the config's family (`FAMILIES`). Each has `g` and
`d` (modules holding all of the generator's and the discriminator's parameters), `inputs(batch)`
(a host batch as step.py makes it -> tensors) and `step(inputs)` -> (d_loss, g_loss).

- **'gan'** (`TorchStep`): same architectures as gan_jax/models (dcgan.py, mlp.py), same
  objectives (losses.py, with the WGAN-GP and R1 penalties of penalties.py), same optimizers
  (optim.py) and the same step as the train_step of families/gan.py: `d_steps` discriminator
  updates, each on its own real batch and fresh latents, then `g_steps` generator updates, each
  on fresh latents, then the warmed-up EMA of G's parameters. `model.pack` = k makes D judge
  packs of k consecutive examples (models.Packed).
- **'pix2pix'** (`Pix2PixStep`) and **'cyclegan'** (`CycleGanStep`): the official networks of
  pytorch-CycleGAN-and-pix2pix (`models/networks.py`) as models/translation.py builds them from
  `config.model` (the U-Net with skips, batch norm and dropout; the ResNet generator with
  reflection padding and instance norm; the PatchGAN of `d_layers` layers or the 1x1 PixelGAN;
  weights N(0, 0.02)), parameter for parameter, and the steps of families/pix2pix.py and
  families/cyclegan.py, which are the official `optimize_parameters`: the vanilla (BCE) or
  least-squares GAN term per patch, D's loss halved, Pix2Pix's L1 term, CycleGAN's cycle and
  identity terms and image pools, one Adam per player (CycleGAN: over both of its networks), the
  optimizer's learning-rate schedule as a LambdaLR, and the on-device jitter (random crop from
  `data.load_size`, flips) done on the tensors. `g` of a CycleGAN peer holds both generators and
  `d` both discriminators, as gan_jax's players do.

Image models and their inputs are channels-last. Written as a PyTorch user would write it, not
as a transliteration of the JAX code; the point is to time the same amount of work. Where the
translation peers' work differs from gan_jax's step, it is by what is natural on each side: with
`train.ema_decay` 0 (the translation experiments) the peer keeps no EMA, while gan_jax's step
still writes its EMA copy of G (decay 0: G's own parameters) every step; Pix2Pix's G update runs
D in training mode, which in PyTorch also moves D's batch-norm running averages (the official
code's behaviour; gan_jax discards that update); the image pool is the official Python list,
drawn with torch's generator rather than from per-example keys; the jitter crops each example
by slicing on the host thread.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn
import torch.nn.functional as F


def _norm(kind, channels, image):
  if kind == 'batch':  # flax momentum 0.9 is PyTorch momentum 0.1
    return (nn.BatchNorm2d if image else nn.BatchNorm1d)(channels, eps=1e-5, momentum=0.1)
  if kind == 'layer':
    # gan_jax's layer norm: over C, H and W, scale and offset per channel (epsilon 1e-6).
    return nn.GroupNorm(1, channels, eps=1e-6) if image else nn.LayerNorm(channels, eps=1e-6)
  if kind == 'none':
    return nn.Identity()
  raise ValueError(f"torch peer: unsupported normalisation {kind!r}; "
                   "it has 'batch', 'layer' and 'none'")


class _ToImage(nn.Module):
  """(N, C*4*4) -> (N, C, 4, 4), channels-last."""

  def __init__(self, channels):
    super().__init__()
    self.channels = channels

  def forward(self, x):
    x = x.view(x.shape[0], self.channels, 4, 4)
    return x.contiguous(memory_format=torch.channels_last)


class _Maxout(nn.Module):
  def __init__(self, c_in, features, pieces):
    super().__init__()
    self.features, self.pieces = features, pieces
    self.linear = nn.Linear(c_in, features * pieces)

  def forward(self, x):
    return self.linear(x).view(x.shape[0], self.features, self.pieces).amax(-1)


class _Packed(nn.Module):
  """models.Packed: k consecutive examples joined along the feature (channel) axis, slot-major,
  one logit per pack."""

  def __init__(self, d, pack):
    super().__init__()
    self.d, self.pack = d, pack

  def forward(self, x):
    n = x.shape[0]
    if n % self.pack:
      raise ValueError(f'torch peer: {n} examples cannot be split into packs of {self.pack}')
    x = x.reshape(n // self.pack, self.pack * x.shape[1], *x.shape[2:])
    if x.ndim == 4:
      x = x.contiguous(memory_format=torch.channels_last)
    return self.d(x)


def _dcgan_init(module):
  """DCGAN initialisation, as gan_jax: weights N(0, 0.02), norm scales N(1, 0.02), biases 0."""
  if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
    nn.init.normal_(module.weight, 0.0, 0.02)
    if module.bias is not None:
      nn.init.zeros_(module.bias)
  elif isinstance(module, nn.BatchNorm2d):
    nn.init.normal_(module.weight, 1.0, 0.02)
    nn.init.zeros_(module.bias)


def dcgan(model, shape):
  """models/dcgan.py: G = dense to 4x4, up-convolutions, tanh; D = the mirror image."""
  size, _, channels = shape
  n = int(math.log2(size // 4))
  top = model.g_width * 2 ** (n - 1)
  g_bias = model.g_norm == 'none'
  g = [nn.Linear(model.z_dim, 4 * 4 * top, bias=g_bias), _ToImage(top),
       _norm(model.g_norm, top, True), nn.ReLU()]
  c = top
  for i in range(1, n):
    c_out = model.g_width * 2 ** (n - 1 - i)
    g += [nn.ConvTranspose2d(c, c_out, 4, 2, 1, bias=g_bias), _norm(model.g_norm, c_out, True),
          nn.ReLU()]
    c = c_out
  g += [nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=True), nn.Tanh()]
  d, c = [], channels * model.get('pack', 1)
  for i in range(n):
    c_out = model.d_width * 2 ** i
    d.append(nn.Conv2d(c, c_out, 4, 2, 1, bias=i == 0 or model.d_norm == 'none'))
    if i > 0:  # no normalisation on the input layer
      d.append(_norm(model.d_norm, c_out, True))
    d.append(nn.LeakyReLU(0.2))
    c = c_out
  d += [nn.Flatten(), nn.Linear(4 * 4 * c, 1), nn.Flatten(0)]
  g, d = nn.Sequential(*g), nn.Sequential(*d)
  g.apply(_dcgan_init)
  d.apply(_dcgan_init)
  return g, d


def mlp(model, shape):
  """models/mlp.py: ReLU G (no bias before batch norm); ReLU, LeakyReLU, tanh or maxout D.

  PyTorch's default initialisation (gan_jax's model.weight_init='torch'); for timing the
  initialisation does not matter.
  """
  size = math.prod(shape)
  g, c = [], model.z_dim
  for width in model.g_hidden:
    g += [nn.Linear(c, width, bias=model.g_norm != 'batch'), _norm(model.g_norm, width, False),
          nn.ReLU()]
    c = width
  g.append(nn.Linear(c, size))
  if model.g_output == 'tanh':
    g.append(nn.Tanh())
  elif model.g_output != 'none':
    raise ValueError(f'torch peer: unknown model.g_output {model.g_output!r}')
  activations = {'relu': nn.ReLU, 'leaky_relu': lambda: nn.LeakyReLU(0.2), 'tanh': nn.Tanh}
  d, c = [nn.Flatten()], size * model.get('pack', 1)
  for width in model.d_hidden:
    if model.d_activation == 'maxout':
      d.append(_Maxout(c, width, model.maxout_pieces))
    elif model.d_activation in activations:
      d += [nn.Linear(c, width), activations[model.d_activation]()]
    else:
      raise ValueError(f'torch peer: unknown model.d_activation {model.d_activation!r}')
    c = width
  d += [nn.Linear(c, 1), nn.Flatten(0)]
  return nn.Sequential(*g), nn.Sequential(*d)


_sp = F.softplus
_saturating_d = lambda r, f: _sp(-r).mean() + _sp(f).mean()
OBJECTIVES = {  # name -> (d_loss(real_logits, fake_logits), g_loss(fake_logits)); losses.py
    'minimax': (_saturating_d, lambda f: -_sp(f).mean()),
    'non_saturating': (_saturating_d, lambda f: _sp(-f).mean()),
    'least_squares': (lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean(),
                      lambda f: 0.5 * ((f - 1) ** 2).mean()),
    'wasserstein': (lambda r, f: f.mean() - r.mean(), lambda f: -f.mean()),
    'wasserstein_gp': (lambda r, f: f.mean() - r.mean(), lambda f: -f.mean()),
    'hinge': (lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean(), lambda f: -f.mean()),
}


def _optimizer(params, c, lr):
  """state.py's optax optimizers."""
  if c.name == 'adam':
    return torch.optim.Adam(params, lr, betas=(c.b1, c.b2), eps=c.eps)
  if c.name == 'rmsprop':  # optax.rmsprop's decay is 0.9
    return torch.optim.RMSprop(params, lr, alpha=0.9, eps=c.eps)
  if c.name == 'sgd':
    return torch.optim.SGD(params, lr, momentum=c.b1 or 0.0)
  raise ValueError(f'torch peer: unknown optim.name {c.name!r}')


def _input_grad_sq_norms(d, x):
  x = x.detach().requires_grad_(True)
  (grad,) = torch.autograd.grad(d(x).float().sum(), x, create_graph=True)
  return grad.flatten(1).pow(2).sum(1)


class TorchStep:
  """Models, optimizers and EMA; `step(reals)` is one gan_jax train_step of the unconditional
  game. `key` is the batch entry holding the examples ('image' or 'points')."""

  def __init__(self, config, shape, key='image'):
    if config.loss.name not in OBJECTIVES:
      raise ValueError(f'torch peer: unknown loss.name {config.loss.name!r}')
    if config.train.updates != 'alternating':
      raise ValueError(f'torch peer: train.updates={config.train.updates!r} is not written '
                       "here; time the default, 'alternating'")
    if config.model.get('pack_norm', 'batch') != 'batch':
      raise ValueError(f'torch peer: model.pack_norm={config.model.pack_norm!r} is not written '
                       "here; time the default, 'batch'")
    build = {'dcgan': dcgan, 'mlp': mlp}.get(config.model.name)
    if build is None:
      raise ValueError(f'torch peer: unknown model.name {config.model.name!r}')
    self.g, self.d = build(config.model, shape)
    self.g_steps = config.train.g_steps
    self.image = config.model.name == 'dcgan'  # convolutional: channels-last throughout
    self.memory_format = torch.channels_last if self.image else torch.contiguous_format
    self.g.to(memory_format=self.memory_format).train()
    self.d.to(memory_format=self.memory_format).train()
    if config.model.get('pack', 1) > 1:  # after .to(): the wrapper holds no weights of its own
      self.d = _Packed(self.d, config.model.pack)
    self.d_loss, self.g_loss = OBJECTIVES[config.loss.name]
    self.gp_weight = config.loss.gp_weight if config.loss.name == 'wasserstein_gp' else 0.0
    self.r1_gamma = config.loss.r1_gamma
    self.clip = config.loss.clip if config.loss.name == 'wasserstein' else 0.0
    self.g_opt = _optimizer(self.g.parameters(), config.optim, config.optim.g_lr)
    self.d_opt = _optimizer(self.d.parameters(), config.optim, config.optim.d_lr)
    self.g_params = list(self.g.parameters())
    self.ema_decay = config.train.ema_decay
    self.ema = [p.detach().clone() for p in self.g_params]
    self.z_dim = config.model.z_dim
    self.bf16 = config.train.dtype == 'bfloat16'
    self.key = key
    self.t = 0

  def autocast(self):
    if self.bf16:
      return torch.autocast('cpu', dtype=torch.bfloat16)
    return contextlib.nullcontext()

  def to_input(self, real):
    """A float32 numpy batch (N, *data shape), NHWC for images -> what D takes."""
    x = torch.from_numpy(real)
    if not self.image:
      return x.reshape(x.shape[0], -1).contiguous()  # the MLPs work on flat vectors
    # NHWC -> NCHW logical order, channels-last (NHWC) in memory.
    return x.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)

  def inputs(self, batch):
    """step.py's host batch {key: (d_steps, N, ...), 'label': ...} -> the `reals` of `step`."""
    return [self.to_input(real) for real in batch[self.key]]

  def d_update(self, real):
    z = torch.randn(real.shape[0], self.z_dim)
    with torch.no_grad(), self.autocast():
      fake = self.g(z).float()
    with self.autocast():  # two passes, as gan_jax: batch statistics of real, then of fake
      real_logits, fake_logits = self.d(real).float(), self.d(fake).float()
      loss = self.d_loss(real_logits, fake_logits)
      if self.gp_weight > 0:
        eps = torch.rand(real.shape[0], *[1] * (real.ndim - 1))
        x_hat = eps * real + (1 - eps) * fake
        norms = torch.sqrt(_input_grad_sq_norms(self.d, x_hat) + 1e-12)
        loss = loss + self.gp_weight * ((norms - 1) ** 2).mean()
      if self.r1_gamma > 0:
        loss = loss + 0.5 * self.r1_gamma * _input_grad_sq_norms(self.d, real).mean()
    self.d_opt.zero_grad(set_to_none=True)
    loss.backward()
    self.d_opt.step()
    if self.clip > 0:
      with torch.no_grad():
        for p in self.d.parameters():
          p.clamp_(-self.clip, self.clip)
    return loss.detach()

  def g_update(self, batch):
    z = torch.randn(batch, self.z_dim)
    self.d.requires_grad_(False)  # gradients for G only
    with self.autocast():
      loss = self.g_loss(self.d(self.g(z).float()).float())
    self.g_opt.zero_grad(set_to_none=True)
    loss.backward()
    self.g_opt.step()
    self.d.requires_grad_(True)
    return loss.detach()

  def step(self, reals):
    """`reals`: d_steps inputs from `to_input`. Returns the last d_loss and g_loss (tensors)."""
    for real in reals:
      d_loss = self.d_update(real)
    for _ in range(self.g_steps):
      g_loss = self.g_update(reals[0].shape[0])
    if self.ema_decay > 0:  # warmed up as in state.py: min(decay, (1 + t) / (10 + t))
      decay = min(self.ema_decay, (1.0 + self.t) / (10.0 + self.t))
      with torch.no_grad():
        torch._foreach_lerp_(self.ema, self.g_params, 1.0 - decay)
    self.t += 1
    return d_loss, g_loss


# ---- Image translation: Pix2Pix and CycleGAN (families/pix2pix.py, families/cyclegan.py) ----
# The networks are the official ones (pytorch-CycleGAN-and-pix2pix, models/networks.py) with
# gan_jax's one change: without normalisation a convolution keeps its bias (layers.conv_bias).


def _norm2d(kind, channels):
  """layers.norm2d: batch norm; instance norm without affine parameters or running statistics
  (the official CycleGAN's); or none."""
  if kind == 'batch':
    return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1)
  if kind == 'instance':
    return nn.InstanceNorm2d(channels, eps=1e-5, affine=False, track_running_stats=False)
  if kind == 'none':
    return nn.Identity()
  raise ValueError(f"torch peer: unknown model.norm {kind!r}; it has 'batch', 'instance' and "
                   "'none'")


class _UnetLevel(nn.Module):
  """The official UnetSkipConnectionBlock: x -> cat(x, up(inner(down(x)))), the outermost
  level without the join. Down: LeakyReLU 0.2 (none before the outermost conv), 4x4 stride-2
  conv, norm (not at the outermost or innermost level); up: ReLU, 4x4 stride-2 transposed conv,
  norm and dropout, or at the outermost level a biased transposed conv to the output and tanh.
  The official LeakyReLU works in place, so its join carries LeakyReLU(x); the ReLU that opens
  the level above makes that the same function as x itself, which is what is carried here."""

  def __init__(self, outer, inner, *, c_in=None, sub=None, outermost=False, norm='batch',
               dropout=0.0):
    super().__init__()
    bias = norm != 'batch'
    down = nn.Conv2d(c_in or outer, inner, 4, 2, 1, bias=bias)
    if outermost:
      layers = [down, sub, nn.ReLU(), nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1), nn.Tanh()]
    elif sub is None:  # the innermost level
      layers = [nn.LeakyReLU(0.2), down, nn.ReLU(),
                nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias), _norm2d(norm, outer)]
    else:
      layers = [nn.LeakyReLU(0.2), down, _norm2d(norm, inner), sub, nn.ReLU(),
                nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1, bias=bias), _norm2d(norm, outer)]
      if dropout > 0:
        layers.append(nn.Dropout(dropout))
    self.model = nn.Sequential(*layers)
    self.outermost = outermost

  def forward(self, x):
    y = self.model(x)
    return y if self.outermost else torch.cat([x, y], 1)


def unet(model, channels, num_downs):
  """models/translation.UNetGenerator: level i (0 the outermost) has width ngf min(2^i, 8);
  dropout in the `dropout_blocks` levels directly above the innermost."""
  width = lambda i: model.ngf * min(2 ** i, 8)
  n = num_downs
  level = _UnetLevel(width(n - 2), width(n - 1), norm=model.norm)
  for i in reversed(range(1, n - 1)):
    rate = model.dropout if i >= n - 1 - model.dropout_blocks else 0.0
    level = _UnetLevel(width(i - 1), width(i), sub=level, norm=model.norm, dropout=rate)
  return _UnetLevel(channels, width(0), c_in=channels, sub=level, outermost=True,
                    norm=model.norm)


_PADS = {'reflect': nn.ReflectionPad2d, 'replicate': nn.ReplicationPad2d}


class _ResnetBlock(nn.Module):
  """x + (pad, 3x3 conv, norm, ReLU, dropout, pad, 3x3 conv, norm)(x); 'zero' padding is the
  convolution's own."""

  def __init__(self, channels, norm, padding, dropout):
    super().__init__()
    bias = norm != 'batch'

    def padded_conv():
      if padding == 'zero':
        return [nn.Conv2d(channels, channels, 3, padding=1, bias=bias)]
      return [_PADS[padding](1), nn.Conv2d(channels, channels, 3, bias=bias)]
    layers = padded_conv() + [_norm2d(norm, channels), nn.ReLU()]
    if dropout > 0:
      layers.append(nn.Dropout(dropout))
    self.body = nn.Sequential(*layers, *padded_conv(), _norm2d(norm, channels))

  def forward(self, x):
    return x + self.body(x)


def resnet_generator(model, channels, num_blocks):
  """models/translation.ResnetGenerator: reflection pad 3 and 7x7 conv, two stride-2 convs,
  `num_blocks` residual blocks at 4 ngf, two stride-2 transposed convs (output_padding 1),
  reflection pad 3 and a biased 7x7 conv, tanh."""
  ngf, norm, bias = model.ngf, model.norm, model.norm != 'batch'
  layers = [nn.ReflectionPad2d(3), nn.Conv2d(channels, ngf, 7, bias=bias), _norm2d(norm, ngf),
            nn.ReLU()]
  for i in range(2):
    layers += [nn.Conv2d(ngf * 2 ** i, ngf * 2 ** (i + 1), 3, 2, 1, bias=bias),
               _norm2d(norm, ngf * 2 ** (i + 1)), nn.ReLU()]
  layers += [_ResnetBlock(4 * ngf, norm, model.padding, model.dropout)
             for _ in range(num_blocks)]
  for i in range(2):
    c_in, c_out = ngf * 2 ** (2 - i), ngf * 2 ** (1 - i)
    layers += [nn.ConvTranspose2d(c_in, c_out, 3, 2, 1, output_padding=1, bias=bias),
               _norm2d(norm, c_out), nn.ReLU()]
  layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, channels, 7), nn.Tanh()]
  return nn.Sequential(*layers)


def patch_discriminator(c_in, ndf, n_layers, norm):
  """layers.PatchDiscriminator (the official NLayerDiscriminator): 4x4 convs, padding 1."""
  bias = norm != 'batch'
  layers, c = [nn.Conv2d(c_in, ndf, 4, 2, 1), nn.LeakyReLU(0.2)], ndf
  for i in range(1, n_layers + 1):
    c_out = ndf * min(2 ** i, 8)
    layers += [nn.Conv2d(c, c_out, 4, 2 if i < n_layers else 1, 1, bias=bias),
               _norm2d(norm, c_out), nn.LeakyReLU(0.2)]
    c = c_out
  return nn.Sequential(*layers, nn.Conv2d(c, 1, 4, 1, 1))


def pixel_discriminator(c_in, ndf, norm):
  """layers.PixelDiscriminator (the official 1x1 PatchGAN)."""
  bias = norm != 'batch'
  return nn.Sequential(nn.Conv2d(c_in, ndf, 1), nn.LeakyReLU(0.2),
                       nn.Conv2d(ndf, 2 * ndf, 1, bias=bias), _norm2d(norm, 2 * ndf),
                       nn.LeakyReLU(0.2), nn.Conv2d(2 * ndf, 1, 1, bias=bias))


def translation_networks(model, shape, d_channels):
  """(G, D) as models/translation.build makes them from `config.model`; D reads `d_channels`
  channels (Pix2Pix: the pair, 2 C)."""
  if model.name != 'translation':
    raise ValueError(f"torch peer: the translation families take model.name 'translation', "
                     f'not {model.name!r}')
  size, _, channels = shape
  if model.generator == 'unet':
    g = unet(model, channels, model.unet_downs or int(math.log2(size)))
  elif model.generator == 'resnet':
    g = resnet_generator(model, channels, model.resnet_blocks or (9 if size >= 256 else 6))
  else:
    raise ValueError(f'torch peer: unknown model.generator {model.generator!r}')
  if model.discriminator == 'patch':
    d = patch_discriminator(d_channels, model.ndf, model.d_layers, model.norm)
  elif model.discriminator == 'pixel':
    d = pixel_discriminator(d_channels, model.ndf, model.norm)
  else:
    raise ValueError(f'torch peer: unknown model.discriminator {model.discriminator!r}')
  g.apply(_dcgan_init)
  d.apply(_dcgan_init)
  return g, d


_GAN_TERMS = {'non_saturating': F.binary_cross_entropy_with_logits,  # the official 'vanilla'
              'least_squares': F.mse_loss}                           # and 'lsgan'


def _l1(x, y):
  return (x.float() - y.float()).abs().mean()


def _scheduler(opt, c, total_steps):
  """optim.schedule as a LambdaLR over training steps (Pix2Pix's linear decay), or None."""
  name = c.get('schedule', 'constant')
  if name == 'constant':
    return None
  if name == 'linear_decay':
    start = c.get('decay_start', 0)
    factor = lambda t: min(1.0, max(0.0, 1.0 - max(0, t + 1 - start) / (total_steps - start + 1)))
  elif name == 'warmup':
    factor = lambda t: min(1.0, (t + 1) / max(c.get('warmup_steps', 0), 1))
  else:
    raise ValueError(f'torch peer: unknown optim.schedule {name!r}')
  return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _crop_and_flip(images, offsets, flips, size):
  out = []
  for image, (y, x), flip in zip(images, offsets.tolist(), flips.tolist()):
    image = image[:, y:y + size, x:x + size]
    out.append(image.flip(-1) if flip else image)
  return torch.stack(out).contiguous(memory_format=torch.channels_last)


class _TranslationStep:
  """What the Pix2Pix and CycleGAN peers share: the settings of families/translation.py, the
  inputs, the jitter, the optimizers and their schedules, and the EMA."""

  def __init__(self, config, spec, g, d):
    if config.loss.name not in _GAN_TERMS:
      raise ValueError(f'torch peer: loss.name={config.loss.name!r}; the translation families '
                       f'take {sorted(_GAN_TERMS)}')
    self.g, self.d = g, d
    self.g.to(memory_format=torch.channels_last).train()
    self.d.to(memory_format=torch.channels_last).train()
    self.gan_term = _GAN_TERMS[config.loss.name]
    self.size = spec.shape[0]
    self.flip = bool(config.data.get('flip', False))
    self.paired = spec.kind == 'paired'
    c, total = config.optim, config.train.steps
    self.g_opt = _optimizer(self.g.parameters(), c, c.g_lr)
    self.d_opt = _optimizer(self.d.parameters(), c, c.d_lr)
    self.schedulers = [s for s in (_scheduler(self.g_opt, c, total),
                                   _scheduler(self.d_opt, c, total)) if s is not None]
    self.g_params = list(self.g.parameters())
    self.ema_decay = config.train.ema_decay
    self.ema = [p.detach().clone() for p in self.g_params] if self.ema_decay > 0 else []
    self.bf16 = config.train.dtype == 'bfloat16'
    self.t = 0

  def autocast(self):
    if self.bf16:
      return torch.autocast('cpu', dtype=torch.bfloat16)
    return contextlib.nullcontext()

  def gan(self, logits, target):
    """The official GANLoss: every patch logit against `target` (1 real, 0 fake), averaged."""
    logits = logits.float()
    return self.gan_term(logits, torch.full_like(logits, target))

  def inputs(self, batch):
    """step.py's host batch {'a', 'b': (1, N, S, S, C) at the load size, labels} -> 'a' and 'b'
    as (N, C, S, S) channels-last tensors."""
    return {k: torch.from_numpy(batch[k][0]).permute(0, 3, 1, 2).contiguous(
        memory_format=torch.channels_last) for k in ('a', 'b')}

  def jitter(self, a, b):
    """translation.jitter: each example cropped at random from the load size to the model's
    and, with data.flip, flipped left-right; a paired example's two images alike."""
    load, n = a.shape[-1], a.shape[0]
    if load == self.size and not self.flip:
      return a, b

    def draw():
      offsets = torch.randint(0, load - self.size + 1, (n, 2))
      flips = torch.rand(n) < 0.5 if self.flip else torch.zeros(n, dtype=torch.bool)
      return offsets, flips
    where_a = draw()
    where_b = where_a if self.paired else draw()
    return (_crop_and_flip(a, *where_a, self.size), _crop_and_flip(b, *where_b, self.size))

  def finish_step(self):
    """The schedules' next rate and the warmed-up EMA of G (state.py), when it is on."""
    for scheduler in self.schedulers:
      scheduler.step()
    if self.ema_decay > 0:
      decay = min(self.ema_decay, (1.0 + self.t) / (10.0 + self.t))
      with torch.no_grad():
        torch._foreach_lerp_(self.ema, self.g_params, 1.0 - decay)
    self.t += 1


class Pix2PixStep(_TranslationStep):
  """One train_step of families/pix2pix.py: G runs once; D is updated on the generated pair
  (detached), then the real pair, its loss half the sum of the two terms; then G against the
  updated D, through the same forward pass: the GAN term plus l1_weight times |G(a) - b|."""

  def __init__(self, config, spec):
    g, d = translation_networks(config.model, spec.shape, 2 * spec.shape[-1])
    super().__init__(config, spec, g, d)
    self.l1_weight = config.loss.l1_weight

  def step(self, inputs):
    a, b = self.jitter(inputs['a'], inputs['b'])
    with self.autocast():
      fake = self.g(a).float()
      fake_logits = self.d(torch.cat([a, fake.detach()], 1))
      real_logits = self.d(torch.cat([a, b], 1))
      d_loss = 0.5 * (self.gan(real_logits, 1.0) + self.gan(fake_logits, 0.0))
    self.d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    self.d_opt.step()
    self.d.requires_grad_(False)  # gradients for G only
    with self.autocast():
      g_loss = (self.gan(self.d(torch.cat([a, fake], 1)), 1.0)
                + self.l1_weight * _l1(fake, b))
    self.g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    self.g_opt.step()
    self.d.requires_grad_(True)
    self.finish_step()
    return d_loss.detach(), g_loss.detach()


class _ImagePool:
  """The official ImagePool (Shrivastava et al. 2017), as translation.pool_query: each image is
  stored while there is room and shown itself; once the pool is full, half of the time it
  replaces a stored image drawn at random, which is shown in its place."""

  def __init__(self, size):
    self.size, self.images = size, []

  def query(self, images):
    if self.size == 0:
      return images
    shown = []
    for image in images.detach().unbind(0):
      if len(self.images) < self.size:
        self.images.append(image)
        shown.append(image)
      elif torch.rand(()) > 0.5:
        i = int(torch.randint(0, self.size, ()))
        shown.append(self.images[i])
        self.images[i] = image
      else:
        shown.append(image)
    return torch.stack(shown).contiguous(memory_format=torch.channels_last)


class CycleGanStep(_TranslationStep):
  """One train_step of families/cyclegan.py: first both generators (one Adam), against the
  current discriminators: least-squares (or BCE) GAN terms of D_b(ab(a)) and D_a(ba(b)), the
  cycle losses both ways times cycle_weight, the identity losses both ways times
  identity_weight x cycle_weight; then both discriminators (one Adam), each on real images of
  its domain and generated ones drawn through its image pool, its loss half the sum of its two
  terms. `g` = {'ab', 'ba'}, `d` = {'a', 'b'} (`a` judges images of domain A)."""

  def __init__(self, config, spec):
    def networks():
      return translation_networks(config.model, spec.shape, spec.shape[-1])
    (g_ab, d_a), (g_ba, d_b) = networks(), networks()
    super().__init__(config, spec, nn.ModuleDict({'ab': g_ab, 'ba': g_ba}),
                     nn.ModuleDict({'a': d_a, 'b': d_b}))
    self.cycle_weight = config.loss.cycle_weight
    self.identity_weight = config.loss.identity_weight
    pool_size = config.train.get('pool_size', 0)
    self.pools = {'a': _ImagePool(pool_size), 'b': _ImagePool(pool_size)}

  def step(self, inputs):
    a, b = self.jitter(inputs['a'], inputs['b'])
    ab, ba, d_a, d_b = self.g['ab'], self.g['ba'], self.d['a'], self.d['b']
    self.d.requires_grad_(False)  # gradients for the generators only
    with self.autocast():
      fake_b, fake_a = ab(a).float(), ba(b).float()
      cycle = _l1(ba(fake_b), a) + _l1(ab(fake_a), b)
      g_loss = (self.gan(d_b(fake_b), 1.0) + self.gan(d_a(fake_a), 1.0)
                + self.cycle_weight * cycle)
      if self.identity_weight > 0:
        identity = _l1(ab(b), b) + _l1(ba(a), a)
        g_loss = g_loss + self.identity_weight * self.cycle_weight * identity
    self.g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    self.g_opt.step()
    self.d.requires_grad_(True)

    shown_a, shown_b = self.pools['a'].query(fake_a), self.pools['b'].query(fake_b)
    with self.autocast():
      d_loss = (0.5 * (self.gan(d_a(a), 1.0) + self.gan(d_a(shown_a), 0.0))
                + 0.5 * (self.gan(d_b(b), 1.0) + self.gan(d_b(shown_b), 0.0)))
    self.d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    self.d_opt.step()
    self.finish_step()
    return d_loss.detach(), g_loss.detach()


FAMILIES = ('gan', 'pix2pix', 'cyclegan')


def make_step(config, spec):
  """The peer of `config.family`'s train_step, built from `config` and the data spec."""
  family = config.get('family', 'gan')
  if family == 'gan':
    return TorchStep(config, spec.shape, key=spec.key)
  if family == 'pix2pix':
    return Pix2PixStep(config, spec)
  if family == 'cyclegan':
    return CycleGanStep(config, spec)
  raise ValueError(f'torch peer: family {family!r} has no peer; it has {list(FAMILIES)}')
