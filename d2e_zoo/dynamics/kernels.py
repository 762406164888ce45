"""Gaussian transition kernels, forward and backward (docs/method.md section 2; the maths is
:mod:`d2e_zoo.dynamics.transition`).

    forward   p_f(x_{k+1} | x_k)  = N(a_k x_k + dt_k [f(x_k, t_k) + g(x_k, t_k)],  c_k exp(v_f(x_k, t_k)))
    backward  p_b(x_k | x_{k+1})  = N(x_{k+1} + dt_k b(x_{k+1}, t_{k+1}),           c_k exp(v_b(x_{k+1}, t_{k+1})))

where ``a_k``, ``c_k`` are the reference process's transition decay and variance (Brownian:
``a_k = 1``, ``c_k = sigma2 dt_k``). A forward :class:`GaussianKernel` may add target-score
guidance ``g`` (optional, off by default): ``g(x, t) = scale * h(t) * clip(grad log p1(x))``
with a learned per-time, per-coordinate ``h(t)`` initialised at zero (so a fresh kernel is
still the reference). Every kernel answers ``mean_var(x, t, dt)`` for the state it
conditions on (x_k at t_k for a forward kernel, x_{k+1} at t_{k+1} for a backward one), so
the same kernel can be run on any time grid.

* :class:`DriftKernel` turns any drift network (a :class:`DriftNet`, or a pipeline's
  :class:`~d2e_zoo.models.BridgeDriftModel`) and a reference into a kernel; it is how the
  pipeline runs the same simulation code as training.
* :class:`GaussianKernel` is the trainer's kernel: a :class:`DriftKernel` that builds its own
  network, with optional guidance.
* :class:`ReferenceKernel` wraps the reference itself (forward transition or exact reversal)
  and has no parameters: the initial forward process of IPF, and the fixed backward process
  of the diffusion sampler.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .networks import DriftNet
from .reference import ReferenceProcess
from .transition import DIRECTIONS, check_direction, gaussian_log_prob, gaussian_transition

__all__ = ["DIRECTIONS", "DriftKernel", "GaussianKernel", "ReferenceKernel", "gaussian_log_prob"]


class DriftKernel(nn.Module):
    """A Gaussian kernel in one direction whose drift and log-variance multiplier come from
    ``net``: any module with ``net(x: (..., d), t: (...,), t_features=None) -> (drift: (..., d),
    log_var: (..., d) or None)`` and ``net.time_features(t)`` (precomputed time features, so a
    simulation embeds its K times once). ``net``'s parameters are shared, not copied."""

    def __init__(self, net: nn.Module, direction: str, reference: ReferenceProcess):
        super().__init__()
        check_direction(direction)
        self.direction = direction
        self.reference = reference
        self.net = net

    @property
    def learn_variance(self) -> bool:
        return bool(self.net.learn_variance)

    def time_features(self, t: torch.Tensor):
        return self.net.time_features(t)

    def guidance_drift(self, x: torch.Tensor, t: torch.Tensor) -> Optional[torch.Tensor]:
        """An added drift term ``(..., d)`` (None: none). Overridden by guided kernels."""
        return None

    def mean_var(self, x: torch.Tensor, t: torch.Tensor, dt: torch.Tensor, t_features=None):
        """Mean ``(..., d)`` and variance ``(..., d)`` or ``(..., 1)`` of the next state, for
        states ``x`` ``(..., d)`` at times ``t`` with steps ``dt`` (both broadcastable
        against ``x[..., 0]``); ``t_features`` optionally precomputed for ``t``."""
        drift, log_var = self.net(x, t, t_features)
        return gaussian_transition(self.reference, self.direction, x, dt, drift, log_var,
                                   self.guidance_drift(x, t))


class GaussianKernel(DriftKernel):
    """A learned Gaussian kernel in one direction, with optional learned log-variance and
    (forward) optional target-score guidance ``score_fn`` (maps ``(N, d)`` states to
    ``grad log p1``, ``(N, d)``)."""

    def __init__(self, dim: int, direction: str, reference: ReferenceProcess, hidden: int = 64,
                 depth: int = 3, learn_variance: bool = True, max_log_var: float = 2.0,
                 t_scale: float = 1.0, state_scale: float = 1.0, score_fn=None, guidance_scale: float = 1.0,
                 guidance_clip: float = 0.0):
        check_direction(direction)
        super().__init__(DriftNet(dim, hidden, depth, learn_variance, max_log_var, t_scale, state_scale=state_scale),
                         direction, reference)
        self.score_fn = score_fn
        self.guidance_scale = float(guidance_scale)
        self.guidance_clip = float(guidance_clip)
        if score_fn is not None:
            time_dim = self.net.embed.freqs.numel() * 2
            self.guidance = nn.Sequential(nn.Linear(time_dim, hidden), nn.SiLU(), nn.Linear(hidden, dim))
            nn.init.zeros_(self.guidance[2].weight)
            nn.init.zeros_(self.guidance[2].bias)

    def guidance_drift(self, x: torch.Tensor, t: torch.Tensor) -> Optional[torch.Tensor]:
        """``guidance_scale * h(t) * score(x)``, ``(..., d)``; None without a ``score_fn``."""
        if self.score_fn is None:
            return None
        return self.guidance_scale * self.guidance(self.net.embed(t)) * self.score(x)

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
    """The reference process itself: its forward transition (:func:`gaussian_transition`
    with no learned part) or its exact reversal (:meth:`ReferenceProcess.reversal`)."""

    learn_variance = False

    def __init__(self, reference: ReferenceProcess, direction: str):
        super().__init__()
        check_direction(direction)
        self.reference = reference
        self.direction = direction

    def time_features(self, t: torch.Tensor):
        return None

    def mean_var(self, x: torch.Tensor, t: torch.Tensor, dt: torch.Tensor, t_features=None):
        if self.direction == "forward":
            return gaussian_transition(self.reference, "forward", x, dt)
        return self.reference.reversal(x, t, dt)
