"""What :func:`~d2e_zoo.samplers.sample` returns: the samples and how the run ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from .diagnostics import EnergyDiagnostic
from .gradient_flow import FlowResult
from .log_sobolev import LogSobolevEstimate

__all__ = ["SamplingResult"]


@dataclass
class SamplingResult:
    """Samples and how the run ended.

    Attributes:
        samples: ``(N, d)``.
        method, stop: what ran and under which stopping rule.
        steps: steps taken; seconds: wall-clock time of the run.
        langevin_time: sum of the (mean) step sizes, the SDE time covered.
        stop_reason: a sentence saying why the run stopped.
        acceptance_rate: MALA mean acceptance (None otherwise).
        diagnostic: energy settling diagnostic (Langevin runs).
        flow: the gradient flow's traces (flow runs).
        log_sobolev, kl0, sufficient_time: the log-Sobolev stopping inputs and ``tau``.
        log_sobolev_check: a Bakry-Emery estimate was measured at the initial states; this is
            the same estimate at the final states. If it is invalid or smaller, the bound did not
            hold along the run and ``tau`` is not sufficient (the report says so).
        trajectory: with ``record_every``, the states at step 0 and every ``record_every``
            steps (and the last), ``(M, N, d)``; ``trajectory_steps`` their step numbers.
    """

    samples: torch.Tensor
    method: str
    stop: str
    steps: int
    seconds: float
    langevin_time: float
    stop_reason: str
    acceptance_rate: Optional[float] = None
    diagnostic: Optional[EnergyDiagnostic] = None
    flow: Optional[FlowResult] = None
    log_sobolev: Optional[LogSobolevEstimate] = None
    kl0: Optional[float] = None
    sufficient_time: Optional[float] = None
    trajectory: Optional[torch.Tensor] = None
    trajectory_steps: Optional[list] = None
    log_sobolev_check: Optional[LogSobolevEstimate] = None

    def report(self) -> str:
        lines = [f"{self.method}: {self.samples.shape[0]} samples, {self.steps} steps, t = {self.langevin_time:.4g}, "
                 f"{self.seconds:.2f} s" + (f", acceptance {self.acceptance_rate:.2f}"
                                              if self.acceptance_rate is not None else ""),
                 f"stopped: {self.stop_reason}"]
        if self.log_sobolev is not None:
            c = self.log_sobolev.constant
            lines.append(f"log-Sobolev ({self.log_sobolev.method}): C_LS ≈ {c:.4g}" if c else
                         f"log-Sobolev ({self.log_sobolev.method}): no estimate")
            lines[-1] += f" [{self.log_sobolev.detail}]"
        if self.sufficient_time is not None:
            lines.append(f"sufficient Langevin time tau = log(KL0/eps)/(2 C_LS) = {self.sufficient_time:.4g} "
                         f"(KL0 = {self.kl0:.4g})")
        check = self.log_sobolev_check
        if check is not None and (not check.valid or check.constant < self.log_sobolev.constant):
            lines.append(f"WARNING: at the final states {check.detail}: the curvature bound measured at the start "
                         "does not hold where the chains went, so tau is not a guarantee")
        if self.diagnostic is not None:
            lines.append(self.diagnostic.report())
        if self.flow is not None:
            lines.append(self.flow.report())
        return "\n".join(lines)

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("method", "stop", "steps", "seconds", "langevin_time", "stop_reason",
                                             "acceptance_rate", "kl0", "sufficient_time")}
        if self.diagnostic is not None:
            d = self.diagnostic
            out.update(rhat=d.rhat, drift_z=d.drift_z, settled=d.settled, settled_step=d.settled_step)
        if self.log_sobolev is not None:
            out.update(log_sobolev_constant=self.log_sobolev.constant, log_sobolev_method=self.log_sobolev.method)
        if self.log_sobolev_check is not None:
            out.update(log_sobolev_constant_final_states=self.log_sobolev_check.constant)
        if self.flow is not None:
            out.update(flow_stop_time=self.flow.stop_time, flow_crossed=self.flow.crossed)
        return out
