"""MLP variational autoencoder: the decoder is a latent generator, the encoder maps an
image to a latent (used for "translate this image")."""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from .common import DIM, IMAGE_PIXELS, MAX_DEPTH, MAX_WIDTH, Limit, RangeCheckedConfig, VAEMethods, mlp


class MLPVAE(VAEMethods, RangeCheckedConfig, ModelMixin, ConfigMixin):
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

    def _stats(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_stats(self.encoder(x.reshape(-1, IMAGE_PIXELS)))
