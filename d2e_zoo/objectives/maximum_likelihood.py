"""Maximum-likelihood half-bridge: used when the end being matched is given by samples.

The other process is simulated (no gradient) from samples of that end, and the kernel
being trained maximises the log-likelihood of those transitions.
"""

import torch


def maximum_likelihood_loss(step_log_probs: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood per step and trajectory.

    Args:
        step_log_probs: ``(K, N)`` log-probabilities of the simulated transitions under the
            kernel being trained (differentiable in its parameters).
    Returns:
        scalar ``-mean_{k, n} log p(transition)``.
    """
    return -step_log_probs.mean()
