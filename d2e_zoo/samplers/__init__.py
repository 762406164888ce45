"""Samplers for a static energy ``exp(-U)`` (docs/method.md section 6): unadjusted Langevin, MALA with
step-size adaptation, and the noise-free gradient flow, each with a stopping rule reported
next to the samples (the flow's ``R_t`` crossing, the log-Sobolev sufficient time, the energy
settling diagnostic). The single-step ULA/MALA kernels live in :mod:`d2e_zoo.exploration`.
"""

from .derivatives import energy_and_grad, hessians, laplacian
from .diagnostics import EnergyDiagnostic, EnergyMonitor, drift_z, split_rhat
from .gradient_flow import FlowResult, gradient_flow
from .log_sobolev import LogSobolevEstimate, estimate_log_sobolev, gaussian_kl, langevin_time, relaxation_constant
from .result import SamplingResult
from .run import SAMPLING_METHODS, STOP_RULES, sample
from .stopping import STOP_RULE_TYPES, SamplerProgress, StopRule, make_stop_rule

__all__ = ["EnergyDiagnostic", "EnergyMonitor", "FlowResult", "LogSobolevEstimate", "SAMPLING_METHODS",
           "SamplerProgress",
           "STOP_RULES", "STOP_RULE_TYPES", "SamplingResult", "StopRule", "drift_z", "energy_and_grad",
           "estimate_log_sobolev", "gaussian_kl", "gradient_flow", "hessians", "langevin_time", "laplacian",
           "make_stop_rule", "relaxation_constant", "sample", "split_rhat"]
