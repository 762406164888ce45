"""Sufficient Langevin sampling time from a log-Sobolev constant (docs/method.md section 6).

For ``dX = -grad U dt + sqrt(2) dW`` and a target satisfying a log-Sobolev inequality with
constant ``C_LS``, ``KL(rho_t || pi) <= exp(-2 C_LS t) KL(rho_0 || pi)``, so

    tau = log(KL_0 / eps) / (2 C_LS)

is enough time to reach ``KL <= eps``; running longer is harmless. ``C_LS`` is estimated from
the energy itself:

* ``"bakry-emery"``: if ``Hess U >= kappa I`` everywhere then ``C_LS >= kappa``. ``kappa`` is
  taken as the smallest Hessian eigenvalue over the given states (exact for a Gaussian:
  ``1 / sigma_max^2``). Invalid (reported, not used) when some curvature is <= 0.
* ``"holley-stroock"``: for ``U = U_0 + V`` with ``U_0`` ``kappa_0``-strongly convex,
  ``C_LS >= kappa_0 exp(-osc V)``; ``osc V`` (max - min of V) is measured over the states, so
  it is an estimate of the bound, not the bound. Classifier posteriors have this form with
  ``U_0 = |z|^2 / 2`` (``kappa_0 = 1``) and ``V = -log p_T(C | G(z))``. Honest but often
  vacuous: ``osc V`` is tens of nats for those, so the bound is ``e^-50``.
* ``"relaxation"`` (empirical): the rate at which the chains' mean energy relaxes,
  ``E[U]_t - E[U]_inf ∝ exp(-2 C t)``, fitted on a run (:func:`relaxation_constant`). For a
  Gaussian target this is exactly ``C_LS``; in general it is the relaxation rate of one
  statistic, an estimate (not a bound) of the rate at which KL decays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from .derivatives import as_log_prob, hessians

__all__ = ["LogSobolevEstimate", "estimate_log_sobolev", "langevin_time", "gaussian_kl", "relaxation_constant"]

ESTIMATORS = ("bakry-emery", "holley-stroock")


@dataclass
class LogSobolevEstimate:
    """An estimated log-Sobolev constant.

    Attributes:
        constant: the estimate of ``C_LS`` (None when the method's assumption failed).
        method: ``"bakry-emery"`` or ``"holley-stroock"``.
        num_states: how many states it was measured on.
        detail: what was measured (the curvature range, or the oscillation of V).
    """

    constant: Optional[float]
    method: str
    num_states: int
    detail: str

    @property
    def valid(self) -> bool:
        return self.constant is not None and self.constant > 0


def estimate_log_sobolev(energy, states: torch.Tensor, method: str = "bakry-emery",
                         base_curvature: Optional[float] = None,
                         perturbation: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                         max_states: int = 512) -> LogSobolevEstimate:
    """Estimate ``C_LS`` of ``exp(-U)`` from states ``(N, d)`` (ideally spread over the target).

    Args:
        energy: energy with ``log_prob`` or callable (``U = -log_prob``); used by Bakry-Emery.
        states: where to measure, ``(N, d)``; at most ``max_states`` of them are used.
        method: one of ``"bakry-emery"``, ``"holley-stroock"``.
        base_curvature: ``kappa_0`` of the convex part (Holley-Stroock).
        perturbation: ``V(x) -> (N,)``, the bounded part (Holley-Stroock).
    """
    if method not in ESTIMATORS:
        raise ValueError(f"unknown log-Sobolev method {method!r}; valid: {', '.join(ESTIMATORS)}")
    x = states.detach()[:max_states]
    if method == "bakry-emery":
        eig = torch.linalg.eigvalsh(hessians(as_log_prob(energy), x).double())
        lo, med = float(eig[:, 0].min()), float(eig[:, 0].median())
        detail = f"smallest Hessian eigenvalue over {len(x)} states: min {lo:.4g}, median {med:.4g}"
        if lo <= 0:
            return LogSobolevEstimate(None, method, len(x), detail + " (not log-concave there: no Bakry-Emery bound)")
        return LogSobolevEstimate(lo, method, len(x), detail)
    if base_curvature is None or perturbation is None or not base_curvature > 0:
        raise ValueError("the Holley-Stroock estimate needs base_curvature > 0 and a perturbation V(x)")
    with torch.no_grad():
        v = perturbation(x).double()
    if not torch.isfinite(v).all():
        raise ValueError("the perturbation V is non-finite on the given states")
    osc = float(v.max() - v.min())
    return LogSobolevEstimate(float(base_curvature) * math.exp(-osc), method, len(x),
                              f"kappa_0 = {base_curvature:g}, osc V over {len(x)} states = {osc:.4g}")


def relaxation_constant(times: torch.Tensor, energy_mean: torch.Tensor, energy_sd: torch.Tensor,
                        num_chains: int) -> LogSobolevEstimate:
    """Fit ``E[U]_t - E[U]_inf = A exp(-2 C t)`` to a run's mean-energy trace.

    Args:
        times: Langevin time after each step ``(K,)``.
        energy_mean, energy_sd: mean and spread of ``U`` over the chains after each step ``(K,)``.
        num_chains: number of chains (sets the noise level of ``energy_mean``).

    ``E[U]_inf`` is the mean over the last quarter; the fit uses the steps where the gap is
    above 4 standard errors, by least squares on ``log |gap|``. Returns an invalid estimate
    when there are fewer than 3 such steps (the chains started already relaxed).
    """
    t, m = times.double(), energy_mean.double()
    k = len(m)
    tail = m[-max(1, k // 4):]
    m_inf = tail.mean()
    noise = 4.0 * float(energy_sd[-max(1, k // 4):].double().mean()) / max(num_chains, 1) ** 0.5
    gap = (m - m_inf).abs()
    use = gap > noise
    use[-max(1, k // 4):] = False
    first_small = int(torch.nonzero(~use, as_tuple=False)[0]) if (~use).any() else k
    use[first_small:] = False  # only the initial decay, before the trace first reaches the noise
    if int(use.sum()) < 3:
        return LogSobolevEstimate(None, "relaxation", k, "too few steps above the noise to fit a decay rate")
    x, y = t[use], gap[use].log()
    slope = float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())
    if slope >= 0:
        return LogSobolevEstimate(None, "relaxation", k, "the mean energy did not decay")
    return LogSobolevEstimate(-slope / 2.0, "relaxation", k,
                              f"mean energy relaxed at rate {-slope:.4g} per unit time over {int(use.sum())} steps")


def langevin_time(kl0: float, tolerance: float, constant: float) -> float:
    """``tau = log(KL_0 / eps) / (2 C_LS)``, 0 when ``KL_0 <= eps``."""
    for name, v in (("kl0", kl0), ("tolerance", tolerance), ("constant", constant)):
        if not (isinstance(v, (int, float)) and math.isfinite(v)) or (v <= 0 and name != "kl0") or v < 0:
            raise ValueError(f"{name} must be a finite number{' >= 0' if name == 'kl0' else ' > 0'}, got {v!r}")
    return max(0.0, math.log(max(kl0, 1e-300) / tolerance) / (2.0 * constant))


def gaussian_kl(mean0, std0: float, mean1, std1: float) -> float:
    """``KL(N(mean0, std0^2 I) || N(mean1, std1^2 I))`` in ``d = len(mean0)`` dimensions."""
    m0, m1 = torch.as_tensor(mean0, dtype=torch.float64), torch.as_tensor(mean1, dtype=torch.float64)
    d = m0.numel()
    r = (std0 / std1) ** 2
    return float(0.5 * (d * r + ((m1 - m0) ** 2).sum() / std1**2 - d - d * math.log(r)))
