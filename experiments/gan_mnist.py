"""The MLP GAN of Goodfellow et al. 2014 on MNIST (TFDS `mnist`, 28x28).

G: 100-d noise, two ReLU layers of 1,200 units, 784 outputs (tanh: pixels in [-1, 1], the
paper's sigmoid rescaled). D: two maxout layers of 240 units with 5 pieces, dropout 0.2 on the
input and 0.5 after each hidden layer, one logit. Batch 100, one D update per G update, the
non-saturating generator loss the paper recommends in practice.

  python -m gan_jax.main --config=experiments/gan_mnist.py

One departure: Adam(2e-4, beta1 0.5) for both players, not the paper's SGD with momentum. The
paper's code also limited the norm of each weight column, which this MLP does not; without that
constraint SGD(0.1, momentum 0.5) made the losses non-finite within 20 steps. With Adam, the same
networks trained on the bundled digits at 28x28 (6,000 steps; not MNIST, which cannot be
downloaded here) give noisy but digit-shaped samples with D(x) near 0.65 and D(G(z)) near 0.37.
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  configs.image_data(c, 'mnist', image_size=28, channels=1)  # the original 28x28 digits
  c.data.cache = True              # decoded once, then from memory (47 MiB)
  c.data.num_classes = 10          # labels 0..9 (unused by the unconditional GAN)

  configs.mlp_model(c)
  c.model.z_dim = 100              # noise dimension
  c.model.g_hidden = (1200, 1200)  # ReLU layers
  c.model.g_norm = 'none'
  c.model.g_output = 'tanh'        # images in [-1, 1]
  c.model.d_hidden = (240, 240)    # maxout layers ...
  c.model.d_activation = 'maxout'
  c.model.maxout_pieces = 5        # ... of 5 pieces each
  c.model.d_input_dropout = 0.2    # the paper's input include probability 0.8
  c.model.d_dropout = 0.5          # and hidden include probability 0.5

  c.loss.name = 'non_saturating'   # G maximises log D(G(z))

  c.optim.name = 'adam'            # see the docstring: SGD diverged without max-norm limits
  c.optim.g_lr = 2e-4
  c.optim.d_lr = 2e-4
  c.optim.b1 = 0.5

  c.train.steps = 60_000           # 100 epochs of 60,000 digits at batch 100
  c.train.batch_size = 100
  c.train.d_steps = 1              # the paper's k = 1
  c.train.ema_decay = 0.0          # samples from the generator itself
  c.train.log_every = 500
  c.train.sample_every = 5000
  c.train.checkpoint_every = 5000
  c.train.num_samples = 100

  if arg == 'smoke':
    c.model.z_dim = 8
    c.model.g_hidden = (16,)
    c.model.d_hidden = (16,)
    configs.smoke_train(c)
  elif arg:
    raise ValueError(f'unknown config argument {arg!r}; the only one is "smoke"')
  return c
