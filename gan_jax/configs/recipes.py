"""Defaults that experiment files start from, and the recipes they share.

Experiments (experiments/*.py) call `base_config()` and an architecture's defaults, then set and
comment their own choices. Every field a run reads has its default here or in its
architecture's `defaults` (models/), so that `runs.load_config` can complete the config of a run
written by an older version.
"""

from __future__ import annotations

import ml_collections

from gan_jax import models


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0                        # every random number of a run derives from this
  c.family = 'gan'                  # the game, from gan_jax.families.FAMILIES: 'gan'
                                    # (unconditional) or 'conditional'

  c.data = ml_collections.ConfigDict()
  c.data.name = 'digits'            # see gan_jax/data/__init__.py: embedded, folder or TFDS
  c.data.workers = 4                # threads reading and decoding batches ahead of the step
  c.data.prefetch = 4               # steps' batches read ahead

  c.model = ml_collections.ConfigDict()
  c.model.name = 'dcgan'            # a name from gan_jax.models.MODELS
  c.model.z_dim = 100               # latent dimension; z ~ N(0, I)
  c.model.pack = 1                  # PacGAN: D judges packs of this many examples; 1 = off
  c.model.pack_norm = 'batch'       # packed G's batch norm: 'batch' (all examples) or 'slot'
                                    # (each pack slot's own, as PacGAN's code: G run per slot)
  c.model.conditioning = 'projection'  # family 'conditional': how labels enter G and D,
                                    # 'concat', 'projection' or 'acgan'

  c.loss = ml_collections.ConfigDict()
  c.loss.name = 'non_saturating'    # a name from gan_jax.losses.OBJECTIVES
  c.loss.gp_weight = 10.0           # WGAN-GP penalty weight (wasserstein_gp only)
  c.loss.r1_gamma = 0.0             # R1 penalty gamma on real data, any objective; 0 = off
  c.loss.r2_gamma = 0.0             # R2 penalty gamma on generated data; 0 = off
  c.loss.penalty_every = 1          # R1 / R2 every k steps, scaled by k (lazy regularisation)
  c.loss.dragan_weight = 0.0        # DRAGAN penalty weight (10 in its paper); 0 = off
  c.loss.clip = 0.01                # weight clipping bound (wasserstein only); 0 = off
  c.loss.class_weight = 1.0         # ACGAN: weight of the auxiliary class cross-entropy
  c.loss.class_on_fake = True       # ACGAN: D's class loss on generated examples too (paper)
  c.loss.ortho_weight = 0.0         # BigGAN's orthogonal regularisation of G (1e-4); 0 = off
  c.loss.l1_weight = 100.0          # pix2pix: lambda_L1, the weight of |G(a) - b|
  c.loss.cycle_weight = 10.0        # cyclegan: lambda of the cycle losses, both directions
  c.loss.identity_weight = 0.5      # cyclegan: identity loss weight, a fraction of lambda

  c.optim = ml_collections.ConfigDict()
  c.optim.name = 'adam'             # 'adam' | 'rmsprop' | 'sgd' (gan_jax/optim.py)
  c.optim.g_lr = 2e-4               # generator learning rate
  c.optim.d_lr = 2e-4               # discriminator learning rate
  c.optim.b1 = 0.5                  # Adam beta1 (DCGAN's 0.5)
  c.optim.b2 = 0.999                # Adam beta2
  c.optim.eps = 1e-8                # Adam / RMSProp epsilon
  c.optim.momentum = 0.0            # SGD momentum; 0 = plain SGD
  c.optim.schedule = 'constant'     # 'constant', 'linear_decay' or 'warmup'
  c.optim.decay_start = 0           # linear_decay: steps at the full rate before the decay
  c.optim.warmup_steps = 0          # warmup: steps from 0 to the full rate
  c.optim.decay_every = 0           # step_decay: steps between the rate's decays...
  c.optim.decay_factor = 0.5        # ... each multiplying it by this
  c.optim.lr_multipliers = ()       # 'PLAYER/PATH=FACTOR' entries, e.g. ('g/mapping=0.01',)

  c.train = ml_collections.ConfigDict()
  c.train.steps = 1000              # steps: d_steps D updates, then g_steps G updates
  c.train.batch_size = 64           # global batch, over all devices and processes
  c.train.d_steps = 1               # discriminator updates per step
  c.train.g_steps = 1               # generator updates per step, after D's (PacGAN's stacked-
                                    # MNIST code: 2, so that D's loss does not reach zero)
  c.train.updates = 'alternating'   # G against the updated D, or 'simultaneous' (against the
                                    # D this step started from, as the PacGAN code trains)
  c.train.augment = ''              # DiffAugment policies for every image D sees, e.g.
                                    # 'translation,cutout' or 'color,translation,cutout'
  c.train.ema_decay = 0.999         # generator EMA for samples (warmed up); 0 turns EMA off
  c.train.pool_size = 50            # cyclegan: past generated images per discriminator's pool
  c.train.ema_stats = 'standing'    # the EMA generator's batch-norm statistics: 'standing'
                                    # (its own, recomputed before sampling) or 'generator'
                                    # (the raw generator's, as before they were its own)
  c.train.standing_batches = 20     # standing statistics: batches averaged...
  c.train.standing_batch_size = 256  # ...of this many samples (a multiple of the devices)
  c.train.dtype = 'float32'         # compute dtype: 'float32' or 'bfloat16' (params stay f32)
  c.train.cpu_convolutions = 'eigen'  # XLA:CPU's convolutions: 'eigen' (all cores) or 'default'
  c.train.log_every = 100           # steps between logged scalars and progress lines
  c.train.sample_every = 500        # steps between sample grids / plots
  c.train.checkpoint_every = 1000   # steps between checkpoints (one is always saved at the end)
  c.train.keep_checkpoints = 3      # newest checkpoints kept
  c.train.num_samples = 64          # images in each sample grid (points: 2,500 in plots)

  c.evals = ml_collections.ConfigDict()  # gan_jax/evaluators/
  c.evals.metrics = ()              # names from evaluators/registry.py METRICS, e.g. ('modes',)
  c.evals.every = 0                 # steps between evaluations (and one at the end); 0 = off
  c.evals.num_samples = 10_000      # generated samples per evaluation (EMA generator)
  c.evals.num_real = 10_000         # training examples for the real statistics
  c.evals.batch_size = 500          # generation / feature batch
  c.evals.best_metric = ''          # keep the best checkpoint by this scalar, e.g. 'fid'
  c.evals.classifier = ''           # classifier for domain_fd / stacked_modes; '' = the data's
  c.evals.classifier_dir = ml_collections.config_dict.placeholder(str)  # default: classifiers/
  c.evals.inception_weights = '~/.cache/gan_jax/fid_inception.npz'  # see README: Evaluation
  return c


