"""Time grids 0 = t_0 < t_1 < ... < t_K = T for the discrete-time dynamics.

A :class:`TimeGrid` owns the step times and increments, like a diffusers scheduler owns
its timesteps: a model trained on one grid can be simulated on another (e.g. fewer steps),
because kernels are evaluated at (t_k, dt_k) rather than by step index.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

GRID_KINDS = ("uniform", "cosine", "quadratic")


class TimeGridError(ValueError):
    """Invalid time-grid request."""


@dataclass(frozen=True)
class TimeGrid:
    """Increasing times, shape ``(K+1,)``, with ``times[0] = 0`` and ``times[-1] = T``."""

    times: torch.Tensor

    def __post_init__(self):
        t = self.times
        if t.ndim != 1 or t.numel() < 2:
            raise TimeGridError("a time grid needs at least two times (K >= 1 steps)")
        if not bool((t[1:] > t[:-1]).all()):
            raise TimeGridError("time grid must be strictly increasing")

    @classmethod
    def make(cls, num_steps: int, t_max: float = 1.0, kind: str = "uniform") -> "TimeGrid":
        """Build a grid of ``num_steps`` steps on ``[0, t_max]``.

        Kinds: ``uniform``; ``cosine`` (small steps at both ends); ``quadratic``
        (small steps near t = T, where the target's fine structure is formed).
        """
        if not isinstance(num_steps, int) or num_steps < 1:
            raise TimeGridError(f"number of steps K must be an integer >= 1, got {num_steps!r}")
        if not t_max > 0:
            raise TimeGridError(f"t_max must be > 0, got {t_max}")
        u = torch.linspace(0.0, 1.0, num_steps + 1, dtype=torch.float64)
        if kind == "uniform":
            s = u
        elif kind == "cosine":
            s = 0.5 * (1 - torch.cos(torch.pi * u))
        elif kind == "quadratic":
            s = 1 - (1 - u) ** 2
        else:
            raise TimeGridError(f"unknown grid kind {kind!r}; valid kinds: {', '.join(GRID_KINDS)}")
        return cls((s * t_max).float())

    @property
    def num_steps(self) -> int:
        return self.times.numel() - 1

    @property
    def t_max(self) -> float:
        return float(self.times[-1])

    @property
    def dt(self) -> torch.Tensor:
        """Increments ``dt_k = t_{k+1} - t_k``, shape ``(K,)``."""
        return self.times[1:] - self.times[:-1]
