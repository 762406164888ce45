"""Drift networks: a small MLP of (x, t) with a sinusoidal time embedding.

The output layer is zero-initialised, so a fresh kernel starts as the reference process
(zero learned drift, unit variance multiplier): IPF begins at the reference, as it should.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class TimeEmbedding(nn.Module):
    """Sinusoidal features of ``t / t_scale``: ``(...,) -> (..., dim)``."""

    def __init__(self, dim: int = 16, t_scale: float = 1.0):
        super().__init__()
        half = dim // 2
        freqs = torch.exp(torch.linspace(0.0, math.log(100.0), half)) * math.pi
        self.register_buffer("freqs", freqs, persistent=False)
        self.t_scale = t_scale

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        a = (t / self.t_scale)[..., None] * self.freqs
        return torch.cat([a.sin(), a.cos()], dim=-1)


class DriftNet(nn.Module):
    """MLP ``(x: (N, d), t: (N,)) -> (drift: (N, d), log_var: (N, d) or None)``.

    Args:
        dim: state dimension d.
        hidden: width of the hidden layers.
        depth: number of hidden layers.
        learn_variance: whether to output a per-coordinate log-variance multiplier.
        max_log_var: the log-variance is squashed into ``[-max_log_var, max_log_var]``.
        t_scale: times are divided by this before embedding (use the grid's T).
        state_scale: typical size of the states; the network sees ``x / state_scale`` and
            its drift is multiplied by ``state_scale`` (keeps wide targets well conditioned).

    ``config`` holds these constructor arguments (a dict of plain numbers), so that
    ``DriftNet(**net.config)`` builds the same architecture (e.g. to export a trained net).
    """

    def __init__(self, dim: int, hidden: int = 64, depth: int = 3, learn_variance: bool = True,
                 max_log_var: float = 2.0, t_scale: float = 1.0, time_dim: int = 16,
                 state_scale: float = 1.0):
        super().__init__()
        self.config = dict(dim=int(dim), hidden=int(hidden), depth=int(depth), learn_variance=bool(learn_variance),
                           max_log_var=float(max_log_var), t_scale=float(t_scale), time_dim=int(time_dim),
                           state_scale=float(state_scale))
        self.state_scale = state_scale
        self.dim = dim
        self.learn_variance = learn_variance
        self.max_log_var = max_log_var
        self.embed = TimeEmbedding(time_dim, t_scale)
        # The first layer is split into a state part and a time part, so that a batch
        # sharing one time (simulation) embeds that time once and broadcasts it.
        self.input_x = nn.Linear(dim, hidden)
        self.input_t = nn.Linear(time_dim, hidden, bias=False)
        self.hidden_layers = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth - 1))
        self.head = nn.Linear(hidden, dim * (2 if learn_variance else 1))
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def time_features(self, t: torch.Tensor) -> torch.Tensor:
        """First-layer contribution of the times ``t`` (``(...,)``): ``(..., hidden)``."""
        return self.input_t(self.embed(t.reshape(-1))).view(*t.shape, -1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, t_features: torch.Tensor | None = None):
        """``x``: ``(..., d)``; ``t``: ``(...,)`` broadcastable against ``x[..., 0]`` (e.g.
        ``(K, 1)`` for K steps of N states); ``t_features``: precomputed
        :meth:`time_features` of ``t`` (skips the embedding)."""
        if t_features is None:
            t_features = self.time_features(t)
        # functional calls: this runs K times per simulated batch, module overhead adds up
        if self.state_scale != 1.0:
            x = x / self.state_scale
        h = F.silu(F.linear(x, self.input_x.weight, self.input_x.bias) + t_features)
        for layer in self.hidden_layers:
            h = F.silu(F.linear(h, layer.weight, layer.bias))
        out = F.linear(h, self.head.weight, self.head.bias)
        if self.learn_variance:
            drift, raw = out.chunk(2, dim=-1)
            log_var = self.max_log_var * torch.tanh(raw / self.max_log_var)
        else:
            drift, log_var = out, None
        if self.state_scale != 1.0:
            drift = drift * self.state_scale
        return drift, log_var
