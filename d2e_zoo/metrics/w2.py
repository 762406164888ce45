"""Sample-based distribution metrics: exact W2^2 and mode weights (docs/method.md section 5).

``w2_squared`` solves the discrete optimal-transport problem between two empirical measures
with uniform weights and squared-Euclidean cost exactly (network simplex, POT ``ot.emd2``),
in float64. Cost is O(N M) memory; 4000 x 4000 is fine.
"""

from __future__ import annotations

import logging
import math
import numbers
from typing import Union

import numpy as np
import ot
import torch

logger = logging.getLogger(__name__)

ArrayLike = Union[torch.Tensor, np.ndarray]

__all__ = ["w2_squared", "mode_weights"]


def _as_points(a: ArrayLike, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().to(torch.float64).numpy()
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{name} must have shape (N, d) with N, d >= 1, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return a


def w2_squared(x: ArrayLike, y: ArrayLike, num_iter_max: int = 10_000_000) -> float:
    """Exact squared 2-Wasserstein distance between two empirical measures.

    ``W2^2 = min_{P in U(a, b)} sum_ij P_ij |x_i - y_j|^2`` with uniform weights
    ``a = 1/N``, ``b = 1/M``.

    Args:
        x: samples ``(N, d)`` (tensor or array).
        y: samples ``(M, d)``, same ``d``.
        num_iter_max: network-simplex iteration cap (a warning is logged if reached).

    Returns:
        ``W2^2`` as a Python float (squared units, not the distance).
    """
    xa, ya = _as_points(x, "x"), _as_points(y, "y")
    if xa.shape[1] != ya.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {xa.shape[1]} and {ya.shape[1]}")
    a = np.full(xa.shape[0], 1.0 / xa.shape[0])
    b = np.full(ya.shape[0], 1.0 / ya.shape[0])
    cost = ot.dist(xa, ya, metric="sqeuclidean")
    value, log = ot.emd2(a, b, cost, numItermax=int(num_iter_max), log=True)
    if log.get("warning"):
        logger.warning("ot.emd2: %s", log["warning"])
    return float(value)


def mode_weights(assign: torch.Tensor, num_modes: int) -> torch.Tensor:
    """Fraction of samples assigned to each mode.

    Args:
        assign: mode index per sample, integer ``(N,)`` with values in ``[0, num_modes)``.
        num_modes: number of modes ``>= 1``.

    Returns:
        float32 ``(num_modes,)`` summing to 1.
    """
    assign = torch.as_tensor(assign)
    if (isinstance(num_modes, bool) or not isinstance(num_modes, numbers.Real) or not math.isfinite(num_modes)
            or int(num_modes) != num_modes or num_modes < 1):
        raise ValueError(f"num_modes must be an integer >= 1, got {num_modes!r}")
    if assign.ndim != 1 or assign.numel() == 0:
        raise ValueError(f"assign must be a non-empty 1-D tensor, got shape {tuple(assign.shape)}")
    if assign.is_floating_point() or assign.is_complex() or assign.dtype == torch.bool:
        raise ValueError(f"assign must hold integer mode indices, got dtype {assign.dtype}")
    if int(assign.min()) < 0 or int(assign.max()) >= num_modes:
        raise ValueError(f"assign values must lie in [0, {num_modes}), got range "
                         f"[{int(assign.min())}, {int(assign.max())}]")
    counts = torch.bincount(assign.long().cpu(), minlength=int(num_modes))
    return (counts.to(torch.float64) / assign.numel()).to(torch.float32)
