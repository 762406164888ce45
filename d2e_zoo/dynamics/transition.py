"""The one owner of a Gaussian transition's maths: its mean and variance in either
direction, and the Gaussian log-density that scores it (docs/method.md section 2).

With a reference process dX = -alpha X dt + sqrt(sigma2) dW (:class:`ReferenceProcess`;
alpha = 0 is Brownian motion) and a step dt_k = t_{k+1} - t_k, its exact transition is
x_{k+1} | x_k ~ N(a_k x_k, c_k I) with

    a_k = exp(-alpha dt_k),    c_k = sigma2 (1 - a_k^2) / (2 alpha)    (Brownian: a_k = 1, c_k = sigma2 dt_k).

A learned kernel adds a drift and multiplies the variance (the training kernels, the
pipeline's scheduler and the evaluation all take their steps from :func:`gaussian_transition`):

    forward   p_f(x_{k+1} | x_k)  = N(a_k x_k + dt_k [f(x_k, t_k) + g(x_k, t_k)],   c_k exp(v_f(x_k, t_k)))
    backward  p_b(x_k | x_{k+1})  = N(x_{k+1} + dt_k b(x_{k+1}, t_{k+1}),            c_k exp(v_b(x_{k+1}, t_{k+1})))

where f, b are learned drifts, v_f, v_b learned per-coordinate log-variance multipliers
(absent: multiplier 1) and g an optional added drift term (the sampler's target-score
guidance ``scale * h(t) * clip(grad log p1(x))``, see
:class:`~d2e_zoo.dynamics.kernels.GaussianKernel`). The backward mean starts from x_{k+1}
itself, not from the reference's reversal: the learned drift b carries the rest (the exact
reversal of the reference, with no learned part, is :meth:`ReferenceProcess.reversal`).
"""

from __future__ import annotations

import math
from typing import Optional, Union

import torch

from .reference import ReferenceProcess

DIRECTIONS = ("forward", "backward")
LOG_2PI = math.log(2 * math.pi)


def check_direction(direction: str):
    """Raise a ``ValueError`` naming the valid directions unless ``direction`` is one."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; valid: {', '.join(DIRECTIONS)}")


def gaussian_transition(reference: ReferenceProcess, direction: str, x: torch.Tensor, dt: torch.Tensor,
                        drift: Optional[torch.Tensor] = None, log_var: Optional[torch.Tensor] = None,
                        guidance: Optional[torch.Tensor] = None):
    """Mean and variance of one step of a learned Gaussian kernel (module docstring).

    Args:
        reference: the reference process (its a_k and c_k).
        direction: ``forward`` (``x`` is x_k, the result is x_{k+1}'s law) or ``backward``
            (``x`` is x_{k+1}, the result is x_k's law).
        x: the conditioning states, ``(..., d)``.
        dt: the steps dt_k, ``(...,)`` broadcastable against ``x[..., 0]``.
        drift: the learned drift f or b at the conditioning state, ``(..., d)``; None: zero.
        log_var: the learned log-variance multiplier v, ``(..., d)``; None: zero (multiplier 1).
        guidance: an added drift term g, ``(..., d)``; None: zero.

    Returns:
        ``(mean, var)``: mean ``(..., d)``; variance ``(..., d)`` with ``log_var``, else ``(..., 1)``.
    """
    if direction == "forward":
        base, ref_var = reference.transition(x, dt)
    elif direction == "backward":
        base, ref_var = x, reference.step_variance(dt)[..., None]
    else:
        check_direction(direction)
    if guidance is not None:
        drift = guidance if drift is None else drift + guidance
    mean = base if drift is None else base + dt[..., None] * drift
    var = ref_var if log_var is None else ref_var * log_var.exp()
    return mean, var


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, var: Union[torch.Tensor, float]) -> torch.Tensor:
    """Normalised log N(x; mean, diag(var)), summed over the last axis: ``(..., d) -> (...)``.

    ``var`` broadcasts against ``x - mean``: ``(..., d)`` (diagonal), ``(..., 1)`` or a
    number (isotropic; pass ``std ** 2`` for N(mean, std^2 I)).
    """
    diff = x - mean
    if not torch.is_tensor(var):  # isotropic: one variance for every coordinate
        var = float(var)
        if not var > 0:
            raise ValueError(f"variance must be > 0, got {var}")
        return -0.5 * (diff**2).sum(-1) / var - 0.5 * diff.shape[-1] * (math.log(var) + LOG_2PI)
    var = var.expand_as(diff)
    return -0.5 * ((diff**2) / var + var.log() + LOG_2PI).sum(-1)
