"""Reference processes Q for the bridge: Brownian motion and Ornstein-Uhlenbeck.

Both are linear-Gaussian, so their transitions are exact for any step size, and so is their
time reversal when the process starts from N(0, init_std^2 I) (init_std > 0):

    forward   x_{k+1} | x_k     ~ N(a_k x_k, c_k I),      a_k = exp(-alpha dt_k),
                                                          c_k = sigma2 (1 - a_k^2) / (2 alpha)
                                                          (= sigma2 dt_k when alpha = 0)
    marginal  x_t               ~ N(0, v(t) I),           v(t) = a(t)^2 init_std^2 + c(t)
    reversal  x_k | x_{k+1}     ~ N(a_k v_k / v_{k+1} x_{k+1}, c_k v_k / v_{k+1} I)

Shapes: ``x`` is ``(..., d)``; ``t`` and ``dt`` are ``(...,)`` (broadcastable against
``x[..., 0]``); returned means are ``(..., d)`` and variances ``(..., 1)`` (isotropic).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

REFERENCE_KINDS = ("brownian", "ou")


@dataclass(frozen=True)
class ReferenceProcess:
    """dX = -alpha X dt + sqrt(sigma2) dW, with X_0 ~ N(0, init_std^2 I) for the reversal."""

    sigma2: float = 1.0
    alpha: float = 0.0
    init_std: float = 1.0

    def __post_init__(self):
        if not self.sigma2 > 0:
            raise ValueError(f"reference noise sigma2 must be > 0, got {self.sigma2}")
        if self.alpha < 0:
            raise ValueError(f"OU rate alpha must be >= 0, got {self.alpha}")

    @classmethod
    def make(cls, kind: str, sigma2: float, alpha: float = 1.0, init_std: float = 1.0) -> "ReferenceProcess":
        if kind == "brownian":
            return cls(sigma2=sigma2, alpha=0.0, init_std=init_std)
        if kind == "ou":
            return cls(sigma2=sigma2, alpha=alpha, init_std=init_std)
        raise ValueError(f"unknown reference process {kind!r}; valid kinds: {', '.join(REFERENCE_KINDS)}")

    def _decay_and_var(self, dt: torch.Tensor):
        if self.alpha == 0.0:
            return torch.ones_like(dt), self.sigma2 * dt
        a = torch.exp(-self.alpha * dt)
        return a, self.sigma2 * (1 - a**2) / (2 * self.alpha)

    def transition(self, x: torch.Tensor, dt: torch.Tensor):
        """Forward kernel mean ``(N, d)`` and variance ``(N, 1)`` over a step ``dt``."""
        a, c = self._decay_and_var(dt)
        if self.alpha == 0.0:  # Brownian: the mean is x itself (skips a multiply per step)
            return x, c[..., None]
        return a[..., None] * x, c[..., None]

    def step_variance(self, dt: torch.Tensor) -> torch.Tensor:
        """The reference's transition variance for steps ``dt``, same shape as ``dt``."""
        return self._decay_and_var(dt)[1]

    def marginal_var(self, t: torch.Tensor) -> torch.Tensor:
        """v(t) of the marginal N(0, v(t) I) when started at N(0, init_std^2 I)."""
        a, c = self._decay_and_var(t)
        return a**2 * self.init_std**2 + c

    def reversal(self, x_next: torch.Tensor, t_next: torch.Tensor, dt: torch.Tensor):
        """Exact backward kernel ``x_k | x_{k+1}``: mean ``(N, d)``, variance ``(N, 1)``."""
        a, c = self._decay_and_var(dt)
        v_prev, v_next = self.marginal_var(t_next - dt), self.marginal_var(t_next)
        return (a * v_prev / v_next)[..., None] * x_next, (c * v_prev / v_next)[..., None]
