"""Frechet distance between two feature clouds (the quantity behind FID).

For features ``a (N, F)`` and ``b (M, F)`` with means ``mu_a, mu_b`` and covariances
``S_a, S_b``:

    FD = ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a^{1/2} S_b S_a^{1/2})^{1/2}),

the squared 2-Wasserstein distance between the Gaussians with those moments. The zoo computes
it in the judge's penultimate-layer features (:meth:`d2e_zoo.models.CNNJudge.features_of`), so
it is "FID" with the judge standing in for the Inception network: comparable between
generators scored with the same judge, not with published FIDs.
"""

from __future__ import annotations

import torch


def _sqrtm_psd(m: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix (eigenvalues clipped at 0)."""
    vals, vecs = torch.linalg.eigh(m)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """FD between the feature clouds ``a (N, F)`` and ``b (M, F)`` (float64 inside)."""
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (N, F) and (M, F) with the same F, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each feature cloud needs at least 2 rows")
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    root_a = _sqrtm_psd(cov_a)
    cross = _sqrtm_psd(root_a @ cov_b @ root_a)
    return float(((mu_a - mu_b) ** 2).sum() + torch.trace(cov_a + cov_b - 2 * cross))
