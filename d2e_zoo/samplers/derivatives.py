"""Derivatives of an energy ``U = -log_prob`` by autograd: gradient, Laplacian (exact or by
Hutchinson's estimator) and per-sample Hessians.

Shapes: states ``x`` are ``(N, d)``; ``log_prob(x)`` is ``(N,)``. Every function here takes
``log_prob`` as a callable (an :class:`~d2e_zoo.endpoints.Endpoint`'s bound ``log_prob`` works)
and raises ``ValueError`` when it returns the wrong shape or non-finite values.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

from ..exploration.langevin import LogProb


__all__ = ["as_log_prob", "energy_and_grad", "laplacian", "hessians"]


def as_log_prob(energy) -> LogProb:
    """The unnormalised log-density of ``energy``: an object with ``log_prob`` (an
    :class:`~d2e_zoo.endpoints.Endpoint`, a composed energy) or a callable ``(N, d) -> (N,)``."""
    if hasattr(energy, "log_prob") and callable(energy.log_prob):
        return energy.log_prob
    if callable(energy):
        return energy
    raise ValueError(f"expected an energy with a log_prob method or a callable (N, d) -> (N,), "
                     f"got {type(energy).__name__}")


def _evaluate(log_prob: LogProb, x: torch.Tensor) -> torch.Tensor:
    lp = log_prob(x)
    if not isinstance(lp, torch.Tensor) or lp.shape != (x.shape[0],):
        shape = tuple(lp.shape) if isinstance(lp, torch.Tensor) else type(lp).__name__
        raise ValueError(f"log_prob must return shape ({x.shape[0]},), got {shape}")
    if not torch.isfinite(lp).all():
        bad = int((~torch.isfinite(lp)).sum())
        raise ValueError(f"the energy is non-finite (NaN or inf) at {bad} of {lp.numel()} states")
    return lp


def energy_and_grad(log_prob: LogProb, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(U, grad U)`` at ``x``: shapes ``(N,)`` and ``(N, d)``, detached."""
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        lp = _evaluate(log_prob, xg)
        (g,) = torch.autograd.grad(lp.sum(), xg, allow_unused=True)
    g = torch.zeros_like(x) if g is None else g
    if not torch.isfinite(g).all():
        raise ValueError("the energy's gradient is non-finite (NaN or inf)")
    return -lp.detach(), -g.detach()


def laplacian(log_prob: LogProb, x: torch.Tensor, n_probes: Optional[int] = None,
              generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Energy, gradient and Laplacian of ``U = -log_prob`` at ``x``.

    With ``n_probes=None`` the Laplacian is exact (``d`` Hessian-vector products); otherwise
    Hutchinson's estimator ``mean_j v_j^T (Hess U) v_j`` with ``n_probes`` Rademacher vectors
    ``v_j`` (unbiased; exact whenever the Hessian is diagonal).

    Returns:
        ``(U: (N,), grad U: (N, d), Laplacian U: (N,))``, detached.
    """
    n, d = x.shape
    if n_probes is not None and int(n_probes) < 1:
        raise ValueError(f"n_probes must be >= 1 or None (exact), got {n_probes!r}")
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        lp = _evaluate(log_prob, xg)
        (g,) = torch.autograd.grad(lp.sum(), xg, create_graph=True)
        if n_probes is None:
            probes = [torch.eye(d, device=x.device, dtype=x.dtype)[i].expand(n, d) for i in range(d)]
        else:
            probes = [(torch.randint(0, 2, (n, d), generator=generator).to(x) * 2 - 1) for _ in range(int(n_probes))]
        trace = torch.zeros(n, device=x.device, dtype=x.dtype)
        for k, v in enumerate(probes):
            (hv,) = torch.autograd.grad((g * v).sum(), xg, retain_graph=k < len(probes) - 1, allow_unused=True)
            if hv is not None:
                trace = trace + (hv * v).sum(1).detach()
    if n_probes is not None:
        trace = trace / int(n_probes)
    g = g.detach()
    if not (torch.isfinite(g).all() and torch.isfinite(trace).all()):
        raise ValueError("the energy's gradient or Laplacian is non-finite (NaN or inf)")
    return -lp.detach(), -g, -trace


def hessians(log_prob: LogProb, x: torch.Tensor) -> torch.Tensor:
    """Per-sample Hessians of ``U = -log_prob``: ``(N, d, d)`` (``d`` Hessian-vector products)."""
    n, d = x.shape
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        lp = _evaluate(log_prob, xg)
        (g,) = torch.autograd.grad(lp.sum(), xg, create_graph=True)
        rows = []
        for i in range(d):
            (hi,) = torch.autograd.grad(g[:, i].sum(), xg, retain_graph=i < d - 1, allow_unused=True)
            rows.append(torch.zeros_like(x) if hi is None else hi.detach())
    h = -torch.stack(rows, dim=1)
    return 0.5 * (h + h.transpose(1, 2))
