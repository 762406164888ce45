"""Metrics: W2^2 (exact OT), log Z bounds, and whole-bridge evaluation."""

from .auroc import auroc, auroc_standard_error
from .log_z import effective_sample_size, elbo, eubo, iw_log_z
from .w2 import mode_weights, w2_squared

__all__ = ["auroc", "auroc_standard_error", "effective_sample_size", "elbo", "eubo", "iw_log_z", "mode_weights",
           "w2_squared"]
