"""On-policy reverse KL, the baseline: trajectories are reparameterised samples of the
forward process and gradients flow through the states (path-wise gradient).

KL(P_f || P_b) = E_{P_f}[log w] + log Z1, so minimising mean log w minimises the KL.
"""

import torch


def reverse_kl_loss(log_w: torch.Tensor) -> torch.Tensor:
    """Mean of ``log_w`` (``(N,)``, differentiable through reparameterised states)."""
    return log_w.mean()
