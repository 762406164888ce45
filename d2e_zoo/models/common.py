"""Shared checks and layers for the zoo's models."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
IMAGE_PIXELS = 28 * 28

# Upper bounds on a model's config values: far above anything the zoo trains, far below what
# would exhaust memory (a config.json from the Hub is untrusted input).
MAX_WIDTH = 8192  # hidden-layer widths and channels
MAX_DEPTH = 32  # hidden layers
MAX_DIM = 4096  # latent / state dimensions
MAX_CLASSES = 1000


class ShapeError(ValueError):
    """A tensor of the wrong shape was passed to a zoo model."""


class ConfigRangeError(ValueError):
    """A model config value (constructor argument or ``config.json`` entry) outside its range."""


@dataclass(frozen=True)
class Limit:
    """The allowed values of one config key: numbers in ``[lo, hi]`` (integers unless
    ``integer=False``, multiples of ``multiple_of``); with ``length=(a, b)`` a list of ``a`` to
    ``b`` such numbers (e.g. the widths of the hidden layers)."""

    lo: float
    hi: float
    integer: bool = True
    length: Optional[tuple] = None
    multiple_of: int = 1

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        what = f"{kind} in [{self.lo:g}, {self.hi:g}]" + (f", a multiple of {self.multiple_of}"
                                                           if self.multiple_of > 1 else "")
        if self.length is None:
            return what
        a, b = self.length
        count = f"{a}" if a == b else f"{a} to {b}"
        return f"a list of {count} values, each {what}"

    def accepts_number(self, v) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        if not math.isfinite(v) or not self.lo <= v <= self.hi:
            return False
        if self.integer:
            return isinstance(v, int) and v % self.multiple_of == 0
        return True

    def accepts(self, value) -> bool:
        if self.length is None:
            return self.accepts_number(value)
        if not isinstance(value, (list, tuple)) or not self.length[0] <= len(value) <= self.length[1]:
            return False
        return all(self.accepts_number(v) for v in value)


DIM = Limit(1, MAX_DIM)
WIDTH = Limit(1, MAX_WIDTH)
WIDTHS = Limit(1, MAX_WIDTH, length=(0, MAX_DEPTH))  # the hidden layers of an MLP, input to output
DEPTH = Limit(1, MAX_DEPTH)
CLASSES = Limit(1, MAX_CLASSES)
DROPOUT = Limit(0.0, 1.0, integer=False)
SCALE = Limit(1e-6, 1e6, integer=False)  # a positive scale factor


def check_config(who: str, values: Mapping, limits: Mapping[str, Limit]) -> None:
    """Raise :class:`ConfigRangeError` naming the key, the value and its allowed range for the
    first entry of ``values`` outside its :class:`Limit` (keys without a limit are not checked)."""
    for key, limit in limits.items():
        if key in values and not limit.accepts(values[key]):
            value = values[key]
            shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
            raise ConfigRangeError(f"{who}: config {key!r} = {shown} is out of range; allowed: {limit.describe()}")


class RangeCheckedConfig:
    """Mixin for the zoo's models: ``CONFIG_LIMITS`` maps config keys to their :class:`Limit`,
    checked by :meth:`check_config` before any layer is built (in ``__init__``, and by the
    zoo loader on ``config.json`` before construction)."""

    CONFIG_LIMITS: dict = {}

    @classmethod
    def check_config(cls, values: Mapping) -> None:
        check_config(cls.__name__, values, cls.CONFIG_LIMITS)


def check_latents(z: torch.Tensor, latent_dim: int, who: str) -> torch.Tensor:
    """Return ``z`` if it is ``(N, latent_dim)`` and finite, else raise :class:`ShapeError`."""
    if not isinstance(z, torch.Tensor):
        raise ShapeError(f"{who}: latents must be a torch.Tensor of shape (N, {latent_dim}), got {type(z).__name__}")
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise ShapeError(f"{who}: latents must have shape (N, {latent_dim}), got {tuple(z.shape)}")
    return z


def check_images(x: torch.Tensor, who: str) -> torch.Tensor:
    """Return ``x`` as ``(N, 1, 28, 28)``; accepts ``(N, 784)`` and ``(N, 28, 28)`` too."""
    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"{who}: images must be a torch.Tensor of shape (N, 1, 28, 28), got {type(x).__name__}")
    if x.dim() == 2 and x.shape[1] == IMAGE_PIXELS:
        return x.view(-1, *IMAGE_SHAPE)
    if x.dim() == 3 and tuple(x.shape[1:]) == IMAGE_SHAPE[1:]:
        return x.unsqueeze(1)
    if x.dim() == 4 and tuple(x.shape[1:]) == IMAGE_SHAPE:
        return x
    raise ShapeError(f"{who}: images must have shape (N, 1, 28, 28), (N, 28, 28) or (N, 784), got {tuple(x.shape)}")


def mlp(sizes, activation=nn.LeakyReLU, dropout: float = 0.0, final_activation: bool = False) -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` (and dropout) between."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers.append(activation(0.2) if activation is nn.LeakyReLU else activation())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class VAEMethods:
    """What every VAE here shares, given ``self.decoder`` (latent -> image logits) and
    ``_stats(x)`` (images ``(N, 1, 28, 28)`` -> ``(N, 2 * latent_dim)``, mean then log-variance):
    encoding, decoding, and calling = decoding, so a VAE stands wherever a decoder is expected."""

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor):
        """Posterior mean and log-variance of the latent, each ``(N, latent_dim)`` (log-variance clamped
        to [-12, 6])."""
        mean, log_var = self._stats(check_images(x, f"{type(self).__name__}.encode")).chunk(2, dim=-1)
        return mean, log_var.clamp(-12.0, 6.0)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits ``(N, 1, 28, 28)`` of latents ``z (N, latent_dim)``."""
        check_latents(z, self.config.latent_dim, f"{type(self).__name__}.decode")
        return self.decoder(z).view(-1, *IMAGE_SHAPE)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli means in [0, 1], ``(N, 1, 28, 28)``."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode(z)
