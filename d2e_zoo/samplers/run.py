"""One entry point for sampling any energy: ULA, MALA or the gradient flow, with a stopping
rule whose outcome is reported next to the samples.

    from d2e_zoo.samplers import sample
    res = sample(energy, num_samples=1000, method="mala", stop="settled", max_steps=2000)
    res.samples            # (1000, d)
    print(res.report())    # steps, wall time, acceptance, R-hat / drift, log-Sobolev time

Stopping rules (``stop``; each a small class in :mod:`.stopping`):

* ``"steps"``: exactly ``num_steps`` steps.
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
import numbers
import time
from typing import Optional, Union

import torch

from ..exploration.langevin import LangevinSampler
from ..rng import standard_normal
from .derivatives import as_log_prob
from .diagnostics import EnergyMonitor
from .gradient_flow import gradient_flow
from .log_sobolev import LogSobolevEstimate
from .result import SamplingResult
from .stopping import SamplerProgress, StopRule, StopSettings, make_stop_rule, valid_stop_rules

logger = logging.getLogger(__name__)

__all__ = ["sample", "SamplingResult", "SAMPLING_METHODS", "STOP_RULES"]

SAMPLING_METHODS = ("mala", "ula", "flow")
# the rule names per method, default first
STOP_RULES = {method: valid_stop_rules(method) for method in SAMPLING_METHODS}


def _check_number(name: str, value, low: float, strict: bool = True) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not (ok and (value > low if strict else value >= low)):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low:g}, got {value!r}")


def _check_count(name: str, value, low: int) -> None:
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
            or int(value) != value or value < low):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_arguments(method, step_size, num_steps, max_steps, tolerance, kl0, init_std, target_accept, check_every,
                     min_steps, record_every) -> None:
    """Every numeric argument of :func:`sample`, before any work."""
    if method not in SAMPLING_METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(SAMPLING_METHODS)}")
    _check_number("step_size", step_size, 0)
    for name, v, low in (("num_steps", num_steps, 1), ("max_steps", max_steps, 1), ("check_every", check_every, 1),
                         ("min_steps", min_steps, 4)):
        _check_count(name, v, low)
    if record_every is not None:
        _check_count("record_every", record_every, 1)
    _check_number("tolerance", tolerance, 0)
    _check_number("init_std", init_std, 0)
    if kl0 is not None:
        _check_number("kl0", kl0, 0, strict=False)
    if not (isinstance(target_accept, numbers.Real) and 0.0 < target_accept < 1.0):
        raise ValueError(f"target_accept must be in (0, 1), got {target_accept!r}")


def _initial_states(energy, num_samples, x0, init_std, generator) -> torch.Tensor:
    """``x0`` (copied) or ``num_samples`` draws of ``N(0, init_std^2 I)`` in ``energy.dim``: ``(N, d)``."""
    if x0 is not None:
        if not isinstance(x0, torch.Tensor) or x0.ndim != 2:
            raise ValueError(f"x0 must be a tensor of shape (N, d), got {getattr(x0, 'shape', type(x0))}")
        if not torch.isfinite(x0).all():
            raise ValueError("x0 contains non-finite values (NaN or inf)")
        return x0.detach().clone()
    dim = getattr(energy, "dim", None)
    if num_samples is None or dim is None:
        raise ValueError("give x0 (N, d), or num_samples with an energy that has a .dim attribute")
    if int(num_samples) < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples!r}")
    return init_std * standard_normal((int(num_samples), int(dim)), generator)


class _Trajectory:
    """The states at step 0 and every ``every`` steps (and the last), for ``record_every``."""

    def __init__(self, every: Optional[int], x0: torch.Tensor):
        self.every = every
        self.states, self.steps = ([x0.clone()], [0]) if every else (None, None)

    def after_step(self, step: int, x: torch.Tensor) -> None:
        if self.states is not None and step % self.every == 0:
            self.states.append(x.clone())
            self.steps.append(step)

    def finish(self, step: int, x: torch.Tensor) -> dict:
        """``SamplingResult`` fields ``trajectory`` ``(M, N, d)`` and ``trajectory_steps``."""
        if self.states is not None and self.steps[-1] != step:
            self.states.append(x.clone())
            self.steps.append(step)
        return dict(trajectory=None if self.states is None else torch.stack(self.states), trajectory_steps=self.steps)


def _run_flow(log_prob, x, rule: StopRule, step_size, generator, progress) -> dict:
    """The gradient flow under ``rule``; returns ``SamplingResult`` fields."""
    def callback(k, xs, r):
        return rule.should_stop(SamplerProgress(step=k, states=xs, time=k * step_size, r_t=r))

    fr = gradient_flow(log_prob, x, step_size, max_steps=rule.budget, stop=False, generator=generator,
                       progress=progress, callback=callback)
    last = SamplerProgress(step=fr.stop_step, states=fr.samples, time=fr.stop_step * fr.step_size, flow=fr)
    return dict(samples=fr.samples, steps=fr.stop_step, langevin_time=last.time, stop_reason=rule.reason(last),
                flow=fr)


def _run_langevin(energy, log_prob, x, method, rule: StopRule, step_size, target_accept, monitor: EnergyMonitor,
                  record_every, generator, progress) -> dict:
    """ULA or MALA under ``rule``, recording the energies in ``monitor``; returns
    ``SamplingResult`` fields."""
    trajectory = _Trajectory(record_every, x)
    now = SamplerProgress(step=0, states=x, monitor=monitor)

    def callback(k, xs, lp, h):
        trajectory.after_step(k + 1, xs)
        monitor(k, xs, lp, h)
        now.step, now.states, now.time = k + 1, xs, monitor.elapsed_time
        return rule.should_stop(now)

    sampler = LangevinSampler(method=method, step_size=step_size, num_steps=rule.budget, target_accept=target_accept,
                              adapt="per_chain" if method == "mala" else "none")
    res = sampler.run(x, log_prob, generator=generator, progress=progress, callback=callback)
    last = SamplerProgress(step=len(res.log_prob_trace), states=res.samples, time=monitor.elapsed_time, monitor=monitor)
    return dict(samples=res.samples, steps=last.step, langevin_time=last.time, stop_reason=rule.reason(last),
                acceptance_rate=res.acceptance_rate, diagnostic=monitor.diagnostic(),
                **trajectory.finish(last.step, res.samples),
                **rule.outcome(energy, last))


def sample(energy, num_samples: Optional[int] = None, x0: Optional[torch.Tensor] = None, method: str = "mala",
           stop: Union[None, str, StopRule] = None, step_size: float = 0.05, num_steps: int = 200,
           max_steps: int = 5000,
           tolerance: float = 0.01, kl0: Optional[float] = None,
           log_sobolev: Union[None, float, LogSobolevEstimate] = None, init_std: float = 1.0,
           target_accept: float = 0.574, check_every: int = 25, min_steps: int = 50,
           record_every: Optional[int] = None, generator: Optional[torch.Generator] = None,
           progress: bool = False) -> SamplingResult:
    """Sample ``exp(-U)`` with ``method`` in ``("mala", "ula", "flow")``.

    Args:
        energy: an energy with ``log_prob`` (and ``dim``), or a callable ``(N, d) -> (N,)``.
        num_samples / x0: start from ``N(0, init_std^2 I)`` draws or from given states ``(N, d)``.
        stop: stopping rule by name (default ``"steps"`` for Langevin, ``"r_t"`` for the flow; see the
            module doc) or a :class:`~d2e_zoo.samplers.stopping.StopRule` instance.
        step_size: initial step ``h > 0`` (MALA adapts it per chain towards ``target_accept``).
        num_steps: steps for ``stop="steps"``; max_steps caps the other rules.
        tolerance: KL tolerance ``eps`` of the log-Sobolev rule.
        kl0: ``KL(rho_0 || pi)`` for the log-Sobolev rule; when omitted and the run starts from
            ``N(0, I)``, energies with ``kl_from_prior()`` supply it.
        log_sobolev: ``C_LS`` (a number or an estimate). If omitted: Bakry-Emery at the initial
            states when the energy is convex there, else the empirical relaxation rate of the
            mean energy, fitted once the energy has settled (the run then continues until
            ``tau`` if it is not there yet).
        check_every, min_steps: the settling diagnostic's cadence and minimum run (``min_steps >= 4``;
            runs capped below it use the cap, but at least 4).
        record_every: keep the states every this many steps (Langevin methods; see
            :attr:`SamplingResult.trajectory`).

    Raises:
        ValueError: on any bad argument (naming it and the valid range or choices), before any work.
    """
    _check_arguments(method, step_size, num_steps, max_steps, tolerance, kl0, init_std, target_accept, check_every,
                     min_steps, record_every)
    rule = make_stop_rule(stop, method, StopSettings(num_steps, max_steps, tolerance, kl0, log_sobolev))
    log_prob = as_log_prob(energy)
    x = _initial_states(energy, num_samples, x0, init_std, generator)
    t0 = time.perf_counter()
    rule.start(energy, x, generator, from_standard_normal=x0 is None and init_std == 1.0)
    if method == "flow":
        fields = _run_flow(log_prob, x, rule, step_size, generator, progress)
    else:
        monitor = EnergyMonitor(check_every=check_every, min_steps=min(min_steps, max(max_steps, 4)))
        fields = _run_langevin(energy, log_prob, x, method, rule, step_size, target_accept, monitor, record_every,
                               generator, progress)
    out = SamplingResult(method=method, stop=rule.name, seconds=time.perf_counter() - t0, **fields)
    logger.info(out.report())
    return out
