"""MLP variational autoencoder: the decoder is a latent generator, the encoder maps an
image to a latent (used for "translate this image")."""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from .common import (DIM, IMAGE_PIXELS, IMAGE_SHAPE, MAX_DEPTH, MAX_WIDTH, Limit, RangeCheckedConfig, check_images,
                     check_latents, mlp)


class MLPVAE(RangeCheckedConfig, ModelMixin, ConfigMixin):
    """Encoder ``(N, 1, 28, 28) -> mean, log_var: (N, latent_dim)``; decoder
    ``(N, latent_dim) -> (N, 1, 28, 28)`` Bernoulli means in [0, 1]. Prior N(0, I).

    Calling the model decodes, so a VAE can stand wherever a decoder (latent -> image) is expected.
    """

    CONFIG_LIMITS = {"latent_dim": DIM, "hidden": Limit(1, MAX_WIDTH, length=(1, MAX_DEPTH))}

    @register_to_config
    def __init__(self, latent_dim: int = 10, hidden: tuple = (512, 256)):
        self.check_config({"latent_dim": latent_dim, "hidden": hidden})
        super().__init__()
        self.encoder = mlp([IMAGE_PIXELS, *hidden], final_activation=True)
        self.to_stats = torch.nn.Linear(hidden[-1], 2 * latent_dim)
        self.decoder = mlp([latent_dim, *reversed(hidden), IMAGE_PIXELS])

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor):
        """Posterior mean and log-variance of the latent, each ``(N, latent_dim)``."""
        x = check_images(x, "MLPVAE.encode")
        mean, log_var = self.to_stats(self.encoder(x.reshape(-1, IMAGE_PIXELS))).chunk(2, dim=-1)
        return mean, log_var.clamp(-12.0, 6.0)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        check_latents(z, self.config.latent_dim, "MLPVAE.decode")
        return self.decoder(z).view(-1, *IMAGE_SHAPE)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode(z)
