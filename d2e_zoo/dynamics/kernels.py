"""Gaussian transition kernels, forward and backward (docs/method.md section 2).

    forward   p_f(x_{k+1} | x_k)  = N(m_ref(x_k) + dt_k f(x_k, t_k),        c_k exp(v_f(x_k, t_k)))
    backward  p_b(x_k | x_{k+1})  = N(x_{k+1} + dt_k b(x_{k+1}, t_{k+1}),     c_k exp(v_b(x_{k+1}, t_{k+1})))

where ``m_ref``, ``c_k`` are the reference process's transition mean and variance. A forward
kernel may add target-score guidance (optional, off by default): the drift becomes
``f(x, t) + scale * g(t) * clip(grad log p1(x))`` with a learned per-time, per-coordinate
``g(t)`` initialised at zero (so a fresh kernel is still the reference). Every
kernel answers ``mean_var(x, t, dt)`` for the state it conditions on (x_k at t_k for a
forward kernel, x_{k+1} at t_{k+1} for a backward one), so the same kernel can be run on
any time grid. :class:`ReferenceKernel` wraps the reference itself (forward transition or
exact reversal) and has no parameters: the initial forward process of IPF, and the fixed
backward process of the diffusion sampler.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .networks import DriftNet
from .reference import ReferenceProcess

DIRECTIONS = ("forward", "backward")
LOG_2PI = math.log(2 * math.pi)


def _check_direction(direction: str):
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; valid: {', '.join(DIRECTIONS)}")


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """Diagonal Gaussian log-density summed over the last axis: ``(..., d) -> (...)``."""
    var = var.expand_as(mean)
    return -0.5 * (((x - mean) ** 2) / var + var.log() + LOG_2PI).sum(-1)


class GaussianKernel(nn.Module):
    """A learned Gaussian kernel in one direction, with optional learned log-variance."""

    def __init__(self, dim: int, direction: str, reference: ReferenceProcess, hidden: int = 64,
                 depth: int = 3, learn_variance: bool = True, max_log_var: float = 2.0,
                 t_scale: float = 1.0, state_scale: float = 1.0, score_fn=None, guidance_scale: float = 1.0,
                 guidance_clip: float = 0.0):
        super().__init__()
        _check_direction(direction)
        self.direction = direction
        self.reference = reference
        self.net = DriftNet(dim, hidden, depth, learn_variance, max_log_var, t_scale, state_scale=state_scale)
        # Optional target-score guidance: score_fn maps (N, d) states to grad log p1, (N, d).
        self.score_fn = score_fn
        self.guidance_scale = float(guidance_scale)
        self.guidance_clip = float(guidance_clip)
        if score_fn is not None:
            time_dim = self.net.embed.freqs.numel() * 2
            self.guidance = nn.Sequential(nn.Linear(time_dim, hidden), nn.SiLU(), nn.Linear(hidden, dim))
            nn.init.zeros_(self.guidance[2].weight)
            nn.init.zeros_(self.guidance[2].bias)

    @property
    def learn_variance(self) -> bool:
        return self.net.learn_variance

    def time_features(self, t: torch.Tensor):
        return self.net.time_features(t)

    def mean_var(self, x: torch.Tensor, t: torch.Tensor, dt: torch.Tensor, t_features=None):
        """Mean ``(..., d)`` and variance ``(..., d)`` or ``(..., 1)`` of the next state, for
        states ``x`` ``(..., d)`` at times ``t`` with steps ``dt`` (both broadcastable
        against ``x[..., 0]``); ``t_features`` optionally precomputed for ``t``."""
        drift, log_var = self.net(x, t, t_features)
        if self.score_fn is not None:
            drift = drift + self.guidance_scale * self.guidance(self.net.embed(t)) * self.score(x)
        if self.direction == "forward":
            base, ref_var = self.reference.transition(x, dt)
        else:
            base, ref_var = x, self.reference.step_variance(dt)[..., None]
        mean = base + dt[..., None] * drift
        var = ref_var if log_var is None else ref_var * log_var.exp()
        return mean, var

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """The guidance score ``grad log p1`` at ``x`` (``(..., d)``), treated as a fixed
        input (no gradient flows through it); each coordinate clipped to
        ``[-guidance_clip, guidance_clip]`` if ``guidance_clip > 0``."""
        flat = x.detach().reshape(-1, x.shape[-1])
        s = self.score_fn(flat)
        if self.guidance_clip > 0:
            s = s.clamp(-self.guidance_clip, self.guidance_clip)
        return s.detach().reshape(x.shape)


class ReferenceKernel(nn.Module):
    """The reference process itself: its forward transition or its exact reversal."""

    learn_variance = False

    def __init__(self, reference: ReferenceProcess, direction: str):
        super().__init__()
        _check_direction(direction)
        self.reference = reference
        self.direction = direction

    def time_features(self, t: torch.Tensor):
        return None

    def mean_var(self, x: torch.Tensor, t: torch.Tensor, dt: torch.Tensor, t_features=None):
        if self.direction == "forward":
            return self.reference.transition(x, dt)
        return self.reference.reversal(x, t, dt)
