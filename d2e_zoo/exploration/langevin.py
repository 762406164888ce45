"""Langevin samplers (ULA / MALA) for unnormalised log-densities.

The target is ``pi_T(x) ∝ exp(log_prob(x) / T)`` with temperature ``T > 0`` (``T = 1`` is the
target itself; ``T > 1`` flattens it). One step with step size ``h`` proposes

    y = x + h * grad log_prob(x) / T + sqrt(2 h) * xi,      xi ~ N(0, I),

i.e. an Euler-Maruyama step of ``dX = grad(log_prob / T) dt + sqrt(2) dW`` (docs/method.md section 4).
ULA always takes ``y`` (biased by O(h)); MALA accepts it with the Metropolis-Hastings
probability, which makes ``pi_T`` exactly invariant.

Shapes: states ``x`` are ``(N, d)``; ``log_prob(x)`` is ``(N,)``; a step size is a float or a
per-chain tensor ``(N,)``. Gradients come from autograd. Non-finite log-densities or
gradients raise ``ValueError`` (they are never silently rejected).

:class:`LangevinSampler` runs many steps with step-size annealing, an optional temperature
schedule and (for MALA) multiplicative step-size adaptation towards a target acceptance rate.
It is used to keep the replay buffer of terminal states close to ``p1`` (docs/method.md section 4).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable, Optional, Tuple, Union

import torch

from ..rng import standard_normal, standard_uniform

logger = logging.getLogger(__name__)

LogProb = Callable[[torch.Tensor], torch.Tensor]
StepSize = Union[float, torch.Tensor]

__all__ = ["ula_step", "mala_step", "LangevinSampler", "LangevinResult"]


# ---------------------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------------------
def _check_states(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"states must be a torch.Tensor of shape (N, d), got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"states must have shape (N, d) with N, d >= 1, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"states must be a floating-point tensor, got dtype {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError("states contain non-finite values (NaN or inf)")


def _step_tensor(step_size: StepSize, x: torch.Tensor) -> torch.Tensor:
    """Step size as a ``(N, 1)`` tensor broadcastable against ``x``; validates positivity."""
    n = x.shape[0]
    if isinstance(step_size, torch.Tensor):
        h = step_size.detach().to(device=x.device, dtype=x.dtype)
        if h.ndim == 0:
            h = h.expand(n)
        if h.shape != (n,):
            raise ValueError(
                f"step_size tensor must be a scalar or have shape ({n},), got {tuple(step_size.shape)}"
            )
    else:
        h = torch.full((n,), float(step_size), device=x.device, dtype=x.dtype)
    if not torch.isfinite(h).all() or not (h > 0).all():
        raise ValueError(f"step_size must be finite and > 0, got {step_size!r}")
    return h.unsqueeze(1)


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not math.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be finite and > 0, got {temperature!r}")
    return t


def _log_prob_and_grad(x: torch.Tensor, log_prob: LogProb) -> Tuple[torch.Tensor, torch.Tensor]:
    """Evaluate ``log_prob`` and its gradient at ``x``.

    Returns ``(lp, grad)`` with shapes ``(N,)`` and ``(N, d)``, both detached. Raises
    ``ValueError`` on a wrong output shape or non-finite values.
    """
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        lp = log_prob(xg)
        if not isinstance(lp, torch.Tensor) or lp.shape != (x.shape[0],):
            shape = tuple(lp.shape) if isinstance(lp, torch.Tensor) else type(lp).__name__
            raise ValueError(f"log_prob must return shape ({x.shape[0]},), got {shape}")
        if not torch.isfinite(lp).all():
            bad = int((~torch.isfinite(lp)).sum())
            raise ValueError(f"log_prob returned non-finite values (NaN or inf) for {bad} of {lp.numel()} states")
        (grad,) = torch.autograd.grad(lp.sum(), xg, allow_unused=True)
    if grad is None:  # log_prob does not depend on x
        grad = torch.zeros_like(x)
    if not torch.isfinite(grad).all():
        raise ValueError("gradient of log_prob is non-finite (NaN or inf)")
    return lp.detach(), grad.detach()


def _noise(x: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    return standard_normal(x.shape, generator, device=x.device, dtype=x.dtype)


# ---------------------------------------------------------------------------------------
# single steps
# ---------------------------------------------------------------------------------------
def ula_step(
    x: torch.Tensor,
    log_prob: LogProb,
    step_size: StepSize,
    temperature: float = 1.0,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """One unadjusted Langevin step towards ``exp(log_prob / temperature)``.

    ``x_new = x + h * grad log_prob(x) / T + sqrt(2 h) * xi``.

    Args:
        x: states, ``(N, d)``.
        log_prob: unnormalised log-density, ``(N, d) -> (N,)``.
        step_size: ``h > 0``, float or per-chain tensor ``(N,)``.
        temperature: ``T > 0``.
        generator: optional ``torch.Generator`` for the noise.

    Returns:
        new states ``(N, d)``, detached.
    """
    _check_states(x)
    h = _step_tensor(step_size, x)
    t = _check_temperature(temperature)
    _, grad = _log_prob_and_grad(x, log_prob)
    return _ula_from_grad(x.detach(), grad, h, t, generator)


def _ula_from_grad(x, grad, h, t, generator):
    return x + h * grad / t + torch.sqrt(2.0 * h) * _noise(x, generator)


def _log_q(y: torch.Tensor, x: torch.Tensor, grad_x: torch.Tensor, h: torch.Tensor, t: float) -> torch.Tensor:
    """Log proposal density log q(y | x) up to a constant shared by both directions, ``(N,)``.

    ``q(y | x) = N(y; x + h grad(x) / T, 2 h I)``; with a per-chain ``h`` the normalising
    constant is the same for both directions and cancels in the MH ratio.
    """
    diff = y - x - h * grad_x / t
    return -(diff**2).sum(dim=1) / (4.0 * h.squeeze(1))


def _mala_from_cache(x, lp_x, grad_x, log_prob, h, t, generator):
    """MALA step given cached ``log_prob`` and gradient at ``x``.

    Returns ``(x_new, lp_new, grad_new, accepted)``.
    """
    y = _ula_from_grad(x, grad_x, h, t, generator)
    lp_y, grad_y = _log_prob_and_grad(y, log_prob)
    log_alpha = (lp_y - lp_x) / t + _log_q(x, y, grad_y, h, t) - _log_q(y, x, grad_x, h, t)
    return _metropolis_accept(x, lp_x, grad_x, y, lp_y, grad_y, log_alpha, generator)


def _metropolis_accept(x, lp_x, grad_x, y, lp_y, grad_y, log_alpha, generator):
    """Keep each proposal ``y`` with probability ``min(1, exp(log_alpha))``, else ``x``, with its
    cached log-density and gradient. Returns ``(x_new, lp_new, grad_new, accepted)``."""
    u = standard_uniform((x.shape[0],), generator, device=x.device, dtype=x.dtype)
    accepted = torch.log(u) < log_alpha
    acc = accepted.unsqueeze(1)
    return torch.where(acc, y, x), torch.where(accepted, lp_y, lp_x), torch.where(acc, grad_y, grad_x), accepted


def _independence_from_cache(x, lp_x, grad_x, log_prob, std: float, t: float, generator):
    """One independence Metropolis-Hastings step with the global proposal ``y ~ N(0, std^2 I)``
    (it ignores ``x``, so a chain can jump between modes that Langevin steps never cross):

        log alpha = (log_prob(y) - log_prob(x)) / T + (|y|^2 - |x|^2) / (2 std^2).

    Exact for any target; efficient where the target has most of its mass where the proposal
    does (e.g. a latent posterior ``N(z; 0, I) L(z)`` with ``std = 1``, where it is
    ``L(y) / L(x)``). Returns ``(x_new, lp_new, grad_new, accepted)`` like a MALA step."""
    y = std * _noise(x, generator)
    lp_y, grad_y = _log_prob_and_grad(y, log_prob)
    log_alpha = (lp_y - lp_x) / t + ((y**2).sum(dim=1) - (x**2).sum(dim=1)) / (2.0 * std**2)
    return _metropolis_accept(x, lp_x, grad_x, y, lp_y, grad_y, log_alpha, generator)


def mala_step(
    x: torch.Tensor,
    log_prob: LogProb,
    step_size: StepSize,
    temperature: float = 1.0,
    generator: Optional[torch.Generator] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """One Metropolis-adjusted Langevin step, exactly invariant for ``exp(log_prob / T)``.

    Proposes ``y ~ q(. | x) = N(x + h grad log_prob(x) / T, 2 h I)`` and accepts with
    probability ``min(1, pi_T(y) q(x | y) / (pi_T(x) q(y | x)))``.

    Args:
        x: states, ``(N, d)``.
        log_prob: unnormalised log-density, ``(N, d) -> (N,)``.
        step_size: ``h > 0``, float or per-chain tensor ``(N,)``.
        temperature: ``T > 0``.
        generator: optional ``torch.Generator`` for the noise and the accept draws.

    Returns:
        ``(x_new, accepted)``: new states ``(N, d)`` (detached) and a bool tensor ``(N,)``.
    """
    _check_states(x)
    h = _step_tensor(step_size, x)
    t = _check_temperature(temperature)
    lp_x, grad_x = _log_prob_and_grad(x, log_prob)
    x_new, _, _, accepted = _mala_from_cache(x.detach(), lp_x, grad_x, log_prob, h, t, generator)
    return x_new, accepted


# ---------------------------------------------------------------------------------------
# multi-step sampler
# ---------------------------------------------------------------------------------------
@dataclass
class LangevinResult:
    """Output of :meth:`LangevinSampler.run`.

    Attributes:
        samples: final states, ``(N, d)``.
        log_prob: untempered ``log_prob`` at the final states, ``(N,)``.
        step_size: per-chain step size used in the last step (annealed and adapted), ``(N,)``.
        acceptance_rate: MALA acceptance averaged over all steps and chains; None for ULA.
        acceptance_trace: MALA acceptance per step averaged over chains, ``(num_steps,)``;
            None for ULA.
        log_prob_trace: mean untempered ``log_prob`` over chains after each step, ``(num_steps,)``.
        global_acceptance_rate: acceptance of the independence moves (``global_move_every``),
            averaged over moves and chains; None when there were none.
    """

    samples: torch.Tensor
    log_prob: torch.Tensor
    step_size: torch.Tensor
    acceptance_rate: Optional[float]
    acceptance_trace: Optional[torch.Tensor]
    log_prob_trace: torch.Tensor
    global_acceptance_rate: Optional[float] = None


def _geometric(start: float, end: float, n: int) -> torch.Tensor:
    """``n`` values from ``start`` to ``end`` (both included) on a log scale, float64."""
    if n == 1:
        return torch.tensor([float(end)], dtype=torch.float64)
    frac = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    return float(start) * (float(end) / float(start)) ** frac


@dataclass
class LangevinSampler:
    """Configuration + driver for many ULA / MALA steps.

    At step ``k`` (``k = 0 .. num_steps-1``) the step size is
    ``h_k = base_k * exp(log_scale)`` with ``base_k`` geometric from ``step_size`` to
    ``step_size_final`` (constant when that is None) and ``log_scale`` the MALA adaptation
    state (per chain or global), updated after each step by
    ``log_scale += adapt_rate * (accept - target_accept)``. The temperature is geometric
    from ``temperature_init`` to ``temperature_final`` (default 1.0, the target itself), so
    the last step always targets ``exp(log_prob / temperature_final)``. With ``num_steps == 1``
    the single step uses the final values.

    Attributes:
        method: ``"ula"`` or ``"mala"``.
        step_size: initial step size ``> 0``.
        num_steps: number of Langevin steps ``>= 1``.
        step_size_final: final step size of the geometric annealing (None: no annealing).
        target_accept: MALA target acceptance rate in (0, 1); 0.574 is optimal for smooth
            targets in high dimension.
        adapt: MALA step-size adaptation: ``"per_chain"``, ``"global"`` or ``"none"``;
            ignored for ULA.
        adapt_rate: multiplicative adaptation rate ``> 0``.
        temperature_init: starting temperature ``> 0``.
        temperature_final: final temperature ``> 0``.
        min_step_size, max_step_size: clamp for the adapted step size.
        global_move_every: after every this many Langevin steps, one independence
            Metropolis-Hastings step with proposals from ``N(0, global_move_std^2 I)``
            (:func:`_independence_from_cache`); 0 (default) never. Langevin steps move mass
            only locally, so they cannot fix how much of it sits in each of distant modes;
            these moves can, wherever the proposal covers the target.
        global_move_std: standard deviation ``> 0`` of the global proposal.
    """

    method: str = "mala"
    step_size: float = 1e-2
    num_steps: int = 100
    step_size_final: Optional[float] = None
    target_accept: float = 0.574
    adapt: str = "per_chain"
    adapt_rate: float = 0.05
    temperature_init: float = 1.0
    temperature_final: float = 1.0
    min_step_size: float = 1e-8
    max_step_size: float = 1e3
    global_move_every: int = 0
    global_move_std: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in ("ula", "mala"):
            raise ValueError(f"method must be 'ula' or 'mala', got {self.method!r}")
        for name in ("step_size", "adapt_rate", "temperature_init", "temperature_final",
                     "min_step_size", "max_step_size", "global_move_std"):
            v = float(getattr(self, name))
            if not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be finite and > 0, got {getattr(self, name)!r}")
        if self.step_size_final is not None:
            v = float(self.step_size_final)
            if not math.isfinite(v) or v <= 0:
                raise ValueError(f"step_size_final must be finite and > 0, got {self.step_size_final!r}")
        if int(self.num_steps) != self.num_steps or self.num_steps < 1:
            raise ValueError(f"num_steps must be an integer >= 1, got {self.num_steps!r}")
        if not 0.0 < float(self.target_accept) < 1.0:
            raise ValueError(f"target_accept must be in (0, 1), got {self.target_accept!r}")
        if self.adapt not in ("per_chain", "global", "none"):
            raise ValueError(f"adapt must be 'per_chain', 'global' or 'none', got {self.adapt!r}")
        if self.min_step_size > self.max_step_size:
            raise ValueError("min_step_size must be <= max_step_size")
        if int(self.global_move_every) != self.global_move_every or self.global_move_every < 0:
            raise ValueError(f"global_move_every must be an integer >= 0, got {self.global_move_every!r}")

    # -- schedules ----------------------------------------------------------------------
    def step_size_schedule(self) -> torch.Tensor:
        """Annealed base step size per step, ``(num_steps,)`` float64 (before adaptation)."""
        end = self.step_size if self.step_size_final is None else self.step_size_final
        return _geometric(self.step_size, end, self.num_steps)

    def temperature_schedule(self) -> torch.Tensor:
        """Temperature per step, ``(num_steps,)`` float64, ending at ``temperature_final``."""
        return _geometric(self.temperature_init, self.temperature_final, self.num_steps)

    # -- run ------------------------------------------------------------------------------
    def run(
        self,
        x0: torch.Tensor,
        log_prob: LogProb,
        generator: Optional[torch.Generator] = None,
        progress: bool = False,
        callback: Optional[Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], bool]] = None,
    ) -> LangevinResult:
        """Run ``num_steps`` Langevin steps from ``x0``.

        Args:
            x0: initial states, ``(N, d)``.
            log_prob: unnormalised log-density, ``(N, d) -> (N,)``.
            generator: optional ``torch.Generator`` for all randomness.
            progress: show a tqdm progress bar.
            callback: called after step ``k`` (0-based) as ``callback(k, x, log_prob_x, h)`` with
                the states ``(N, d)``, their untempered log-densities ``(N,)`` and the step sizes
                just used ``(N,)``; returning True stops the run there (the traces are then
                shorter than ``num_steps``).

        Returns:
            :class:`LangevinResult`.
        """
        _check_states(x0)
        x = x0.detach().clone()
        n = x.shape[0]
        bases = self.step_size_schedule().tolist()
        temps = self.temperature_schedule().tolist()
        is_mala = self.method == "mala"
        adapting = is_mala and self.adapt != "none"
        log_scale = torch.zeros(n, device=x.device, dtype=torch.float64)
        lo, hi = math.log(self.min_step_size), math.log(self.max_step_size)

        lp, grad = _log_prob_and_grad(x, log_prob)
        lp_trace = torch.empty(self.num_steps, dtype=torch.float64)
        acc_trace = torch.empty(self.num_steps, dtype=torch.float64) if is_mala else None

        steps = range(self.num_steps)
        if progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, desc=f"langevin ({self.method})")

        h = None
        global_accepts = []
        for k in steps:
            log_h = (math.log(bases[k]) + log_scale).clamp(lo, hi)
            h = log_h.exp().to(x.dtype).unsqueeze(1)
            t = temps[k]
            if is_mala:
                x, lp, grad, accepted = _mala_from_cache(x, lp, grad, log_prob, h, t, generator)
                acc = accepted.to(torch.float64)
                acc_trace[k] = acc.mean()
                if adapting:
                    signal = acc if self.adapt == "per_chain" else acc.mean().expand(n)
                    # keep the adapted scale within the clamp so it cannot drift unboundedly
                    log_scale = (log_scale + self.adapt_rate * (signal - self.target_accept)).clamp(
                        lo - math.log(bases[k]), hi - math.log(bases[k])
                    )
            else:
                x = _ula_from_grad(x, grad, h, t, generator)
                lp, grad = _log_prob_and_grad(x, log_prob)
            if self.global_move_every and (k + 1) % self.global_move_every == 0:
                x, lp, grad, jumped = _independence_from_cache(x, lp, grad, log_prob, self.global_move_std, t,
                                                               generator)
                global_accepts.append(jumped.to(torch.float64).mean())
            lp_trace[k] = lp.to(torch.float64).mean()
            if callback is not None and callback(k, x, lp, h.squeeze(1)):
                lp_trace = lp_trace[: k + 1]
                acc_trace = acc_trace[: k + 1] if acc_trace is not None else None
                break

        acc_rate = float(acc_trace.mean()) if is_mala else None
        if acc_rate is not None:
            logger.debug("MALA run: mean acceptance %.3f over %d steps", acc_rate, self.num_steps)
        return LangevinResult(
            samples=x,
            log_prob=lp,
            step_size=h.squeeze(1).clone(),
            acceptance_rate=acc_rate,
            acceptance_trace=acc_trace.to(torch.float32) if acc_trace is not None else None,
            log_prob_trace=lp_trace.to(torch.float32),
            global_acceptance_rate=float(torch.stack(global_accepts).mean()) if global_accepts else None,
        )