def image_data(c: ml_collections.ConfigDict, name: str, *, image_size: int, channels: int,
               crop: int = 0) -> None:
  """Sets an image dataset and the fields every image source reads (data/__init__.py)."""
  c.data.name = name                # 'digits', 'folder', or a TFDS name ('mnist', 'celeb_a', ...)
  c.data.image_size = image_size    # images are centre-cropped to a square and resized to this
  c.data.channels = channels        # 1 (grayscale) or 3 (RGB); images are converted to it
  c.data.crop = crop                # side of the centred square crop; 0 = the largest that fits
  c.data.path = ml_collections.config_dict.placeholder(str)  # a folder of PNG/JPEG images
  c.data.labels = False             # folders: class labels from first-level subfolder names
  c.data.data_dir = ml_collections.config_dict.placeholder(str)  # TFDS directory (default
  #                                   $TFDS_DATA_DIR or ~/tensorflow_datasets)
  c.data.split = 'train'            # TFDS split
  c.data.image_key = 'image'        # TFDS feature holding the image
  c.data.label_key = 'label'        # TFDS feature holding the class label (absent: 0)
  c.data.num_classes = 0            # classes of the labels (family 'conditional' needs them)
  c.data.digits_split = ''          # digits: '' all 1,797, 'train' 1,347, 'test' the 450 held out
  c.data.download = True            # TFDS: download and prepare when not prepared yet
  c.data.cache = False              # keep decoded images in memory after their first read
  c.data.embeddings = ''            # described folders (StackGAN): a .npy of description
  #                                   embeddings, (images, dim) or (images, K, dim), sorted order
  c.data.embeddings_per_image = 1   # ... K, the embeddings of each image
  c.data.embedding_dim = 0          # ... dim (CUB / Oxford-102 char-CNN-RNN: 1,024)


