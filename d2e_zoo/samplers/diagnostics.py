"""A practical convergence diagnostic for many parallel chains: the energy settling.

The monitor records every chain's energy ``U`` after every step. On the second half of the
steps so far (the first half is burn-in) it computes

* the split-R-hat of ``U`` (Gelman-Rubin over the chains, each split in two): near 1 when all
  chains see the same energy distribution, above 1 while they still drift or sit in regions
  of different energy;
* the drift z-score: per chain, mean ``U`` over the last quarter minus mean over the quarter
  before, averaged over chains and divided by its standard error (chains are independent, so
  this is a valid z even for autocorrelated chains).

"Settled" means ``|z| < z_tol``: the ensemble's energy statistics no longer move, which is
what matters when the answer is the ensemble of final states. "Mixed" means R-hat <
``rhat_tol``: each chain on its own has explored the energy range, a stronger condition
(needed for time averages, and a warning sign when chains sit in regions of different
energy). Neither can see modes with equal energies that are unequally populated: read them
with the class mix, not instead of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional

import torch

__all__ = ["EnergyMonitor", "EnergyDiagnostic", "split_rhat", "drift_z"]


def split_rhat(u: torch.Tensor) -> float:
    """Split-R-hat of a ``(W, N)`` trace (W steps, N chains), ``W >= 4``."""
    w = u.shape[0] // 2
    halves = torch.cat([u[:w], u[w:2 * w]], dim=1).double()  # (w, 2N)
    chain_mean, chain_var = halves.mean(0), halves.var(0)
    within = chain_var.mean()
    between = w * chain_mean.var()
    if within <= 0:
        return 1.0 if between <= 0 else math.inf
    var_hat = (w - 1) / w * within + between / w
    return float((var_hat / within).sqrt())


def drift_z(u: torch.Tensor) -> float:
    """Drift z-score of a ``(W, N)`` trace: last half vs first half, per chain, ``W >= 2``."""
    w = u.shape[0] // 2
    d = (u[w:2 * w].double().mean(0) - u[:w].double().mean(0))
    se = d.std() / math.sqrt(d.numel()) if d.numel() > 1 else torch.tensor(0.0)
    if se <= 0:
        return 0.0 if d.mean() == 0 else math.copysign(math.inf, float(d.mean()))
    return float(d.mean() / se)


@dataclass
class EnergyDiagnostic:
    """The settling diagnostic of one run.

    Attributes:
        steps: steps recorded.
        rhat: split-R-hat of U over the second half of the steps.
        drift_z: drift z-score over the last half of that window.
        settled: |drift_z| < z_tol (the ensemble's energy no longer moves).
        mixed: rhat < rhat_tol (each chain has explored the energy range).
        settled_step: first checked step at which it was settled (None: never).
        energy_mean, energy_std: mean and std of U over the chains after each step ``(steps,)``.
    """

    steps: int
    rhat: float
    drift_z: float
    settled: bool
    mixed: bool
    settled_step: Optional[int]
    energy_mean: torch.Tensor = field(repr=False)
    energy_std: torch.Tensor = field(repr=False)

    def report(self) -> str:
        state = (f"settled from step {self.settled_step}" if self.settled_step is not None else "not settled")
        state += ", chains mixed" if self.mixed else ", chains not yet mixed"
        return (f"energy diagnostic after {self.steps} steps: split-R-hat {self.rhat:.3f}, "
                f"drift z {self.drift_z:+.2f}, "
                f"E[U] {float(self.energy_mean[-1]):.4g} ± {float(self.energy_std[-1]):.3g} ({state})")


class EnergyMonitor:
    """Records per-chain energies; usable as a :meth:`LangevinSampler.run` callback.

    Args:
        check_every: evaluate the diagnostic every this many steps.
        min_steps: never call a run settled before this many steps.
        rhat_tol, z_tol: thresholds for "mixed" and "settled".
        stop_when_settled: make the callback return True (stop the run) once settled.
    """

    def __init__(self, check_every: int = 25, min_steps: int = 50, rhat_tol: float = 1.05, z_tol: float = 3.0,
                 stop_when_settled: bool = False):
        if check_every < 1 or min_steps < 4:
            raise ValueError("check_every must be >= 1 and min_steps >= 4")
        self.check_every, self.min_steps = int(check_every), int(min_steps)
        self.rhat_tol, self.z_tol = float(rhat_tol), float(z_tol)
        self.stop_when_settled = stop_when_settled
        self._trace: List[torch.Tensor] = []
        self.settled_step: Optional[int] = None
        self.elapsed_time = 0.0  # sum of mean step sizes: Langevin time

    def record(self, energy: torch.Tensor, step_size: Optional[torch.Tensor] = None) -> None:
        """Append the energies ``(N,)`` of the current states."""
        self._trace.append(energy.detach().to("cpu", torch.float32))
        if step_size is not None:
            self.elapsed_time += float(step_size.double().mean())

    def __call__(self, k: int, x: torch.Tensor, log_prob: torch.Tensor, h: torch.Tensor) -> bool:
        self.record(-log_prob, h)
        n = len(self._trace)
        if n >= self.min_steps and n % self.check_every == 0 and self.settled_step is None:
            _, z = self._stats()
            if abs(z) < self.z_tol:
                self.settled_step = n
        return self.stop_when_settled and self.settled_step is not None

    def _stats(self):
        u = torch.stack(self._trace)
        window = u[u.shape[0] // 2:]
        if window.shape[0] < 4:
            return math.inf, math.inf
        return split_rhat(window), drift_z(window)

    def diagnostic(self) -> EnergyDiagnostic:
        if not self._trace:
            raise ValueError("no steps were recorded")
        u = torch.stack(self._trace)
        rhat, z = self._stats()
        settled = abs(z) < self.z_tol and len(self._trace) >= self.min_steps
        return EnergyDiagnostic(steps=u.shape[0], rhat=rhat, drift_z=z, settled=settled, mixed=rhat < self.rhat_tol,
                                settled_step=self.settled_step, energy_mean=u.mean(1), energy_std=u.std(1))
