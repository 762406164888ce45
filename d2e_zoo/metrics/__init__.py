"""Metrics: W2^2 (exact OT), log Z bounds, and whole-bridge evaluation."""

from .log_z import effective_sample_size, elbo, eubo, iw_log_z
from .w2 import mode_weights, w2_squared

__all__ = ["effective_sample_size", "elbo", "eubo", "iw_log_z", "mode_weights", "w2_squared"]
