"""Metrics of a trained bridge or sampler against ground-truth endpoints (docs/method.md section 5).

All trajectories are drawn fresh; ``source`` and ``target`` are the *full* distributions
(with sampler and, where one exists, density), not the views the trainer saw.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..dynamics import ReferenceKernel, TimeGrid, simulate, transition_log_probs
from ..endpoints.base import Endpoint
from .log_z import elbo, eubo, iw_log_z
from .w2 import mode_weights, w2_squared


def path_log_weights(forward, backward, states: torch.Tensor, grid: TimeGrid, source: Endpoint,
                     target: Endpoint) -> torch.Tensor:
    """``log(p1~(x_K) prod p_b / (p0(x_0) prod p_f))`` per trajectory, ``(N,)``: the log
    importance weight of the forward path measure towards the backward one (its
    expectation under the forward process is an ELBO of log Z1)."""
    log_f = transition_log_probs(forward, states, grid).sum(0)
    log_b = transition_log_probs(backward, states, grid).sum(0)
    return target.log_prob(states[-1]) + log_b - source.log_prob(states[0]) - log_f


def _repeated_iw(forward, backward, grid, source, target, log_w, num_samples, draws, generator) -> dict:
    """IW log Z on ``draws`` independent batches (the first is ``log_w``) and pooled."""
    all_log_w = [log_w]
    for _ in range(draws - 1):
        states = simulate(forward, source.sample(num_samples, generator), grid, generator).states
        all_log_w.append(path_log_weights(forward, backward, states, grid, source, target))
    estimates = [iw_log_z(lw) for lw in all_log_w]
    out = {"iw_log_z_draws": [round(v, 4) for v in estimates], "iw_log_z_pooled": iw_log_z(torch.cat(all_log_w))}
    if target.log_z is not None:
        out["iw_abs_error_max"] = max(abs(v - target.log_z) for v in estimates)
    return out


@torch.no_grad()
def evaluate_bridge(forward, backward, grid: TimeGrid, source: Endpoint, target: Endpoint,
                    num_samples: int = 4000, generator: Optional[torch.Generator] = None,
                    iw_draws: int = 1) -> dict:
    """W2^2, mode coverage, log Z bounds, path KL to the reference and transport cost.

    The importance-weighted log Z of one batch is a random number whose spread can exceed
    its error: with ``iw_draws > 1`` it is also computed on ``iw_draws - 1`` further,
    independent batches of ``num_samples`` trajectories, giving ``iw_log_z_draws`` (all
    draws, the first being ``iw_log_z``), ``iw_abs_error_max`` (the worst draw's
    ``|estimate - true log Z|``, when the truth is known) and ``iw_log_z_pooled`` (one
    estimate from all ``iw_draws * num_samples`` trajectories).

    Returns a dict with ``x0``, ``x1`` (``(num_samples, d)``) and scalar metrics; metrics
    that need a density or a sampler the ends lack are None.
    """
    x0 = source.sample(num_samples, generator)
    fwd = simulate(forward, x0, grid, generator)
    x1 = fwd.x_last
    out = {"x0": x0, "x1": x1, "true_log_z": target.log_z}
    out["w2_squared"] = w2_squared(x1, target.sample(num_samples, generator)) if target.has_samples else None
    out["transport_cost"] = float(((x1 - x0) ** 2).sum(-1).mean())
    ref = ReferenceKernel(forward.reference, "forward")
    out["path_kl_to_reference"] = float((transition_log_probs(forward, fwd.states, grid)
                                         - transition_log_probs(ref, fwd.states, grid)).sum(0).mean())
    if hasattr(target, "assign_modes"):
        num_modes = getattr(target, "num_modes", None)
        if num_modes is not None and num_modes <= 1024:
            w = mode_weights(target.assign_modes(x1), num_modes)
            out["mode_weights"] = [round(float(v), 4) for v in w]
            out["min_mode_weight"] = float(w.min())
    if source.has_density and target.has_density:
        log_w = path_log_weights(forward, backward, fwd.states, grid, source, target)
        out["elbo"], out["iw_log_z"] = elbo(log_w), iw_log_z(log_w)
        if iw_draws > 1:
            out.update(_repeated_iw(forward, backward, grid, source, target, log_w, num_samples, iw_draws,
                                    generator))
        if target.has_samples:
            bwd = simulate(backward, target.sample(num_samples, generator), grid, generator)
            out["eubo"] = eubo(path_log_weights(forward, backward, bwd.states, grid, source, target))
    return out
