"""The forward kernel of a trained bridge as a diffusers model."""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from ..dynamics.networks import DriftNet
from .common import DEPTH, DIM, SCALE, WIDTH, Limit, RangeCheckedConfig


class BridgeDriftModel(RangeCheckedConfig, ModelMixin, ConfigMixin):
    """Drift ``f(z, t)`` and log-variance multiplier ``v(z, t)`` of the forward kernel

        p_f(z_{k+1} | z_k) = N(z_k + dt_k f(z_k, t_k), sigma2 dt_k exp(v(z_k, t_k)))

    (docs/method.md section 2; the reference's sigma2 and the time grid belong to the scheduler).
    ``forward(z: (N, d), t: (N,) or ()) -> (drift: (N, d), log_var: (N, d) or None)``.
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

    def forward(self, z: torch.Tensor, t: torch.Tensor):
        t = torch.as_tensor(t, dtype=z.dtype, device=z.device)
        if t.dim() == 0:
            t = t.expand(z.shape[0])
        return self.net(z, t)

    @classmethod
    def from_drift_net(cls, net: DriftNet) -> "BridgeDriftModel":
        """Wrap a trained :class:`DriftNet` (e.g. ``IPFTrainer.forward.net``), copying its weights."""
        model = cls(dim=net.dim, hidden=net.input_x.out_features, depth=len(net.hidden_layers) + 1,
                    learn_variance=net.learn_variance, max_log_var=net.max_log_var, t_scale=net.embed.t_scale,
                    time_dim=net.embed.freqs.numel() * 2, state_scale=net.state_scale)
        model.net.load_state_dict(net.state_dict())
        return model
