"""Configs: the defaults and shared recipes that experiment files start from (`recipes.py`),
and the start-up checks (`validation.py`)."""

from gan_jax.configs.recipes import (base_config, dcgan_model, dcgan_smoke, dcgan_training,
                                     hinge_training, image_data, mlp_model,
                                     pacgan_mixture_setting, resnet_model, resnet_smoke,
                                     smoke_train)
from gan_jax.configs.validation import DTYPES, PACK_NORMS, UPDATES, validate

__all__ = ['base_config', 'dcgan_model', 'dcgan_smoke', 'dcgan_training', 'hinge_training',
           'image_data', 'mlp_model', 'pacgan_mixture_setting', 'resnet_model', 'resnet_smoke',
           'smoke_train', 'validate', 'DTYPES', 'PACK_NORMS', 'UPDATES']
