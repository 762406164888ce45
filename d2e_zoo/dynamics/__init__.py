"""Discrete-time Gaussian dynamics: time grids, reference processes, the transition maths,
kernels, simulation."""

from .kernels import DriftKernel, GaussianKernel, ReferenceKernel
from .reference import ReferenceProcess
from .simulate import Trajectory, simulate, transition_log_probs
from .time_grid import TimeGrid
from .transition import gaussian_log_prob, gaussian_transition

__all__ = [
    "DriftKernel", "GaussianKernel", "ReferenceKernel", "ReferenceProcess", "TimeGrid", "Trajectory",
    "gaussian_log_prob", "gaussian_transition", "simulate", "transition_log_probs",
]
