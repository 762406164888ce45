"""Area under the ROC curve of a detection score, by the Mann-Whitney U statistic.

Convention: a *higher* score means *more* out-of-distribution. With ``scores_in`` drawn from
the in-distribution set and ``scores_out`` from the out-of-distribution set,

    AUROC = P(S_out > S_in) + P(S_out == S_in) / 2

so 1 is perfect separation, 0.5 chance (or identical distributions) and 0 a perfectly
reversed score. Ties get half credit (average ranks), so constant scores give exactly 0.5.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["auroc", "auroc_standard_error"]


def _as_scores(scores, what: str) -> np.ndarray:
    if hasattr(scores, "detach"):  # torch tensors
        scores = scores.detach().cpu().numpy()
    a = np.asarray(scores, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{what} must be one score per sample (1-D), got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{what} is empty: AUROC needs at least one score on each side")
    if not np.isfinite(a).all():
        raise ValueError(f"{what} has {int((~np.isfinite(a)).sum())} non-finite scores (NaN or inf)")
    return a


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    # start index of each run of equal values
    starts = np.flatnonzero(np.r_[True, sorted_vals[1:] != sorted_vals[:-1]])
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def auroc(scores_in, scores_out) -> float:
    """AUROC of separating ``scores_out`` (positives) from ``scores_in`` (negatives).

    Args:
        scores_in: ``(n_in,)`` scores of in-distribution samples (array, list or tensor).
        scores_out: ``(n_out,)`` scores of out-of-distribution samples.

    Returns:
        ``P(S_out > S_in) + P(S_out == S_in) / 2`` over all ``n_in * n_out`` pairs, computed
        from the rank sum of ``scores_out`` in the pooled sample (Mann-Whitney U), O(n log n).
    """
    a = _as_scores(scores_in, "scores_in")
    b = _as_scores(scores_out, "scores_out")
    ranks = _average_ranks(np.concatenate([a, b]))
    n_in, n_out = len(a), len(b)
    u_out = ranks[n_in:].sum() - n_out * (n_out + 1) / 2.0
    return float(u_out / (n_in * n_out))


def auroc_standard_error(scores_in, scores_out) -> float:
    """DeLong's standard error of :func:`auroc` (from the per-sample placement values).

    Returns 0 when either side has a single sample (no variance estimate)."""
    a = np.sort(_as_scores(scores_in, "scores_in"))
    b = np.sort(_as_scores(scores_out, "scores_out"))
    # placement of each out score among the in scores, and of each in score among the out scores
    v_out = (np.searchsorted(a, b, "left") + np.searchsorted(a, b, "right")) / (2.0 * len(a))
    v_in = 1.0 - (np.searchsorted(b, a, "left") + np.searchsorted(b, a, "right")) / (2.0 * len(b))
    var = 0.0
    if len(b) > 1:
        var += v_out.var(ddof=1) / len(b)
    if len(a) > 1:
        var += v_in.var(ddof=1) / len(a)
    return math.sqrt(var)
