"""Stopping rules of :func:`~d2e_zoo.samplers.sample`: when a run ends, and why.

Every rule is a small object with one interface:

* ``budget``: the most steps the run may take;
* :meth:`StopRule.start` once, at the initial states (a rule may measure something there);
* :meth:`StopRule.should_stop` after every step, given the run's :class:`SamplerProgress`;
* :meth:`StopRule.reason` after the run: one sentence for the report;
* :meth:`StopRule.outcome`: what the rule measured, as :class:`~d2e_zoo.samplers.SamplingResult`
  fields.

The rules, by the name ``sample(stop=...)`` selects them with:

* ``"steps"`` (any method): exactly ``num_steps`` steps.
* ``"settled"`` (Langevin): stop when the energy statistics settle (:mod:`.diagnostics`).
* ``"log-sobolev"`` (Langevin): run for the sufficient time ``tau = log(KL_0 / eps) / (2 C_LS)``
  (:mod:`.log_sobolev`), measured as the sum of the mean step sizes.
* ``"r_t"`` (gradient flow): stop where ``R_t = E[Laplacian U] / E|grad U|^2`` crosses 1
  (:mod:`.gradient_flow`).

:func:`make_stop_rule` is the one place a name becomes a rule; it names the valid choices
when the name is unknown or does not apply to the method. A caller may also pass its own
:class:`StopRule` instance as ``stop``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Dict, Optional, Tuple, Type, Union

import torch

from .diagnostics import EnergyMonitor
from .gradient_flow import FlowResult
from .log_sobolev import LogSobolevEstimate, estimate_log_sobolev, langevin_time, relaxation_constant

__all__ = ["SamplerProgress", "StopSettings", "StopRule", "FixedSteps", "Settled", "LogSobolevTime", "RCrossing",
           "STOP_RULE_TYPES", "default_stop_rule", "valid_stop_rules", "make_stop_rule"]


@dataclass
class SamplerProgress:
    """What a stopping rule may read after a step.

    Attributes:
        step: steps taken so far (a flow's check before its first step has ``step = 0``).
        states: the current states ``(N, d)``.
        time: time covered, the sum of the mean step sizes (Langevin SDE or flow ODE time).
        monitor: Langevin runs: the per-chain energy record (:class:`.EnergyMonitor`).
        r_t: flow runs: ``R_t`` at ``states``.
        flow: flow runs, once finished: the :class:`.FlowResult` (for :meth:`StopRule.reason`).
    """

    step: int
    states: torch.Tensor
    time: float = 0.0
    monitor: Optional[EnergyMonitor] = None
    r_t: Optional[float] = None
    flow: Optional[FlowResult] = None


@dataclass(frozen=True)
class StopSettings:
    """The arguments of :func:`~d2e_zoo.samplers.sample` that configure a stopping rule.

    Attributes:
        num_steps: steps of the ``"steps"`` rule.
        max_steps: cap of every other rule.
        tolerance: KL tolerance ``eps`` of the log-Sobolev rule.
        kl0: ``KL(rho_0 || pi)`` for the log-Sobolev rule (None: from the energy's
            ``kl_from_prior()`` when the run starts from ``N(0, I)``).
        log_sobolev: ``C_LS`` given by the caller (a number or an estimate), or None.
    """

    num_steps: int
    max_steps: int
    tolerance: float = 0.01
    kl0: Optional[float] = None
    log_sobolev: Union[None, float, LogSobolevEstimate] = None


class StopRule:
    """Base class: a stopping rule (see the module docstring for the interface).

    Class attributes:
        name: the ``stop=`` name that selects it.
        methods: the sampling methods it applies to.
        default_for: the methods for which it is the default rule.
    """

    name: ClassVar[str]
    methods: ClassVar[Tuple[str, ...]]
    default_for: ClassVar[Tuple[str, ...]] = ()

    def __init__(self, budget: int):
        self.budget = int(budget)

    @classmethod
    def from_settings(cls, settings: StopSettings) -> "StopRule":
        """The rule configured by ``sample``'s arguments (by default capped at ``max_steps``)."""
        return cls(settings.max_steps)

    def start(self, energy, states: torch.Tensor, generator: Optional[torch.Generator],
              from_standard_normal: bool) -> None:
        """Called once before the first step with the initial states ``(N, d)``;
        ``from_standard_normal``: they were drawn from ``N(0, I)``."""

    def should_stop(self, progress: SamplerProgress) -> bool:
        """Whether to stop after the step ``progress`` describes (called after every step)."""
        raise NotImplementedError

    def reason(self, progress: SamplerProgress) -> str:
        """Why the run ended, one sentence; ``progress`` describes the last step."""
        raise NotImplementedError

    def outcome(self, energy, progress: SamplerProgress) -> dict:
        """Fields of :class:`~d2e_zoo.samplers.SamplingResult` this rule measured (default none)."""
        return {}


class FixedSteps(StopRule):
    """``"steps"``: exactly ``num_steps`` steps, whatever happens."""

    name = "steps"
    methods = ("mala", "ula", "flow")
    default_for = ("mala", "ula")

    @classmethod
    def from_settings(cls, settings: StopSettings) -> "FixedSteps":
        return cls(settings.num_steps)

    def should_stop(self, progress: SamplerProgress) -> bool:
        return False

    def reason(self, progress: SamplerProgress) -> str:
        return f"ran the {progress.step} requested steps"


class Settled(StopRule):
    """``"settled"``: stop at the first check where the energy statistics have settled
    (``|drift z| < z_tol`` of the run's :class:`.EnergyMonitor`)."""

    name = "settled"
    methods = ("mala", "ula")

    def should_stop(self, progress: SamplerProgress) -> bool:
        return progress.monitor.settled_step is not None

    def reason(self, progress: SamplerProgress) -> str:
        monitor = progress.monitor
        if monitor.settled_step is not None:
            return f"energy statistics settled (|drift z| < {monitor.z_tol}) at step {progress.step}"
        return f"max_steps = {self.budget} reached before the energy settled"


def _given_or_bakry_emery(energy, states: torch.Tensor, given) -> Optional[LogSobolevEstimate]:
    """The caller's ``C_LS`` (a number or an estimate), or Bakry-Emery on ``states``; None when
    that has no bound (the run then estimates the constant from its own energy relaxation)."""
    if isinstance(given, LogSobolevEstimate):
        return given
    if isinstance(given, (int, float)):
        return LogSobolevEstimate(float(given), "given", 0, "given by the caller")
    est = estimate_log_sobolev(energy, states, "bakry-emery")
    return est if est.valid else None


class LogSobolevTime(StopRule):
    """``"log-sobolev"``: run until the Langevin time reaches ``tau = log(KL_0 / eps) / (2 C_LS)``.

    ``C_LS``: the caller's, else Bakry-Emery at the initial states (convex energies), else the
    relaxation rate of the chains' mean energy, fitted once the energy has settled (the run
    then goes on until ``tau`` if it is not there yet; it stops at once when no rate can be
    fitted). With a Bakry-Emery bound, :meth:`outcome` measures it again at the final states.
    """

    name = "log-sobolev"
    methods = ("mala", "ula")

    def __init__(self, budget: int, tolerance: float = 0.01, kl0: Optional[float] = None,
                 log_sobolev: Union[None, float, LogSobolevEstimate] = None):
        super().__init__(budget)
        self.tolerance, self.kl0, self.given = tolerance, kl0, log_sobolev
        self.estimate: Optional[LogSobolevEstimate] = None
        self.tau: Optional[float] = None
        self._times: list = []  # Langevin time after each step, for the relaxation fit

    @classmethod
    def from_settings(cls, settings: StopSettings) -> "LogSobolevTime":
        return cls(settings.max_steps, settings.tolerance, settings.kl0, settings.log_sobolev)

    def start(self, energy, states, generator, from_standard_normal):
        if self.kl0 is None:
            if not (from_standard_normal and hasattr(energy, "kl_from_prior")):
                raise ValueError("the log-Sobolev rule needs kl0 = KL(rho_0 || pi) (or an energy with kl_from_prior() "
                                 "started from N(0, I))")
            self.kl0 = float(energy.kl_from_prior(generator=generator)[0])
        self.estimate = _given_or_bakry_emery(energy, states, self.given)
        if self.estimate is not None:
            if not self.estimate.valid:
                raise ValueError(f"the log-Sobolev constant must be > 0 ({self.estimate.detail})")
            self.tau = langevin_time(self.kl0, self.tolerance, self.estimate.constant)

    def should_stop(self, progress: SamplerProgress) -> bool:
        monitor = progress.monitor
        self._times.append(progress.time)
        if self.tau is None and monitor.settled_step is not None:
            diag = monitor.diagnostic()
            self.estimate = relaxation_constant(torch.tensor(self._times), diag.energy_mean, diag.energy_std,
                                                progress.states.shape[0])
            if not self.estimate.valid:  # nothing to extrapolate from: the settled energy is all there is
                return True
            self.tau = langevin_time(self.kl0, self.tolerance, self.estimate.constant)
        return self.tau is not None and progress.time >= self.tau

    def reason(self, progress: SamplerProgress) -> str:
        steps, t, tau = progress.step, progress.time, self.tau
        if tau is None and self.estimate is not None:
            return (f"no log-Sobolev constant: not convex (no Bakry-Emery bound) and {self.estimate.detail}; stopped "
                    f"when the energy settled, at step {steps}")
        if tau is None:
            return (f"max_steps = {self.budget} reached before a log-Sobolev constant could be estimated "
                    "(not convex for Bakry-Emery, and the energy never settled to fit its relaxation)")
        if t >= tau:
            return f"reached the sufficient time tau = {tau:.4g} at step {steps}"
        return f"max_steps = {self.budget} reached at t = {t:.4g} < tau = {tau:.4g}"

    def outcome(self, energy, progress: SamplerProgress) -> dict:
        check = None
        if self.estimate is not None and self.estimate.method == "bakry-emery":
            check = estimate_log_sobolev(energy, progress.states, "bakry-emery")
        return dict(log_sobolev=self.estimate, kl0=self.kl0, sufficient_time=self.tau, log_sobolev_check=check)


class RCrossing(StopRule):
    """``"r_t"``: stop the gradient flow at the first step with ``R_t >= 1`` (where its KL to
    the target is smallest)."""

    name = "r_t"
    methods = ("flow",)
    default_for = ("flow",)

    def should_stop(self, progress: SamplerProgress) -> bool:
        return progress.r_t >= 1.0

    def reason(self, progress: SamplerProgress) -> str:
        if progress.flow.crossed:
            return f"R_t crossed 1 at t = {progress.flow.stop_time:.4g}"
        return f"max_steps = {self.budget} reached before R_t crossed 1"


STOP_RULE_TYPES: Dict[str, Type[StopRule]] = {r.name: r for r in (FixedSteps, Settled, LogSobolevTime, RCrossing)}


def default_stop_rule(method: str) -> str:
    """The rule ``sample`` uses for ``method`` when ``stop`` is None."""
    for name, rule in STOP_RULE_TYPES.items():
        if method in rule.default_for:
            return name
    methods = dict.fromkeys(m for rule in STOP_RULE_TYPES.values() for m in rule.methods)
    raise ValueError(f"unknown method {method!r}; valid: {', '.join(methods)}")


def valid_stop_rules(method: str) -> Tuple[str, ...]:
    """The rule names that apply to ``method``, its default first."""
    default = default_stop_rule(method)
    return (default,) + tuple(n for n, r in STOP_RULE_TYPES.items() if method in r.methods and n != default)


def make_stop_rule(stop: Union[None, str, StopRule], method: str, settings: StopSettings) -> StopRule:
    """The rule named ``stop`` (None: the method's default) for ``method``, configured by
    ``settings``; a :class:`StopRule` instance is used as it is. Raises ``ValueError`` naming
    the valid choices."""
    valid = valid_stop_rules(method)
    if isinstance(stop, StopRule):
        if method not in stop.methods:
            raise ValueError(f"stopping rule {stop.name!r} does not apply to {method}; it applies to "
                             f"{', '.join(stop.methods)}")
        return stop
    stop = default_stop_rule(method) if stop is None else stop
    if stop not in STOP_RULE_TYPES:
        raise ValueError(f"unknown stopping rule {stop!r}; valid for {method}: {', '.join(valid)}")
    if stop not in valid:
        raise ValueError(f"stopping rule {stop!r} does not apply to {method}; valid: {', '.join(valid)}")
    return STOP_RULE_TYPES[stop].from_settings(settings)
