"""The drift network of a trained bridge's kernel as a diffusers model."""

from __future__ import annotations

from typing import Optional

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from ..dynamics.networks import DriftNet
from .common import DEPTH, DIM, SCALE, WIDTH, Limit, RangeCheckedConfig


class BridgeDriftModel(RangeCheckedConfig, ModelMixin, ConfigMixin):
    """Drift ``f(z, t)`` and log-variance multiplier ``v(z, t)`` of a learned Gaussian kernel.

    For the forward kernel (the pipeline's ``bridge``), with the scheduler's reference
    dZ = -alpha Z dt + sqrt(sigma2) dW and a_k = exp(-alpha dt_k),
    c_k = sigma2 (1 - a_k^2) / (2 alpha) (Brownian, alpha = 0: a_k = 1, c_k = sigma2 dt_k):

        p_f(z_{k+1} | z_k) = N(a_k z_k + dt_k f(z_k, t_k), c_k exp(v(z_k, t_k)))

    and for a backward kernel (``backward_bridge``)
    ``p_b(z_k | z_{k+1}) = N(z_{k+1} + dt_k b(z_{k+1}, t_{k+1}), c_k exp(v(z_{k+1}, t_{k+1})))``.
    The maths is :func:`d2e_zoo.dynamics.gaussian_transition` (docs/method.md section 2); the
    reference and the time grid belong to the scheduler (``scheduler.kernel(model)`` joins them
    into a kernel).

    ``forward(z: (N, d), t: (N,) or (), t_features=None) -> (drift: (N, d), log_var: (N, d) or None)``.
    """

    CONFIG_LIMITS = {"dim": DIM, "hidden": WIDTH, "depth": DEPTH, "max_log_var": Limit(1e-3, 20.0, integer=False),
                     "t_scale": SCALE, "time_dim": Limit(2, 1024, multiple_of=2), "state_scale": SCALE}

    @register_to_config
    def __init__(self, dim: int = 10, hidden: int = 128, depth: int = 3, learn_variance: bool = True,
                 max_log_var: float = 2.0, t_scale: float = 1.0, time_dim: int = 16, state_scale: float = 1.0):
        self.check_config({"dim": dim, "hidden": hidden, "depth": depth, "max_log_var": max_log_var,
                           "t_scale": t_scale, "time_dim": time_dim, "state_scale": state_scale})
        super().__init__()
        self.net = DriftNet(dim, hidden, depth, learn_variance, max_log_var, t_scale, time_dim, state_scale)

    @property
    def learn_variance(self) -> bool:
        return self.net.learn_variance

    def time_features(self, t: torch.Tensor) -> torch.Tensor:
        """Precomputed first-layer features of times ``t`` (``(...,)``), see :class:`DriftNet`."""
        return self.net.time_features(t)

    def forward(self, z: torch.Tensor, t: torch.Tensor, t_features: Optional[torch.Tensor] = None):
        t = torch.as_tensor(t, dtype=z.dtype, device=z.device)
        if t.dim() == 0:
            t = t.expand(z.shape[0])
        return self.net(z, t, t_features)

    @classmethod
    def from_drift_net(cls, net: DriftNet) -> "BridgeDriftModel":
        """Wrap a trained :class:`DriftNet` (e.g. ``IPFTrainer.forward.net``), copying its
        weights; the architecture comes from the net's own ``config``."""
        model = cls(**net.config)
        model.net.load_state_dict(net.state_dict())
        return model
