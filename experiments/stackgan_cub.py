"""StackGAN on the published setting: CUB-200-2011 birds (or Oxford-102 flowers) from their
char-CNN-RNN text embeddings, stage I at 64x64, then stage II at 256x256 with stage I fixed.

Data: a folder of images with one or several description embeddings per image
(`data/descriptions.py` documents the format and how to convert the releases' pickles):

  python -m gan_jax.main --config=experiments/stackgan_cub.py --workdir=runs/cub_stage1 \\
      --config.data.path=DIR --config.data.embeddings=EMB.npy
  python -m gan_jax.main --config=experiments/stackgan_cub.py:stage2 --workdir=runs/cub_stage2 \\
      --config.data.path=DIR --config.data.embeddings=EMB.npy \\
      --config.stage1_workdir=runs/cub_stage1
  python -m gan_jax.sample --workdir=runs/cub_stage2 --condition=DESCRIPTIONS.npy

The reference's settings (StackGAN-Pytorch `code/miscc/config.py` defaults, which its birds
and flowers runs use; REFERENCES.md): 1,024-d embeddings, 10 per image, one drawn per image
and step; c of 128 dimensions (the CA's ReLU), z of 100; GF_DIM 128, DF_DIM 64, 4 residual
blocks; D conditioned on the generator's mu; KL weight 2 (the code's TRAIN.COEFF.KL; the
paper's lambda is 1); Adam 2e-4 with beta1 0.5, halved every 100 epochs; batch 64; 600 epochs
per stage (CUB's 8,855 training images: 139 steps an epoch). No EMA. Parameters: stage I G
10,301,248 and D 5,715,713; stage II G 26,290,080 and D 71,269,122, as the reference modules.

Not trained on our machines (no CUB and no GPU here); its smoke variants (`smoke`,
`stage2_smoke`) train in the tests on generated images and embeddings.
"""

from gan_jax import configs
from gan_jax.models import stackgan

EPOCH = 139                        # steps per epoch: 8,855 images / 64


def get_config(arg=None):
  c = configs.base_config()
  c.family = 'stackgan'
  c.stage = 'stage1'               # ':stage2' trains stage II from stage1_workdir
  c.stage1_workdir = ''
  configs.image_data(c, 'folder', image_size=64, channels=3)  # --config.data.path=DIR
  c.data.embeddings = ''           # --config.data.embeddings=EMB.npy: (images, 10, 1024)
  c.data.embeddings_per_image = 10
  c.data.embedding_dim = 1024
  c.data.cache = True

  c.model = configs.base_config().model
  stackgan.defaults(c.model)       # the reference's defaults

  c.loss.kl_weight = 2.0
  c.optim.g_lr = c.optim.d_lr = 2e-4
  c.optim.b1 = 0.5
  c.optim.schedule = 'step_decay'
  c.optim.decay_every = 100 * EPOCH
  c.train.steps = 600 * EPOCH
  c.train.batch_size = 64
  c.train.ema_decay = 0.0
  c.train.log_every = 100
  c.train.sample_every = 5 * EPOCH
  c.train.checkpoint_every = 50 * EPOCH
  c.train.num_samples = 32

  stage2 = arg in ('stage2', 'stage2_smoke')
  if stage2:
    c.stage = 'stage2'
    c.data.image_size = 256
  if arg in ('smoke', 'stage2_smoke'):
    c.data.embeddings_per_image = 3
    c.data.embedding_dim = 16
    c.data.image_size = 32 if stage2 else 16
    c.model.stage1_size = 16
    c.model.z_dim = 8
    c.model.condition_dim = 8
    c.model.g1_width = c.model.g2_width = 4
    c.model.d1_width = c.model.d2_width = 8
    c.model.residual_blocks = 1
    configs.smoke_train(c)
    c.train.num_samples = 8
  elif arg not in (None, 'stage2'):
    raise ValueError(f'unknown config argument {arg!r}; choose stage2, smoke or stage2_smoke')
  return c
