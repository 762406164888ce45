"""The two ends of a bridge: samples, unnormalised log-densities, or both."""

from .base import Endpoint, EndpointError, EnergyEndpoint, SampleEndpoint
from .toy import DISTRIBUTION_NAMES, get_distribution

__all__ = ["DISTRIBUTION_NAMES", "Endpoint", "EndpointError", "EnergyEndpoint", "SampleEndpoint",
           "get_distribution"]
