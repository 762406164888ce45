"""Trajectory balance with a learned log Z, for the single-energy diffusion sampler."""

import torch


def trajectory_balance_loss(log_w: torch.Tensor, log_z: torch.Tensor) -> torch.Tensor:
    """``mean_n (log_z + log_w[n])^2`` for ``log_w`` ``(N,)`` (sign convention of docs/method.md section 2:
    log w = -log Z at the optimum, so a learned ``log_z`` scalar estimates log Z1)."""
    return (log_z + log_w).pow(2).mean()
