"""Configuration of the generalised IPF trainer (docs/method.md section 3)."""

from __future__ import annotations

import math

from dataclasses import asdict, dataclass, fields
from typing import Optional

from ..dynamics.reference import REFERENCE_KINDS
from ..dynamics.time_grid import GRID_KINDS

METHODS = ("d2d", "d2e", "e2e", "sampler")
ENERGY_LOSSES = ("log_variance", "trajectory_balance", "reverse_kl")
BUFFER_RESAMPLING = ("none", "path_weights")


class ConfigError(ValueError):
    """An invalid training configuration."""


@dataclass
class IPFConfig:
    """Everything that defines a training run; saved as JSON next to every checkpoint.

    Dynamics: ``num_steps`` (K) steps on ``[0, t_max]`` with grid ``grid``; reference
    ``reference`` with noise ``sigma2`` (and OU rate ``alpha``); kernels are MLPs of width
    ``hidden`` and ``depth`` hidden layers, with learned log-variance if ``learn_variance``.

    Schedule: ``ipf_iterations`` outer iterations, each ``backward_steps`` gradient steps on
    the backward kernel then ``forward_steps`` on the forward one (the sampler trains only
    forward). ``batch_size`` trajectories per gradient step.

    Energy ends: ``n_per_start`` (>= 2) trajectories per start point; a fraction of the start
    points comes from the energy end's replay buffer through the other kernel, annealed
    from ``off_policy_start`` to ``off_policy_end`` over training; the buffer holds
    ``buffer_size`` states refreshed by ``langevin_steps`` of MALA with step size
    ``langevin_step`` (annealed to ``langevin_step_final``) from temperature
    ``langevin_temperature`` down to 1. With ``langevin_global_every = m > 0``, every m-th
    MALA step is followed by an independence Metropolis-Hastings move with proposals from
    ``N(0, langevin_global_std^2 I)``: the only move that carries buffer states between
    distant modes, so the buffer holds the modes in the density's proportions wherever that
    Gaussian covers the target (latent posteriors N(z; 0, I) L(z): docs/method.md section 4.4).

    Bridge matching (docs/method.md section 4.5): with ``matching_steps = M > 0`` the last IPF
    iteration's backward half-step becomes M steps fitting both kernels to Brownian bridges
    between entropic-OT pairs of start and end states, which keeps the end's mode weights;
    ``sharpen_last_steps = L`` then lets the last forward half-step's energy loss train only the
    last L transitions (for ``sharpen_steps`` steps, if set, instead of ``forward_steps``, with
    ``sharpen_off_policy``, if set, as its off-policy share of start points), and
    ``matching_weight`` adds the matching loss to that half-step.
    """

    num_steps: int = 20
    t_max: float = 1.0
    grid: str = "uniform"
    reference: str = "brownian"
    sigma2: float = 0.5
    alpha: float = 1.0
    source_std: float = 1.0  # the sampler's Gaussian source (reference reversal starts there)
    hidden: int = 64
    depth: int = 3
    learn_variance: bool = True
    max_log_var: float = 2.0
    state_scale: float = 1.0  # typical state magnitude: networks see x / state_scale
    score_guidance: bool = False  # sampler: forward drift += sigma2 * g(t) * grad log p1(x), g learned from 0
    guidance_clip: float = 0.0  # clip each coordinate of the guidance score to +-this (0: no clipping)

    ipf_iterations: int = 10
    backward_steps: int = 500
    forward_steps: int = 500
    batch_size: int = 128
    lr: float = 1e-3
    lr_log_z: float = 1e-1
    grad_clip: float = 100.0
    pool_batches: int = 16  # batches of the frozen kernel's trajectories simulated at once
    seed: int = 0

    energy_loss: str = "log_variance"
    n_per_start: int = 2
    reuse_other_trajectory: bool = True
    off_policy_start: float = 0.5
    off_policy_end: float = 0.5
    buffer_size: int = 4096
    buffer_refresh_every: int = 0  # extra refreshes every N forward steps (0: once per IPF iteration)
    langevin_steps: int = 200
    langevin_step: float = 1e-2
    langevin_step_final: Optional[float] = None
    langevin_temperature: float = 1.0
    langevin_init_steps: int = 0  # extra annealed steps when the buffer is first filled
    # after every N MALA steps one independence Metropolis-Hastings move with proposals from
    # N(0, langevin_global_std^2 I): moves buffer states between distant modes (0: never)
    langevin_global_every: int = 0
    langevin_global_std: float = 1.0
    buffer_init_std: float = 1.0  # e2e: the source buffer starts from N(0, buffer_init_std^2 I)
    # "path_weights": refill an energy end's buffer by importance resampling of the other
    # end's paths (docs/method.md section 4.2); needs the start end's density
    buffer_resampling: str = "none"
    resampling_candidates: int = 4  # paths simulated per buffer state kept
    resampling_min_ess: float = 0.05  # weights are tempered (w^beta) until their ESS fraction reaches this
    # bridge matching (d2e_zoo/ipf/matching.py): this many steps fit both kernels to Brownian bridges
    # between entropic-OT pairs of start and end states, in place of the last IPF iteration's
    # backward half-step (0: off); matching_weight adds the forward's matching loss, times this
    # weight, to every step of the last forward half-step
    matching_steps: int = 0
    matching_weight: float = 0.0
    # with matching_steps: in the last forward half-step the energy loss reaches only the last N
    # transitions of the forward kernel (0: all); the earlier ones, which choose each path's mode,
    # keep the matched routing while the last ones sharpen towards the density
    sharpen_last_steps: int = 0
    # with sharpen_last_steps: the length of that last forward half-step (0: forward_steps)
    sharpen_steps: int = 0
    # with sharpen_last_steps: the off-policy share of start points in that half-step (None: the
    # schedule's, off_policy_end); 0 starts every path from the source, so the sharpening does not
    # train on backward paths from the buffer, which bridge matching has blurred too
    sharpen_off_policy: Optional[float] = None

    def __post_init__(self):
        self.validate()

    def validate(self):
        def need(cond, msg):
            if not cond:
                raise ConfigError(msg)

        need(isinstance(self.num_steps, int) and self.num_steps >= 1,
             f"number of steps K must be an integer >= 1, got {self.num_steps!r}")
        need(self.t_max > 0, f"t_max must be > 0, got {self.t_max}")
        need(self.grid in GRID_KINDS, f"unknown grid {self.grid!r}; valid: {', '.join(GRID_KINDS)}")
        need(self.reference in REFERENCE_KINDS,
             f"unknown reference {self.reference!r}; valid: {', '.join(REFERENCE_KINDS)}")
        need(self.sigma2 > 0, f"sigma2 must be > 0, got {self.sigma2}")
        need(self.energy_loss in ENERGY_LOSSES,
             f"unknown energy loss {self.energy_loss!r}; valid: {', '.join(ENERGY_LOSSES)}")
        need(self.buffer_resampling in BUFFER_RESAMPLING,
             f"unknown buffer_resampling {self.buffer_resampling!r}; valid: {', '.join(BUFFER_RESAMPLING)}")
        need(isinstance(self.resampling_candidates, int) and 1 <= self.resampling_candidates <= 64,
             f"resampling_candidates must be an integer in 1..64, got {self.resampling_candidates!r}")
        need(0.0 < self.resampling_min_ess <= 1.0,
             f"resampling_min_ess must be in (0, 1], got {self.resampling_min_ess!r}")
        need(self.n_per_start >= 2,
             f"n_per_start must be >= 2 (the per-start mean is subtracted), got {self.n_per_start}")
        need(self.batch_size >= self.n_per_start,
             f"batch_size ({self.batch_size}) must be >= n_per_start ({self.n_per_start})")
        for name in ("off_policy_start", "off_policy_end"):
            v = getattr(self, name)
            need(0.0 <= v <= 1.0, f"{name} must be in [0, 1], got {v}")
        for name in ("ipf_iterations", "backward_steps", "forward_steps", "hidden", "depth", "buffer_size",
                     "pool_batches"):
            need(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        need(self.lr > 0, f"lr must be > 0, got {self.lr}")
        need(isinstance(self.langevin_global_every, int) and self.langevin_global_every >= 0,
             f"langevin_global_every must be an integer >= 0, got {self.langevin_global_every!r}")
        need(math.isfinite(self.langevin_global_std) and self.langevin_global_std > 0,
             f"langevin_global_std must be finite and > 0, got {self.langevin_global_std!r}")
        need(isinstance(self.matching_steps, int) and self.matching_steps >= 0,
             f"matching_steps must be an integer >= 0, got {self.matching_steps!r}")
        need(isinstance(self.sharpen_last_steps, int) and 0 <= self.sharpen_last_steps <= self.num_steps,
             f"sharpen_last_steps must be an integer in 0..num_steps ({self.num_steps}), "
             f"got {self.sharpen_last_steps!r}")
        need(isinstance(self.sharpen_steps, int) and self.sharpen_steps >= 0,
             f"sharpen_steps must be an integer >= 0, got {self.sharpen_steps!r}")
        need(not self.sharpen_steps or self.sharpen_last_steps > 0,
             "sharpen_steps is the length of the sharpening half-step: set sharpen_last_steps > 0 too")
        need(self.sharpen_off_policy is None or 0 <= self.sharpen_off_policy <= 1,
             f"sharpen_off_policy must be in [0, 1] (or absent), got {self.sharpen_off_policy!r}")
        need(self.sharpen_off_policy is None or self.sharpen_last_steps > 0,
             "sharpen_off_policy applies to the sharpening half-step: set sharpen_last_steps > 0 too")
        need(not self.sharpen_last_steps or self.matching_steps > 0,
             "sharpen_last_steps applies after bridge matching: set matching_steps > 0 too")
        need(math.isfinite(self.matching_weight) and self.matching_weight >= 0,
             f"matching_weight must be finite and >= 0, got {self.matching_weight!r}")
        need(not (self.matching_steps or self.matching_weight) or self.reference == "brownian",
             f"bridge matching joins pairs by Brownian bridges: it needs reference = 'brownian', "
             f"got {self.reference!r}")
        need(self.guidance_clip >= 0, f"guidance_clip must be >= 0, got {self.guidance_clip}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "IPFConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown config keys {unknown}; valid keys: {sorted(known)}")
        return cls(**d)
