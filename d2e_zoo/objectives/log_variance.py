"""Off-policy log-variance (VarGrad) losses: used when the end being matched is an energy.

Trajectories come from any behaviour policy (no gradient through the states); the loss is
the variance of log w, which is zero exactly when the two path measures agree up to a
constant. Grouping trajectories by their start point and centring within each group
cancels the start end's log-density: the start end may be data with unknown density.
"""

import torch


def log_variance_loss(log_w: torch.Tensor) -> torch.Tensor:
    """Variance of ``log_w`` (``(N,)``) around its batch mean (VarGrad); scalar."""
    return (log_w - log_w.mean()).pow(2).mean()


def grouped_log_variance_loss(log_w: torch.Tensor) -> torch.Tensor:
    """Per-group variance of log weights, averaged over groups.

    Args:
        log_w: ``(G, n)``: G groups of n >= 2 trajectories sharing a start point; the
            start point's log-density may be left out of ``log_w`` (it cancels).
    Returns:
        scalar ``mean_g mean_i (log_w[g, i] - mean_j log_w[g, j])^2 * n / (n - 1)``.
    """
    if log_w.ndim != 2 or log_w.shape[1] < 2:
        raise ValueError(f"grouped log-variance needs (groups, n >= 2) log weights, got {tuple(log_w.shape)}")
    n = log_w.shape[1]
    return (log_w - log_w.mean(1, keepdim=True)).pow(2).mean() * n / (n - 1)
