"""Convolutional GAN and VAE for 28x28 images (the zoo's v2 generators).

The decoder body is shared: ``z (N, d) -> Linear -> (4c, 7, 7) -> ConvTranspose x2 ->
(2c, 14, 14) -> ConvTranspose x2 -> (c, 28, 28) -> Conv -> (1, 28, 28)`` logits, with
GroupNorm (no running statistics, so an exponential moving average of the weights is the
whole model) and SiLU between layers. The discriminator is a spectral-normalised CNN.
"""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .common import DIM, DROPOUT, Limit, RangeCheckedConfig, VAEMethods, check_images, check_latents

CHANNELS = Limit(8, 512, multiple_of=8)  # base width c (GroupNorm uses groups of 8 channels)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(max(1, channels // 8), channels)


class ConvDecoder(nn.Module):
    """``(N, latent_dim) -> (N, 1, 28, 28)`` logits (see the module docstring)."""

    def __init__(self, latent_dim: int, channels: int):
        super().__init__()
        c = channels
        self.fc = nn.Linear(latent_dim, 4 * c * 49)
        self.body = nn.Sequential(
            _norm(4 * c), nn.SiLU(),
            nn.ConvTranspose2d(4 * c, 2 * c, 4, stride=2, padding=1), _norm(2 * c), nn.SiLU(),  # 14x14
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1), _norm(c), nn.SiLU(),  # 28x28
            nn.Conv2d(c, 1, 3, padding=1))
        self.channels = c

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.fc(z).view(-1, 4 * self.channels, 7, 7))


class ConvEncoder(nn.Module):
    """``(N, 1, 28, 28)`` in [0, 1] -> ``(N, out_features)``: strided convolutions 28 -> 14 -> 7."""

    def __init__(self, channels: int, out_features: int, spectral: bool = False, dropout: float = 0.0):
        super().__init__()
        c = channels
        wrap = spectral_norm if spectral else (lambda m: m)
        self.net = nn.Sequential(
            wrap(nn.Conv2d(1, c, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),  # 14x14
            wrap(nn.Conv2d(c, 2 * c, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),  # 7x7
            wrap(nn.Conv2d(2 * c, 4 * c, 3, padding=1)), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Dropout(dropout), wrap(nn.Linear(4 * c * 49, out_features)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)


class ConvGenerator(RangeCheckedConfig, ModelMixin, ConfigMixin):
    """GAN generator ``G: (N, latent_dim) -> (N, 1, 28, 28)`` in [0, 1] (sigmoid of the
    :class:`ConvDecoder` logits). Prior N(0, I)."""

    CONFIG_LIMITS = {"latent_dim": DIM, "channels": CHANNELS}

    @register_to_config
    def __init__(self, latent_dim: int = 10, channels: int = 32):
        self.check_config({"latent_dim": latent_dim, "channels": channels})
        super().__init__()
        self.decoder = ConvDecoder(latent_dim, channels)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_latents(z, self.config.latent_dim, type(self).__name__)
        return torch.sigmoid(self.decoder(z))


class ConvDiscriminator(RangeCheckedConfig, ModelMixin, ConfigMixin):
    """``D: (N, 1, 28, 28) -> (N,)`` real/fake logit: a spectral-normalised :class:`ConvEncoder`.
    Used only for training.

    With ``num_classes = K > 0`` the encoder has ``1 + K`` outputs: the real/fake logit and a
    class head ``(N, K)`` (:meth:`logits_and_classes`), trained on the labels of real images
    (an auxiliary classifier, as in AC-GAN) so the generator can be asked for images whose
    class is unambiguous (``class_entropy_weight`` of the GAN task)."""

    CONFIG_LIMITS = {"channels": CHANNELS, "dropout": DROPOUT, "pack": Limit(1, 1), "num_classes": Limit(0, 1000)}

    @register_to_config
    def __init__(self, channels: int = 32, dropout: float = 0.0, pack: int = 1, num_classes: int = 0):
        self.check_config({"channels": channels, "dropout": dropout, "pack": pack, "num_classes": num_classes})
        super().__init__()
        self.net = ConvEncoder(channels, 1 + num_classes, spectral=True, dropout=dropout)

    def logits_and_classes(self, x: torch.Tensor):
        """``(real/fake logits (N,), class logits (N, K))``; the class logits are None when
        ``num_classes == 0``."""
        out = self.net(check_images(x, type(self).__name__))
        return out[:, 0], (out[:, 1:] if self.config.num_classes else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_and_classes(x)[0]


class ConvVAE(VAEMethods, RangeCheckedConfig, ModelMixin, ConfigMixin):
    """Encoder ``(N, 1, 28, 28) -> mean, log_var: (N, latent_dim)`` (:class:`ConvEncoder`);
    decoder ``(N, latent_dim) -> (N, 1, 28, 28)`` Bernoulli means in [0, 1] (:class:`ConvDecoder`).
    Prior N(0, I). Calling the model decodes, so it can stand wherever a decoder is expected."""

    CONFIG_LIMITS = {"latent_dim": DIM, "channels": CHANNELS}

    @register_to_config
    def __init__(self, latent_dim: int = 10, channels: int = 32):
        self.check_config({"latent_dim": latent_dim, "channels": channels})
        super().__init__()
        self.encoder = ConvEncoder(channels, 2 * latent_dim)
        self.decoder = ConvDecoder(latent_dim, channels)

    def _stats(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)