def translation_data(c: ml_collections.ConfigDict, name: str, *, image_size: int, channels: int,
                     load_size: int = 0, flip: bool = False, direction: str = 'AtoB') -> None:
  """Sets an image-to-image translation dataset (data/translation.py): `image_data`'s fields,
  and those of the two domains and the step's jitter."""
  image_data(c, name, image_size=image_size, channels=channels)
  c.data.direction = direction      # 'AtoB': the generator maps domain A to B; 'BtoA' swaps them
  c.data.load_size = load_size      # examples arrive at this side and the step crops them to
  #                                   image_size at random; 0 = image_size, no crop (the
  #                                   official 286 for 256)
  c.data.flip = flip                # random left-right flips in the step (the same for both
  #                                   images of a pair)
  c.data.num_train = 1347           # printed2handwritten: printed digits in the 'train' split
  #                                   (as many as its handwritten ones; 'test' has 500)


def dcgan_model(c: ml_collections.ConfigDict) -> None:
  """Sets `c.model` to the DCGAN architecture with its defaults (models/dcgan.py)."""
  models.get('dcgan').defaults(c.model)


def dcgan_training(c: ml_collections.ConfigDict, *, steps: int, batch_size: int) -> None:
  """The DCGAN paper's training choices: non-saturating loss, Adam(2e-4, beta1 0.5), samples
  from an EMA generator."""
  c.loss.name = 'non_saturating'
  c.optim.name = 'adam'
  c.optim.g_lr = 2e-4
  c.optim.d_lr = 2e-4
  c.optim.b1 = 0.5
  c.optim.b2 = 0.999
  c.train.steps = steps
  c.train.batch_size = batch_size
  c.train.ema_decay = 0.999


def resnet_model(c: ml_collections.ConfigDict) -> None:
  """Sets `c.model` to the ResNet architecture (SNGAN, SAGAN, BigGAN) with its defaults
  (models/resnet.py)."""
  models.get('resnet').defaults(c.model)


def hinge_training(c: ml_collections.ConfigDict, *, steps: int, batch_size: int, d_steps: int,
                   g_lr: float, d_lr: float, b2: float) -> None:
  """The SNGAN / BigGAN training choices: hinge loss, Adam with beta1 0, `d_steps` D updates
  per G update, an EMA generator."""
  c.loss.name = 'hinge'
  c.optim.name = 'adam'
  c.optim.g_lr = g_lr
  c.optim.d_lr = d_lr
  c.optim.b1 = 0.0
  c.optim.b2 = b2
  c.train.steps = steps
  c.train.batch_size = batch_size
  c.train.d_steps = d_steps


def resnet_smoke(c: ml_collections.ConfigDict) -> None:
  """The `smoke` variant of a ResNet experiment: 2 channels per width multiplier, one D step,
  and the tiny schedule of `smoke_train`."""
  c.model.g_ch = 2
  c.model.d_ch = 2
  c.train.d_steps = 1
  smoke_train(c)


def mlp_model(c: ml_collections.ConfigDict) -> None:
  """Sets `c.model` to the MLP architecture with its defaults (models/mlp.py)."""
  models.get('mlp').defaults(c.model)


