"""MLP GAN: generator (latent -> image in [0, 1]) and discriminator (image -> logit)."""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from .common import (DIM, DROPOUT, IMAGE_PIXELS, IMAGE_SHAPE, WIDTHS, Limit, RangeCheckedConfig, check_images,
                     check_latents, mlp)


class MLPGenerator(RangeCheckedConfig, ModelMixin, ConfigMixin):
    """``G: (N, latent_dim) -> (N, 1, 28, 28)`` in [0, 1] (sigmoid output). Prior N(0, I)."""

    CONFIG_LIMITS = {"latent_dim": DIM, "hidden": WIDTHS}

    @register_to_config
    def __init__(self, latent_dim: int = 10, hidden: tuple = (256, 512, 1024)):
        self.check_config({"latent_dim": latent_dim, "hidden": hidden})
        super().__init__()
        self.net = mlp([latent_dim, *hidden, IMAGE_PIXELS])

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_latents(z, self.config.latent_dim, type(self).__name__)
        return torch.sigmoid(self.net(z)).view(-1, *IMAGE_SHAPE)


class MLPDiscriminator(RangeCheckedConfig, ModelMixin, ConfigMixin):
    """``D: (N, 1, 28, 28) -> (N,)`` real/fake logit, with dropout. Used only for training.

    ``pack`` images are judged together (PacGAN), which penalises a generator that drops
    modes: the batch size must be a multiple of ``pack``.
    """

    CONFIG_LIMITS = {"hidden": WIDTHS, "dropout": DROPOUT, "pack": Limit(1, 64)}

    @register_to_config
    def __init__(self, hidden: tuple = (512, 256), dropout: float = 0.3, pack: int = 1):
        self.check_config({"hidden": hidden, "dropout": dropout, "pack": pack})
        super().__init__()
        self.net = mlp([IMAGE_PIXELS * pack, *hidden, 1], dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_images(x, type(self).__name__)
        # map [0, 1] images to [-1, 1]; group `pack` images into one input row
        return self.net((x * 2 - 1).reshape(-1, IMAGE_PIXELS * self.config.pack)).squeeze(-1)
