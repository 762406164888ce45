"""A scheduler-style object that owns a bridge's time grid and its reference process.

The learned kernel (``BridgeDriftModel``) is a function of continuous time, so the same
bridge can be sampled on a grid with a different number of steps than it was trained with:
``scheduler.set_timesteps(num_inference_steps)``. The transition maths is not written here:
every method calls :func:`d2e_zoo.dynamics.gaussian_transition`, the function the trainer's
kernels call, and ``scheduler.kernel(model)`` presents a model as the trainer's kind of
kernel, so that the pipeline runs :func:`d2e_zoo.dynamics.simulate` like training does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from diffusers import ConfigMixin, SchedulerMixin
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput

from ..dynamics.kernels import DriftKernel
from ..dynamics.reference import ReferenceProcess
from ..dynamics.time_grid import TimeGrid
from ..dynamics.transition import gaussian_log_prob, gaussian_transition
from ..rng import standard_normal


@dataclass
class BridgeSchedulerOutput(BaseOutput):
    """``next_sample``: ``(N, d)`` state at the next grid time."""

    next_sample: torch.Tensor


class BridgeScheduler(SchedulerMixin, ConfigMixin):
    """Steps of a learned Gaussian kernel on ``[0, t_max]``, with the reference
    dZ = -alpha Z dt + sqrt(sigma2) dW (alpha = 0 for ``brownian``):

        z_{k+1} ~ N(a_k z_k + dt_k f(z_k, t_k), c_k exp(v(z_k, t_k))),
        a_k = exp(-alpha dt_k),  c_k = sigma2 (1 - a_k^2) / (2 alpha)   (Brownian: a_k = 1, c_k = sigma2 dt_k)

    (:mod:`d2e_zoo.dynamics.transition` owns these formulas and the backward kernel's).

    Args:
        num_train_timesteps: K used in training (the default number of steps).
        t_max: the bridge's time horizon T.
        grid: ``uniform``, ``cosine`` or ``quadratic`` spacing.
        reference: ``brownian`` or ``ou``; ``sigma2`` its noise, ``alpha`` the OU rate.
        source_std: the reference's initial standard deviation (used by its exact reversal).
    """

    config_name = "scheduler_config.json"
    order = 1

    @register_to_config
    def __init__(self, num_train_timesteps: int = 20, t_max: float = 1.0, grid: str = "uniform",
                 reference: str = "brownian", sigma2: float = 1.0, alpha: float = 1.0, source_std: float = 1.0):
        self.reference_process = ReferenceProcess.make(reference, sigma2, alpha, source_std)
        self.set_timesteps(num_train_timesteps)

    def set_timesteps(self, num_inference_steps: Optional[int] = None, device=None):
        """Build the grid of ``num_inference_steps`` steps (default: the training K)."""
        k = self.config.num_train_timesteps if num_inference_steps is None else num_inference_steps
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 1000:
            raise ValueError(f"num_inference_steps must be an integer in 1..1000, got {k!r}")
        self.grid = TimeGrid.make(k, self.config.t_max, self.config.grid)
        self.num_inference_steps = k
        self.times = self.grid.times.to(device) if device is not None else self.grid.times  # (K+1,)
        self.timesteps = self.times[:-1]  # (K,) the time each step starts from
        self.dts = self.times[1:] - self.times[:-1]  # (K,)

    def kernel(self, model, direction: str = "forward") -> DriftKernel:
        """``model`` (a :class:`~d2e_zoo.models.BridgeDriftModel`) with this scheduler's
        reference as a kernel in ``direction``, for :func:`d2e_zoo.dynamics.simulate` and
        :func:`d2e_zoo.dynamics.transition_log_probs` on ``self.grid`` (parameters shared)."""
        return DriftKernel(model, direction, self.reference_process)

    def _transition(self, direction: str, model_output, step_index: int, state: torch.Tensor):
        if not 0 <= step_index < self.num_inference_steps:
            raise IndexError(f"step_index must be in 0..{self.num_inference_steps - 1}, got {step_index}")
        drift, log_var = model_output
        dt = self.dts[step_index].to(state).reshape(1)
        return gaussian_transition(self.reference_process, direction, state, dt, drift, log_var)

    def mean_var(self, model_output, step_index: int, sample: torch.Tensor):
        """Mean ``(N, d)`` and variance ``(N, d)`` or ``(N, 1)`` of ``z_{k+1}`` given
        ``model_output = (drift, log_var)``, a forward model's output at ``(z_k, t_k)``."""
        return self._transition("forward", model_output, step_index, sample)

    def step(self, model_output, step_index: int, sample: torch.Tensor, generator: Optional[torch.Generator] = None,
             return_dict: bool = True, variance_noise: Optional[torch.Tensor] = None):
        """Sample ``z_{k+1}`` given ``model_output = (drift, log_var)`` at ``(z_k, t_k)``.

        The noise is ``variance_noise`` (``(N, d)``) if given, else drawn from ``generator``.
        (The pipeline does not loop over this: it runs :func:`d2e_zoo.dynamics.simulate`, which
        draws all K steps' noise at once; feed ``variance_noise[k]`` of one
        ``randn((K, N, d), generator)`` to reproduce its paths with this method.)
        """
        mean, var = self.mean_var(model_output, step_index, sample)
        if variance_noise is None:
            variance_noise = standard_normal(sample.shape, generator, dtype=sample.dtype)
        nxt = mean + var.sqrt() * variance_noise.to(sample)
        return BridgeSchedulerOutput(next_sample=nxt) if return_dict else (nxt,)

    def log_prob(self, model_output, step_index: int, sample: torch.Tensor, next_sample: torch.Tensor):
        """``log p_f(next_sample | sample)``, shape ``(N,)``."""
        mean, var = self.mean_var(model_output, step_index, sample)
        return gaussian_log_prob(next_sample, mean, var)

    def backward_mean_var(self, model_output, step_index: int, next_sample: torch.Tensor):
        """Mean and variance of the backward kernel ``p_b(z_k | z_{k+1})``, where
        ``model_output = (b, v)`` is a backward model's output at ``(z_{k+1}, t_{k+1})``."""
        return self._transition("backward", model_output, step_index, next_sample)

    def backward_log_prob(self, model_output, step_index: int, next_sample: torch.Tensor, sample: torch.Tensor):
        """``log p_b(sample | next_sample)``, shape ``(N,)``."""
        mean, var = self.backward_mean_var(model_output, step_index, next_sample)
        return gaussian_log_prob(sample, mean, var)