def pacgan_mixture_setting(c: ml_collections.ConfigDict) -> None:
  """PacGAN's 2-D mixture setting: its MLPs, optimizer and batch (REFERENCES: 2-D mixtures).

  G: 4 ReLU layers of 400 with batch norm on 2-D Gaussian noise; D: 3 maxout layers of 200
  units with 5 pieces; Adam(1e-4, beta1 0.8); batch 100; non-saturating loss. As in the PacGAN
  code: weights drawn from N(0, 0.02^2) with zero biases, both players updated simultaneously
  from the same parameters, and, when packed, the generator run once per pack slot so that
  batch norm normalises each slot over its own examples.
  """
  mlp_model(c)
  c.model.z_dim = 2
  c.model.g_hidden = (400,) * 4
  c.model.g_norm = 'batch'
  c.model.g_output = 'none'
  c.model.d_hidden = (200,) * 3
  c.model.d_activation = 'maxout'
  c.model.maxout_pieces = 5
  c.model.weight_init = 'normal'
  c.model.pack_norm = 'slot'        # PacGAN's code runs G once per slot (no effect unpacked)
  c.loss.name = 'non_saturating'
  c.optim.g_lr = 1e-4
  c.optim.d_lr = 1e-4
  c.optim.b1 = 0.8
  c.train.batch_size = 100
  c.train.updates = 'simultaneous'
  c.train.ema_decay = 0.0           # the papers evaluate the generator itself
  c.evals.metrics = ('modes',)      # modes captured, % high quality, reverse KL
  c.evals.num_samples = 2500        # the papers' evaluation sample
  c.evals.every = 10_000            # and at the end


def dcgan_smoke(c: ml_collections.ConfigDict, width: int = 8) -> None:
  """The `smoke` variant of a DCGAN experiment: an 8-d latent, `width` channels in G and D, and
  the tiny schedule of `smoke_train`."""
  c.model.z_dim = 8
  c.model.g_width = width
  c.model.d_width = width
  smoke_train(c)


def smoke_train(c: ml_collections.ConfigDict) -> None:
  """The tiny schedule of every `smoke` variant: 4 steps of 16, logging, sampling and
  checkpointing every 2."""
  c.train.steps = 4
  c.train.batch_size = 16
  c.train.log_every = 2
  c.train.sample_every = 2
  c.train.checkpoint_every = 2
  c.train.num_samples = 16
  c.train.standing_batches = 2
  c.train.standing_batch_size = 16


def translation_model(c: ml_collections.ConfigDict, *, generator: str, norm: str) -> None:
  """Sets `c.model` to the image-translation architectures (models/translation.py): the U-Net
  or ResNet generator and the PatchGAN discriminator, with `norm` in both."""
  models.get('translation').defaults(c.model)
  c.model.generator = generator
  c.model.norm = norm


def translation_training(c: ml_collections.ConfigDict, *, steps: int, decay_steps: int,
                         batch_size: int) -> None:
  """The official Pix2Pix / CycleGAN optimisation: Adam(2e-4, beta1 0.5) for both players, the
  rate constant for `steps - decay_steps` steps, then linearly to zero over `decay_steps`
  (100 epochs + 100 epochs in the official scripts); no EMA (the generator itself)."""
  c.optim.name = 'adam'
  c.optim.g_lr = 2e-4
  c.optim.d_lr = 2e-4
  c.optim.b1 = 0.5
  c.optim.b2 = 0.999
  c.optim.schedule = 'linear_decay'
  c.optim.decay_start = steps - decay_steps
  c.train.steps = steps
  c.train.batch_size = batch_size
  c.train.ema_decay = 0.0


def translation_smoke(c: ml_collections.ConfigDict) -> None:
  """The `smoke` variant of a translation experiment: 4 filters in G and D, and the tiny
  schedule of `smoke_train` (the decay from its second step)."""
  c.model.ngf = 4
  c.model.ndf = 4
  smoke_train(c)
  c.optim.decay_start = 1
  c.train.num_samples = 4


