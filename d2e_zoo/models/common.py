"""Shared checks and layers for the zoo's models."""

from __future__ import annotations

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
IMAGE_PIXELS = 28 * 28


class ShapeError(ValueError):
    """A tensor of the wrong shape was passed to a zoo model."""


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
