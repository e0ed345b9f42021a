"""Configs: the defaults and shared recipes that experiment files start from (`recipes.py`),
and the start-up checks (`validation.py`)."""

from gan_jax.configs.recipes import (base_config, dcgan_model, dcgan_smoke, dcgan_training,
                                     hinge_training, image_data, mlp_model,
                                     pacgan_mixture_setting, resnet_model, resnet_smoke,
                                     smoke_train, stylegan2_setup, stylegan2_smoke,
                                     translation_model, translation_smoke,
                                     translation_training, translation_data)
from gan_jax.configs.validation import DTYPES, PACK_NORMS, UPDATES, validate

__all__ = ['base_config', 'dcgan_model', 'dcgan_smoke', 'dcgan_training', 'hinge_training',
           'image_data', 'mlp_model', 'pacgan_mixture_setting', 'resnet_model', 'resnet_smoke',
           'smoke_train', 'stylegan2_setup', 'stylegan2_smoke', 'translation_data', 'translation_model', 'translation_smoke',
           'translation_training', 'validate', 'DTYPES', 'PACK_NORMS', 'UPDATES']
