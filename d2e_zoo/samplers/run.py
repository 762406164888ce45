"""One entry point for sampling any energy: ULA, MALA or the gradient flow, with a stopping
rule whose outcome is reported next to the samples.

    from d2e_zoo.samplers import sample
    res = sample(energy, num_samples=1000, method="mala", stop="settled", max_steps=2000)
    res.samples            # (1000, d)
    print(res.report())    # steps, wall time, acceptance, R-hat / drift, log-Sobolev time

Stopping rules (``stop``):

* ``"steps"``: exactly ``n_steps`` steps.
* ``"settled"`` (Langevin): stop when the energy statistics settle (:mod:`.diagnostics`).
* ``"log-sobolev"`` (Langevin): run for the sufficient time ``log(KL_0 / eps) / (2 C_LS)``
  (:mod:`.log_sobolev`), measured as the sum of step sizes.
* ``"r_t"`` (gradient flow): stop where ``R_t`` crosses 1 (:mod:`.gradient_flow`).

Whatever the rule, Langevin runs also return the settling diagnostic, so a user can read
whether a fixed budget was enough.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Optional, Union

import torch

from ..exploration.langevin import LangevinSampler
from .derivatives import as_log_prob
from .diagnostics import EnergyDiagnostic, EnergyMonitor
from .gradient_flow import FlowResult, gradient_flow
from .log_sobolev import LogSobolevEstimate, estimate_log_sobolev, langevin_time, relaxation_constant

logger = logging.getLogger(__name__)

__all__ = ["sample", "SamplingResult", "METHODS", "STOP_RULES"]

METHODS = ("mala", "ula", "flow")
STOP_RULES = {"mala": ("steps", "settled", "log-sobolev"), "ula": ("steps", "settled", "log-sobolev"),
              "flow": ("r_t", "steps")}


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


def _initial_states(energy, num_samples, x0, init_std, generator):
    if x0 is not None:
        if not isinstance(x0, torch.Tensor) or x0.ndim != 2:
            raise ValueError(f"x0 must be a tensor of shape (N, d), got {getattr(x0, 'shape', type(x0))}")
        return x0.detach().clone()
    dim = getattr(energy, "dim", None)
    if num_samples is None or dim is None:
        raise ValueError("give x0 (N, d), or num_samples with an energy that has a .dim attribute")
    if int(num_samples) < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples!r}")
    return init_std * torch.randn(int(num_samples), int(dim), generator=generator)


def _log_sobolev_for(energy, states, log_sobolev) -> Optional[LogSobolevEstimate]:
    """The given estimate, or Bakry-Emery on ``states``; None when that has no bound (the run
    then estimates the constant from its own energy relaxation)."""
    if isinstance(log_sobolev, LogSobolevEstimate):
        return log_sobolev
    if isinstance(log_sobolev, (int, float)):
        return LogSobolevEstimate(float(log_sobolev), "given", 0, "given by the caller")
    est = estimate_log_sobolev(energy, states, "bakry-emery")
    return est if est.valid else None


def sample(energy, num_samples: Optional[int] = None, x0: Optional[torch.Tensor] = None, method: str = "mala",
           stop: Optional[str] = None, step_size: float = 0.05, n_steps: int = 200, max_steps: int = 5000,
           tolerance: float = 0.01, kl0: Optional[float] = None,
           log_sobolev: Union[None, float, LogSobolevEstimate] = None, init_std: float = 1.0,
           target_accept: float = 0.574, check_every: int = 25, min_steps: int = 50,
           record_every: Optional[int] = None, generator: Optional[torch.Generator] = None,
           progress: bool = False) -> SamplingResult:
    """Sample ``exp(-U)`` with ``method`` in ``("mala", "ula", "flow")``.

    Args:
        energy: an energy with ``log_prob`` (and ``dim``), or a callable ``(N, d) -> (N,)``.
        num_samples / x0: start from ``N(0, init_std^2 I)`` draws or from given states ``(N, d)``.
        stop: stopping rule (default ``"steps"`` for Langevin, ``"r_t"`` for the flow); see module doc.
        step_size: initial step ``h > 0`` (MALA adapts it per chain towards ``target_accept``).
        n_steps: steps for ``stop="steps"``; max_steps caps the other rules.
        tolerance: KL tolerance ``eps`` of the log-Sobolev rule.
        kl0: ``KL(rho_0 || pi)`` for the log-Sobolev rule; when omitted and the run starts from
            ``N(0, I)``, energies with ``kl_from_prior()`` supply it.
        log_sobolev: ``C_LS`` (a number or an estimate). If omitted: Bakry-Emery at the initial
            states when the energy is convex there, else the empirical relaxation rate of the
            mean energy, fitted once the energy has settled (the run then continues until
            ``tau`` if it is not there yet).
        check_every, min_steps: the settling diagnostic's cadence and minimum run.
        record_every: keep the states every this many steps (Langevin methods; see
            :attr:`SamplingResult.trajectory`).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    stop = stop or ("r_t" if method == "flow" else "steps")
    if stop not in STOP_RULES[method]:
        raise ValueError(f"stopping rule {stop!r} does not apply to {method}; valid: {', '.join(STOP_RULES[method])}")
    if not (isinstance(step_size, (int, float)) and math.isfinite(step_size) and step_size > 0):
        raise ValueError(f"step_size must be a finite number > 0, got {step_size!r}")
    for name, v in (("n_steps", n_steps), ("max_steps", max_steps)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    log_prob = as_log_prob(energy)
    x = _initial_states(energy, num_samples, x0, init_std, generator)
    t0 = time.perf_counter()

    if method == "flow":
        fr = gradient_flow(log_prob, x, step_size, max_steps=n_steps if stop == "steps" else max_steps,
                           stop=stop == "r_t", generator=generator, progress=progress)
        if stop == "steps":
            reason = f"ran the {fr.stop_step} requested steps"
        else:
            reason = (f"R_t crossed 1 at t = {fr.stop_time:.4g}" if fr.crossed else
                      f"max_steps = {max_steps} reached before R_t crossed 1")
        return SamplingResult(samples=fr.samples, method=method, stop=stop, steps=fr.stop_step,
                              seconds=time.perf_counter() - t0, langevin_time=fr.stop_step * fr.step_size,
                              stop_reason=reason, flow=fr)

    ls_est, tau = None, None
    if stop == "log-sobolev":
        if kl0 is None:
            if x0 is None and init_std == 1.0 and hasattr(energy, "kl_from_prior"):
                kl0 = float(energy.kl_from_prior(generator=generator)[0])
            else:
                raise ValueError("the log-Sobolev rule needs kl0 = KL(rho_0 || pi) (or an energy with kl_from_prior() "
                                 "started from N(0, I))")
        ls_est = _log_sobolev_for(energy, x, log_sobolev)
        if ls_est is not None:
            if not ls_est.valid:
                raise ValueError(f"the log-Sobolev constant must be > 0 ({ls_est.detail})")
            tau = langevin_time(kl0, tolerance, ls_est.constant)

    monitor = EnergyMonitor(check_every=check_every, min_steps=min(min_steps, max_steps),
                            stop_when_settled=stop == "settled")

    if record_every is not None and (int(record_every) != record_every or record_every < 1):
        raise ValueError(f"record_every must be an integer >= 1, got {record_every!r}")
    snapshots, snapshot_steps = ([x.clone()], [0]) if record_every else (None, None)

    times: list = []  # Langevin time after each step

    def callback(k, xs, lp, h):
        nonlocal ls_est, tau
        times.append(monitor.elapsed_time + float(h.double().mean()))
        if snapshots is not None and (k + 1) % record_every == 0:
            snapshots.append(xs.clone())
            snapshot_steps.append(k + 1)
        stop_now = monitor(k, xs, lp, h)
        if stop == "log-sobolev" and tau is None and monitor.settled_step is not None:
            diag = monitor.diagnostic()
            est = relaxation_constant(torch.tensor(times), diag.energy_mean, diag.energy_std, xs.shape[0])
            ls_est = est
            if not est.valid:  # nothing to extrapolate from: the settled energy is all there is
                return True
            tau = langevin_time(kl0, tolerance, est.constant)
        return stop_now or (tau is not None and monitor.elapsed_time >= tau)

    budget = n_steps if stop == "steps" else max_steps
    sampler = LangevinSampler(method=method, step_size=step_size, n_steps=budget, target_accept=target_accept,
                              adapt="per_chain" if method == "mala" else "none")
    res = sampler.run(x, log_prob, generator=generator, progress=progress, callback=callback)
    steps = len(res.log_prob_trace)
    if snapshots is not None and snapshot_steps[-1] != steps:
        snapshots.append(res.samples.clone())
        snapshot_steps.append(steps)
    diag = monitor.diagnostic()
    check = None
    if ls_est is not None and ls_est.method == "bakry-emery":
        check = estimate_log_sobolev(energy if hasattr(energy, "log_prob") else log_prob, res.samples, "bakry-emery")
    if stop == "steps":
        reason = f"ran the {steps} requested steps"
    elif stop == "settled":
        reason = (f"energy statistics settled (|drift z| < {monitor.z_tol}) at step {steps}"
                  if monitor.settled_step is not None else f"max_steps = {max_steps} reached before the energy settled")
    elif tau is None and ls_est is not None:
        reason = (f"no log-Sobolev constant: not convex (no Bakry-Emery bound) and {ls_est.detail}; stopped when the "
                  f"energy settled, at step {steps}")
    elif tau is None:
        reason = (f"max_steps = {max_steps} reached before a log-Sobolev constant could be estimated "
                  "(not convex for Bakry-Emery, and the energy never settled to fit its relaxation)")
    else:
        reason = (f"reached the sufficient time tau = {tau:.4g} at step {steps}" if monitor.elapsed_time >= tau else
                  f"max_steps = {max_steps} reached at t = {monitor.elapsed_time:.4g} < tau = {tau:.4g}")
    out = SamplingResult(samples=res.samples, method=method, stop=stop, steps=steps,
                         seconds=time.perf_counter() - t0, langevin_time=monitor.elapsed_time, stop_reason=reason,
                         acceptance_rate=res.acceptance_rate, diagnostic=diag, log_sobolev=ls_est, kl0=kl0,
                         sufficient_time=tau, trajectory=None if snapshots is None else torch.stack(snapshots),
                         trajectory_steps=snapshot_steps, log_sobolev_check=check)
    logger.info(out.report())
    return out
