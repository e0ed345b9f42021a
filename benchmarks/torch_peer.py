"""The gan_jax update step written in plain PyTorch, for benchmarks/step.py.

Same architectures as gan_jax/models (dcgan.py, mlp.py), same objectives (losses.py, with the
WGAN-GP and R1 penalties of penalties.py), same optimizers (optim.py) and the same step as the
train_step of families/gan.py: `d_steps` discriminator updates, each on its own real batch and
fresh latents, then `g_steps` generator updates, each on fresh latents, then the warmed-up EMA of G's
parameters. `model.pack` = k makes D judge packs of k consecutive examples (models.Packed). Image
models and their inputs are channels-last. Written as a PyTorch user would write it, not as a
transliteration of the JAX code; the point is to time the same amount of work.
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
  """Models, optimizers and EMA; `step(reals)` is one gan_jax train_step."""

  def __init__(self, config, shape):
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
