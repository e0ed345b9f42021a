"""Age-cGAN on faces: a conditional GAN over age groups, its encoder, and re-attribution to
another age group (Antipov et al. 2017; REFERENCES.md).

Data, either
- a folder with one subfolder per age group (`data.labels=True`), as IMDB-WIKI is usually
  arranged after cleaning, e.g. DIR/0-18, DIR/19-29, DIR/30-39, DIR/40-49, DIR/50-59, DIR/60+
  (the paper's six groups; classes are the subfolders in sorted order):

    python -m gan_jax.main --config=experiments/agecgan_faces.py --config.data.path=DIR

- or TFDS `celeb_a` with one of its binary attributes as the class (`:celeba`; by default
  `Young`, `--config.data.label_key=attributes/Male` for another):

    python -m gan_jax.main --config=experiments/agecgan_faces.py:celeba

Then, for a face photo:

    python -m gan_jax.reattribute --workdir=runs/agecgan_faces --image=FACE.jpg --to=all \\
        --from=1 --optimise=features

The identity-preserving optimisation (`--optimise=features`) compares a feature network's
features of the face and of its reconstruction. The command uses the FID Inception network
when its weights file exists (`evals.inception_weights`; the README's Evaluation says how to
make it); the paper used a face-recognition network, which serves identity better: pass any
JAX function of images to `gan_jax.reattribute.reattribute(..., feature_fn=...)`, in the same
way. Without a classifier for faces, give the photo's own group with `--from`.

Settings: the paper's 64x64 faces, the DCGAN generator and discriminator with the label joined
to z and to D's input, Adam 2e-4 (beta1 0.5), batch 64, then the encoder. Not trained on our
machines (no faces and no GPU here); the smoke variant trains in the tests on a generated
folder of classes.
"""

from gan_jax import configs


def get_config(arg=None):
  c = configs.base_config()
  c.family = 'agecgan'
  configs.image_data(c, 'folder', image_size=64, channels=3, crop=0)  # --config.data.path=DIR
  c.data.labels = True             # age groups from the subfolder names
  c.data.num_classes = 6           # the paper's groups: 0-18, 19-29, 30-39, 40-49, 50-59, 60+
  c.data.cache = True

  configs.dcgan_model(c)
  c.model.conditioning = 'concat'
  c.model.z_dim = 100
  c.model.e_width = 64

  configs.dcgan_training(c, steps=100_000, batch_size=64)
  c.train.encoder_steps = 20_000
  c.optim.e_lr = 2e-4
  c.train.ema_decay = 0.0
  c.train.log_every = 500
  c.train.sample_every = 5_000
  c.train.checkpoint_every = 10_000
  c.train.num_samples = 48

  if arg in ('celeba', 'celeba_smoke'):
    c.data.name = 'celeb_a'
    c.data.path = None
    c.data.crop = 108
    c.data.labels = False
    c.data.label_key = 'attributes/Young'  # a binary attribute: 0 or 1
    c.data.num_classes = 2
  if arg in ('smoke', 'celeba_smoke'):
    configs.dcgan_smoke(c)
    c.data.image_size = 32
    c.model.e_width = 8
    c.train.steps = 4
    c.train.encoder_steps = 2
    c.train.num_samples = 12
    if arg == 'smoke':
      c.data.num_classes = 2
  elif arg not in (None, 'celeba'):
    raise ValueError(f'unknown config argument {arg!r}; choose celeba, smoke or celeba_smoke')
  return c
