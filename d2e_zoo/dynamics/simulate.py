"""Simulating trajectories in either direction and scoring them under a kernel.

States are always stored in time order: ``states[k]`` is x_k at ``grid.times[k]``, shape
``(K+1, N, d)``, whichever direction generated them. Per-step log-probabilities are
``(K, N)``: entry k scores the transition between x_k and x_{k+1} (x_{k+1} | x_k for a
forward kernel, x_k | x_{k+1} for a backward one).

Scoring is batched over all K steps in one network call, which is what makes off-policy
training fast: simulation runs without gradients, then one call re-scores every
transition with gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ..rng import standard_normal

from .time_grid import TimeGrid
from .transition import gaussian_log_prob

CHUNK_SIZE = 8192  # rows simulated at once (see simulate)


@dataclass
class Trajectory:
    """``states``: ``(K+1, N, d)`` in time order; ``log_probs``: ``(K, N)`` or None."""

    states: torch.Tensor
    log_probs: Optional[torch.Tensor] = None

    @property
    def x0(self) -> torch.Tensor:
        return self.states[0]

    @property
    def x_last(self) -> torch.Tensor:
        return self.states[-1]


def _conditioning_times(grid: TimeGrid, direction: str) -> torch.Tensor:
    """Times of the states each step conditions on, ``(K,)``: t_k forward, t_{k+1} backward."""
    return grid.times[:-1] if direction == "forward" else grid.times[1:]


def simulate(kernel, x_start: torch.Tensor, grid: TimeGrid, generator: Optional[torch.Generator] = None,
             with_log_probs: bool = False, differentiable: bool = False, chunk_size: int = CHUNK_SIZE,
             on_step: Optional[Callable[[int], None]] = None) -> Trajectory:
    """Run ``kernel`` from ``x_start`` (``(N, d)``): at t=0 for a forward kernel, at t=T
    for a backward one. Returns the trajectory in time order.

    Without ``differentiable`` nothing is tracked by autograd (the fast, off-policy path);
    with it, states are reparameterised samples and gradients flow through them. Large
    batches run in chunks of ``chunk_size`` rows, which keeps activations in cache (about
    2x faster for 100k trajectories on a CPU).

    Randomness: each chunk draws all its noise up front, ``randn((K, rows, d))`` from
    ``generator`` (on the generator's device), so one seed gives one set of paths whoever
    calls this (trainer or pipeline). ``on_step(k)`` is called after each step of each chunk
    (e.g. to advance a progress bar of ``K * ceil(N / chunk_size)`` ticks).
    """
    with torch.set_grad_enabled(differentiable and torch.is_grad_enabled()):
        if x_start.shape[0] <= chunk_size:
            return _simulate(kernel, x_start, grid, generator, with_log_probs, on_step)
        parts = [_simulate(kernel, x, grid, generator, with_log_probs, on_step) for x in x_start.split(chunk_size)]
        return Trajectory(torch.cat([p.states for p in parts], dim=1),
                          torch.cat([p.log_probs for p in parts], dim=1) if with_log_probs else None)


def _simulate(kernel, x_start, grid, generator, with_log_probs, on_step) -> Trajectory:
    n, d = x_start.shape
    k_steps = grid.num_steps
    device = x_start.device
    noise = standard_normal((k_steps, n, d), generator, device=device, dtype=x_start.dtype)
    states, log_probs = [None] * (k_steps + 1), [None] * k_steps
    forward = kernel.direction == "forward"
    order = range(k_steps) if forward else range(k_steps - 1, -1, -1)
    # one time per step, shared by the whole batch: embed all K times once, up front
    times = _conditioning_times(grid, kernel.direction)[:, None].to(device, x_start.dtype)
    steps = grid.dt[:, None].to(device, x_start.dtype)
    features = kernel.time_features(times)
    x = x_start
    states[0 if forward else k_steps] = x
    for k in order:
        mean, var = kernel.mean_var(x, times[k], steps[k], None if features is None else features[k])
        x = mean + var.sqrt() * noise[k]
        states[k + 1 if forward else k] = x
        if with_log_probs:
            log_probs[k] = gaussian_log_prob(x, mean, var)
        if on_step is not None:
            on_step(k)
    return Trajectory(torch.stack(states), torch.stack(log_probs) if with_log_probs else None)


def transition_log_probs(kernel, states: torch.Tensor, grid: TimeGrid) -> torch.Tensor:
    """Score every transition of ``states`` (``(K+1, N, d)``) under ``kernel``: ``(K, N)``.

    Differentiable in the kernel's parameters (and in ``states`` if they require grad).
    """
    k_steps = states.shape[0] - 1
    if k_steps != grid.num_steps:
        raise ValueError(f"trajectory has {k_steps} steps but the grid has {grid.num_steps}")
    if kernel.direction == "forward":
        cond, target = states[:-1], states[1:]
    else:
        cond, target = states[1:], states[:-1]
    t = _conditioning_times(grid, kernel.direction)[:, None].to(states.device, states.dtype)
    mean, var = kernel.mean_var(cond, t, grid.dt[:, None].to(states.device, states.dtype))
    return gaussian_log_prob(target, mean, var)
