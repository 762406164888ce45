"""Discrete-time Gaussian dynamics: time grids, reference processes, kernels, simulation."""

from .kernels import GaussianKernel, ReferenceKernel, gaussian_log_prob
from .reference import ReferenceProcess
from .simulate import Trajectory, simulate, transition_log_probs
from .time_grid import TimeGrid

__all__ = [
    "GaussianKernel", "ReferenceKernel", "ReferenceProcess", "TimeGrid", "Trajectory",
    "gaussian_log_prob", "simulate", "transition_log_probs",
]
