"""Log-normalising-constant estimators from path log-weights (docs/method.md section 5).

Convention: ``log_w = log( p~(tau) / q(tau) )`` for a trajectory ``tau``, where ``p~`` is the
*unnormalised target* path density (``p0``/``p1~`` end times the kernels of the target
process) and ``q`` the proposal path density, so that ``E_q[w] = Z``. (docs/method.md section 2 writes
the opposite ratio, forward over backward; pass ``-log_w`` of that quantity here.)

With ``p = p~ / Z`` the normalised target path measure:

* ``elbo``:       ``E_q[log w] = log Z - KL(q || p) <= log Z``  (lower bound);
* ``iw_log_z``:   ``log (1/N sum_i w_i)``; its expectation is ``<= log Z`` (Jensen) and
  increases to ``log Z`` as ``N`` grows; always ``>= elbo`` on the same sample;
* ``eubo``:       ``E_p[log w] = log Z + KL(p || q) >= log Z`` (upper bound), from
  trajectories drawn under the *target* path measure;
* ``effective_sample_size``: ``(sum w)^2 / (N sum w^2)`` in ``(0, 1]``, 1 iff all weights
  are equal (then ``elbo == iw_log_z == eubo == log Z``).

All inputs are 1-D, non-empty and finite; outputs are Python floats (computed in float64).
"""

from __future__ import annotations

import math

import torch

__all__ = ["elbo", "iw_log_z", "eubo", "effective_sample_size"]


def _check(log_w: torch.Tensor, name: str = "log_w") -> torch.Tensor:
    log_w = torch.as_tensor(log_w)
    if log_w.ndim != 1:
        raise ValueError(f"{name} must be a 1-D tensor (N,), got shape {tuple(log_w.shape)}")
    if log_w.numel() == 0:
        raise ValueError(f"{name} is empty")
    log_w = log_w.detach().to(torch.float64)
    if not torch.isfinite(log_w).all():
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return log_w


def elbo(log_w: torch.Tensor) -> float:
    """Mean log-weight under the proposal: a lower bound ``E_q[log w] <= log Z``.

    Args:
        log_w: ``(N,)`` log-weights of trajectories drawn from the proposal ``q``.
    """
    return float(_check(log_w).mean())


def iw_log_z(log_w: torch.Tensor) -> float:
    """Importance-weighted estimate ``logsumexp(log_w) - log N`` of ``log Z``.

    Consistent; its expectation is a lower bound that tightens with ``N``; it is ``>=``
    :func:`elbo` on the same weights.

    Args:
        log_w: ``(N,)`` log-weights of trajectories drawn from the proposal ``q``.
    """
    lw = _check(log_w)
    return float(torch.logsumexp(lw, dim=0) - math.log(lw.numel()))


def eubo(log_w_target: torch.Tensor) -> float:
    """Mean log-weight under the target path measure: an upper bound ``E_p[log w] >= log Z``.

    Args:
        log_w_target: ``(N,)`` log-weights ``log(p~/q)`` of trajectories drawn from the
            *target* path measure ``p`` (e.g. backward trajectories from true ``p1`` samples).
    """
    return float(_check(log_w_target, "log_w_target").mean())


def effective_sample_size(log_w: torch.Tensor) -> float:
    """Normalised effective sample size ``(sum w)^2 / (N sum w^2)`` in ``(0, 1]``.

    Args:
        log_w: ``(N,)`` log-weights of trajectories drawn from the proposal ``q``.
    """
    lw = _check(log_w)
    log_ess = 2.0 * torch.logsumexp(lw, dim=0) - torch.logsumexp(2.0 * lw, dim=0) - math.log(lw.numel())
    return float(log_ess.exp().clamp(max=1.0))
