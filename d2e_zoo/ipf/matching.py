"""Bridge matching on entropic optimal-transport pairs: a half-step that keeps both end
marginals (docs/method.md section 4.5).

Given states ``x0 ~ p0`` and ``x1 ~ p1`` (a batch of each), pair them by the static
Schrödinger problem of a Brownian reference with noise ``sigma2`` on ``[0, T]``, which is
entropic optimal transport with squared-distance cost and regularisation ``epsilon = 2 sigma2 T``:

    P = argmin_{P in U(1/n, 1/n)}  sum_ij P_ij |x0_i - x1_j|^2 + epsilon sum_ij P_ij log P_ij

(:func:`sinkhorn_plan`, log-domain Sinkhorn), draw one partner per ``x0_i`` from row i of P
(:func:`entropic_pairs`), join each pair by a discrete Brownian bridge on the training grid
(:func:`brownian_bridge_paths`)

    x_{k+1} | x_k, x1  ~  N(x_k + dt_k / (T - t_k) (x1 - x_k),  sigma2 dt_k (T - t_{k+1}) / (T - t_k) I),

and fit a kernel to those transitions by maximum likelihood. The fitted kernel is the
Markovian projection of the mixture of bridges: its marginal at every grid time is the
mixture's, so it carries p0 to p1 *with p1's mode weights* however the modes sit, which IPF
half-steps only approach in the limit. Both kernels are fitted to the same paths.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from ..dynamics import TimeGrid, transition_log_probs
from ..objectives import maximum_likelihood_loss

__all__ = ["brownian_bridge_paths", "entropic_pairs", "matching_loss", "sinkhorn_plan"]


def sinkhorn_plan(cost: torch.Tensor, epsilon: float, iterations: int = 200) -> torch.Tensor:
    """Entropic OT plan ``(n, m)`` between uniform weights for ``cost`` ``(n, m)``, in the log
    domain (stable for any ``epsilon > 0``); rows sum to 1/n, columns to 1/m (to the
    tolerance ``iterations`` reach; the last update fixes the columns exactly)."""
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    n, m = cost.shape
    log_k = -cost.double() / epsilon
    f = torch.zeros(n, dtype=torch.float64, device=cost.device)
    g = torch.zeros(m, dtype=torch.float64, device=cost.device)
    for _ in range(iterations):
        f = -math.log(n) - torch.logsumexp(log_k + g[None, :], dim=1)
        g = -math.log(m) - torch.logsumexp(log_k + f[:, None], dim=0)
    return (log_k + f[:, None] + g[None, :]).exp()


def entropic_pairs(x0: torch.Tensor, x1: torch.Tensor, epsilon: float,
                   generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """For ``x0`` ``(n, d)`` and ``x1`` ``(m, d)``: the partners ``(n, d)``, row i drawn from
    ``x1`` with probabilities ``P_i. / sum P_i.`` of the entropic plan on ``|x0_i - x1_j|^2``."""
    plan = sinkhorn_plan(torch.cdist(x0.double(), x1.double()) ** 2, epsilon)
    rows = plan / plan.sum(1, keepdim=True)
    idx = torch.multinomial(rows.float().cpu(), 1, generator=generator).squeeze(1).to(x1.device)
    return x1[idx]


def brownian_bridge_paths(x0: torch.Tensor, x1: torch.Tensor, grid: TimeGrid, sigma2: float,
                          generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Discrete Brownian bridges ``(K+1, n, d)`` from ``x0`` to ``x1`` (both ``(n, d)``) on
    ``grid`` (module docstring); the last state is ``x1`` exactly."""
    times, dt, t_max = grid.times, grid.dt, grid.t_max
    states = [x0]
    x = x0
    for k in range(grid.num_steps):
        left = t_max - float(times[k])
        mean = x + float(dt[k]) / left * (x1 - x)
        var = sigma2 * float(dt[k]) * max(t_max - float(times[k + 1]), 0.0) / left
        noise = torch.randn(x.shape, generator=generator).to(x.device)
        x = mean + math.sqrt(var) * noise if var > 0 else x1.clone()
        states.append(x)
    return torch.stack(states)


def matching_loss(kernel, states: torch.Tensor, grid: TimeGrid) -> torch.Tensor:
    """Negative log-likelihood of the bridge transitions ``states`` ``(K+1, n, d)`` under ``kernel``."""
    return maximum_likelihood_loss(transition_log_probs(kernel, states, grid))
