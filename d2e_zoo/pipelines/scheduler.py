"""A scheduler-style object that owns a bridge's time grid and its reference process.

The learned kernel (``BridgeDriftModel``) is a function of continuous time, so the same
bridge can be sampled on a grid with a different number of steps than it was trained with:
``scheduler.set_timesteps(num_inference_steps)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from diffusers import ConfigMixin, SchedulerMixin
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput

from ..dynamics.kernels import gaussian_log_prob
from ..dynamics.reference import ReferenceProcess
from ..dynamics.time_grid import TimeGrid


@dataclass
class BridgeSchedulerOutput(BaseOutput):
    """``next_sample``: ``(N, d)`` state at the next grid time."""

    next_sample: torch.Tensor


class BridgeScheduler(SchedulerMixin, ConfigMixin):
    """Euler-Maruyama steps of a learned Gaussian kernel on ``[0, t_max]`` (docs/method.md section 2)

        z_{k+1} ~ N(m_ref(z_k, dt_k) + dt_k f(z_k, t_k), c_ref(dt_k) exp(v(z_k, t_k)))

    Args:
        num_train_timesteps: K used in training (the default number of steps).
        t_max: the bridge's time horizon T.
        grid: ``uniform``, ``cosine`` or ``quadratic`` spacing.
        reference: ``brownian`` or ``ou``; ``sigma2`` its noise, ``alpha`` the OU rate.
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

    def mean_var(self, model_output, step_index: int, sample: torch.Tensor):
        """Mean ``(N, d)`` and variance ``(N, d)`` or ``(N, 1)`` of the next state."""
        drift, log_var = model_output
        dt = self.dts[step_index].to(sample)
        base, ref_var = self.reference_process.transition(sample, dt.reshape(1))
        mean = base + dt * drift
        var = ref_var if log_var is None else ref_var * log_var.exp()
        return mean, var

    def step(self, model_output, step_index: int, sample: torch.Tensor, generator: Optional[torch.Generator] = None,
             return_dict: bool = True):
        """Sample ``z_{k+1}`` given ``model_output = (drift, log_var)`` at ``(z_k, t_k)``."""
        mean, var = self.mean_var(model_output, step_index, sample)
        noise = torch.randn(sample.shape, generator=generator, dtype=sample.dtype).to(sample.device)
        nxt = mean + var.sqrt() * noise
        return BridgeSchedulerOutput(next_sample=nxt) if return_dict else (nxt,)

    def log_prob(self, model_output, step_index: int, sample: torch.Tensor, next_sample: torch.Tensor):
        """``log p_f(next_sample | sample)``, shape ``(N,)``."""
        mean, var = self.mean_var(model_output, step_index, sample)
        return gaussian_log_prob(next_sample, mean, var)

    def backward_mean_var(self, model_output, step_index: int, next_sample: torch.Tensor):
        """Mean and variance of the backward kernel ``p_b(z_k | z_{k+1})``, where
        ``model_output = (b, v)`` is a backward model's output at ``(z_{k+1}, t_{k+1})``."""
        drift, log_var = model_output
        dt = self.dts[step_index].to(next_sample)
        ref_var = self.reference_process.step_variance(dt.reshape(1))[..., None]
        mean = next_sample + dt * drift
        return mean, (ref_var if log_var is None else ref_var * log_var.exp())