def stylegan2_setup(c: ml_collections.ConfigDict, *, steps: int, batch_size: int, lr: float,
                    r1_gamma: float, ema_kimg: float, ema_rampup: float = 0.0,
                    mapping_layers: int = 8, mbstd_group: int = 4) -> None:
  """StyleGAN2 with ADA (family 'stylegan2', models/stylegan2.py) with the official defaults
  (stylegan2-ada-pytorch `train.py`): Adam(lr, betas (0, 0.99), eps 1e-8) for both players,
  adjusted for lazy regularisation by the family; the mapping network at 0.01 of the rate;
  R1 every 16 steps, path length (weight 2) every 4 on half the batch, its mean's decay 0.01;
  style mixing 0.9; w_avg tracked at 0.995; an EMA with a half-life of `ema_kimg` thousand
  images; ADA toward r_t = 0.6 with the `bgc` pipeline, p adjusted every 4 steps by
  batch * 4 / 500k. An experiment sets what its configuration changes."""
  c.family = 'stylegan2'
  models.get('stylegan2').defaults(c.model)
  c.model.mapping_layers = mapping_layers
  c.model.mbstd_group = mbstd_group
  c.model.conditional = False       # class-conditional (needs data.num_classes): a class
  #                                   embedding in G's mapping, a projection in D (--cond=1)
  c.model.mapping_lr = 0.01         # the mapping networks' learning-rate multiplier
  c.model.w_avg_beta = 0.995        # the tracked average w: w_avg <- w + beta (w_avg - w)
  c.loss.name = 'non_saturating'    # the logistic loss, softplus(-D(G(z))) for G
  c.loss.r1_gamma = r1_gamma        # R1 weight gamma (the penalty is gamma / 2 |grad|^2)
  c.loss.penalty_every = 16         # R1 lazily, every 16 steps, scaled by 16
  c.loss.pl_weight = 2.0            # path-length regularisation weight; 0 = off
  c.loss.pl_every = 4               # path length lazily, every 4 steps, scaled by 4
  c.loss.pl_decay = 0.01            # the path-length mean's decay
  c.loss.pl_batch_shrink = 2        # path length on 1/2 of each device's batch
  c.loss.style_mixing = 0.9         # probability that an example mixes two latents' styles
  c.optim.name = 'adam'
  c.optim.g_lr = lr
  c.optim.d_lr = lr
  c.optim.b1 = 0.0
  c.optim.b2 = 0.99
  c.optim.eps = 1e-8
  c.train.steps = steps
  c.train.batch_size = batch_size
  c.train.d_steps = 1
  c.train.g_steps = 1
  c.train.ema_kimg = ema_kimg       # the EMA's half-life, in thousands of images
  c.train.ema_rampup = ema_rampup   # half-life at most images seen x this; 0 = no ramp-up
  c.train.ada_pipeline = 'bgc'      # ADA's transforms (gan_jax/ada.py); '' = no augmentation
  c.train.ada_target = 0.6          # ADA's target for E[sign(D(real))]; 0 = p fixed at ada_p
  c.train.ada_p = 0.0               # the augmentation probability at the start
  c.train.ada_interval = 4          # steps between adjustments of p
  c.train.ada_kimg = 500.0          # thousands of images for p to move by 1


def stylegan2_smoke(c: ml_collections.ConfigDict) -> None:
  """The `smoke` variant of a StyleGAN2 experiment: 8x8 images, a 16-d latent and w, 2
  mapping layers, narrow networks, R1 and path length on every step (one compiled program for
  the whole run), ADA's p adjusted every step by 0.16 (16 images / 100), and the tiny schedule
  of `smoke_train`."""
  c.data.image_size = 8
  c.model.z_dim = 16
  c.model.w_dim = 16
  c.model.mapping_layers = 2
  c.model.channel_base = 128
  c.model.channel_max = 16
  c.loss.penalty_every = 1
  c.loss.pl_every = 1
  c.train.ada_interval = 1
  c.train.ada_kimg = 0.1
  smoke_train(c)
  c.model.mbstd_group = 2
