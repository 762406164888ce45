"""The noise-free gradient flow ``dx/dt = -grad U(x)`` with its stopping rule (docs/method.md section 6).

Without noise every particle runs into a critical point of ``U``, so the flow's distribution
first approaches ``exp(-U)`` and then collapses onto the modes. Along the flow

    d/dt KL(rho_t || exp(-U)/Z) = E[Laplacian U] - E[|grad U|^2] = -E[|grad U|^2] (1 - R_t),
    R_t = E_rho_t[Laplacian U] / E_rho_t[|grad U|^2],

so the KL is smallest where ``R_t`` crosses 1: that is where the flow stops. On a Gaussian
target ``N(0, sigma^2 I)`` started from ``N(0, s0^2 I)`` (``s0 > sigma``) the crossing time is
``sigma^2 log(s0 / sigma)``.

Shapes: states ``(N, d)``; traces ``(K + 1,)`` for ``K`` Euler steps (entry ``k`` at time
``k h``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from .derivatives import LogProb, as_log_prob, laplacian

logger = logging.getLogger(__name__)

__all__ = ["FlowResult", "gradient_flow"]


@dataclass
class FlowResult:
    """Output of :func:`gradient_flow`.

    Attributes:
        samples: states at the stopping step, ``(N, d)``.
        stop_step: index ``k`` of the returned states (their time is ``k * step_size``): the
            crossing step when stopping there, else the last step.
        stop_time: interpolated time where ``R_t`` crossed 1 (``stop_step * h`` when it did not;
            with ``stop=False`` the crossing is still reported here).
        crossed: whether ``R_t`` reached 1 within ``max_steps``.
        step_size: the Euler step ``h``.
        times, r_trace, grad_sq_trace, laplacian_trace: per step ``(k + 1,)``: time,
            ``R_t``, ``E|grad U|^2`` and ``E[Laplacian U]`` over the particles.
        energy_trace: mean energy ``E[U]`` per step ``(k + 1,)``.
    """

    samples: torch.Tensor
    stop_step: int
    stop_time: float
    crossed: bool
    step_size: float
    times: torch.Tensor = field(repr=False)
    r_trace: torch.Tensor = field(repr=False)
    grad_sq_trace: torch.Tensor = field(repr=False)
    laplacian_trace: torch.Tensor = field(repr=False)
    energy_trace: torch.Tensor = field(repr=False)

    def report(self) -> str:
        """One line a person can read."""
        if self.crossed:
            return (f"gradient flow stopped at step {self.stop_step} (t = {self.stop_time:.4g}) where "
                    f"R_t = E[Laplacian U] / E|grad U|^2 crossed 1")
        return (f"gradient flow ran its {self.stop_step} steps (t = {self.stop_time:.4g}) without R_t reaching 1 "
                f"(last R_t = {float(self.r_trace[-1]):.3g}): more steps would still lower the KL")


def gradient_flow(energy, x0: torch.Tensor, step_size: float, max_steps: int = 1000,
                  stop: bool = True, n_probes: Optional[int] = 1,
                  generator: Optional[torch.Generator] = None, progress: bool = False,
                  callback: Optional[Callable[[int, torch.Tensor, float], bool]] = None) -> FlowResult:
    """Run Euler steps ``x <- x - h grad U(x)`` from ``x0`` until ``R_t`` crosses 1.

    Args:
        energy: an energy with ``log_prob`` or a callable ``(N, d) -> (N,)`` (``U = -log_prob``).
        x0: initial particles ``(N, d)``.
        step_size: Euler step ``h > 0``.
        max_steps: at most this many steps.
        stop: stop at the first step with ``R_t >= 1``; False runs all ``max_steps`` (traces
            still report where the crossing was).
        n_probes: Rademacher probes for Hutchinson's Laplacian; None computes it exactly.
        generator: randomness for the probes.
        progress: tqdm progress bar.
        callback: called at every step ``k = 0, 1, ...`` (before the Euler step from ``x_k``) as
            ``callback(k, x_k, R_k)`` with the states ``(N, d)`` and their ``R_t``; returning
            True stops the flow there (``x_k`` are then the returned samples).
    """
    h = float(step_size)
    if not math.isfinite(h) or h <= 0:
        raise ValueError(f"step_size must be finite and > 0, got {step_size!r}")
    if int(max_steps) != max_steps or max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
    if not isinstance(x0, torch.Tensor) or x0.ndim != 2:
        raise ValueError(f"x0 must be a tensor of shape (N, d), got {getattr(x0, 'shape', type(x0))}")
    log_prob: LogProb = as_log_prob(energy)
    x = x0.detach().clone()
    r, gsq, lap, en = [], [], [], []
    steps = range(int(max_steps) + 1)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="gradient flow")
    crossed_at = None
    for k in steps:
        u, g, lap_u = laplacian(log_prob, x, n_probes=n_probes, generator=generator)
        g2 = (g**2).sum(1).mean()
        r.append(float(lap_u.mean() / g2.clamp_min(1e-30)))
        gsq.append(float(g2))
        lap.append(float(lap_u.mean()))
        en.append(float(u.mean()))
        if crossed_at is None and r[-1] >= 1.0:
            crossed_at = k
            if stop:
                break
        if callback is not None and callback(k, x, r[-1]):
            break
        if k == max_steps:
            break
        x = x - h * g
    stop_step, samples, stop_time = len(r) - 1, x, (len(r) - 1) * h
    if crossed_at is not None:
        stop_time = crossed_at * h
        if crossed_at > 0:  # linear interpolation of R between the two steps around the crossing
            r0, r1 = r[crossed_at - 1], r[crossed_at]
            stop_time = (crossed_at - 1 + (1.0 - r0) / (r1 - r0)) * h if r1 != r0 else stop_time
    res = FlowResult(samples=samples, stop_step=stop_step, stop_time=stop_time, crossed=crossed_at is not None,
                     step_size=h, times=torch.arange(len(r), dtype=torch.float64) * h,
                     r_trace=torch.tensor(r), grad_sq_trace=torch.tensor(gsq), laplacian_trace=torch.tensor(lap),
                     energy_trace=torch.tensor(en))
    logger.info(res.report())
    return res
