"""Energy algebra (DESIGN.md §5): compositions of energies that keep an explicit Gibbs measure.

With ``U = -log_prob`` for each part (any :class:`~d2e_zoo.endpoints.Endpoint` with a density:
the 2D suite, the zoo's classifier posteriors, or another composition):

* conjunction ``A & B``: ``U = U_A + U_B`` (product of experts: both must agree);
* disjunction ``A | B``: ``U = -log(exp(-U_A) + exp(-U_B))`` (mixture, each weighted by its
  own normaliser);
* negation ``negation(B, A, weight)``: ``U = U_B - weight * U_A`` (B, pushed away from A);
* temperature ``tempered(A, T)``: ``U = U_A / T`` (``T > 1`` flattens, ``T < 1`` sharpens).

Each composition is itself an energy-only endpoint (``log_prob``, ``dim``), so compositions
nest and every sampler and trainer accepts them. Whether ``exp(-U)`` stays normalisable is
the user's concern for negations (``U_B - weight * U_A`` must still grow at infinity).

Shapes: ``x: (N, d)``; ``log_prob(x): (N,)``.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from ..endpoints.base import Endpoint, EndpointError

__all__ = ["DEFAULT_NEGATION_WEIGHT", "Conjunction", "Disjunction", "Negation", "Tempered", "conjunction",
           "disjunction", "negation", "tempered"]

#: The default ``weight`` of a negation ``U_B - weight * U_A`` ("B without A"): strong enough
#: to push samples away from A, weak enough that ``exp(-U)`` stays normalisable for the zoo's
#: classifier posteriors. Every default negation weight in the package is this one.
DEFAULT_NEGATION_WEIGHT = 0.35


def _check_parts(parts: Sequence[Endpoint], what: str) -> int:
    if len(parts) < 1:
        raise EndpointError(f"a {what} needs at least one energy")
    for p in parts:
        if not isinstance(p, Endpoint) or not p.has_density:
            raise EndpointError(f"a {what} combines energies (endpoints with a log-density); got {p!r}")
    dims = {p.dim for p in parts}
    if len(dims) > 1:
        listed = ", ".join(f"{p.name} (dim {p.dim})" for p in parts)
        raise EndpointError(f"cannot form a {what} of energies of different dimensions: {listed}")
    return parts[0].dim


class Conjunction(Endpoint):
    """``U = sum_i U_i``."""

    def __init__(self, *parts: Endpoint, name: Optional[str] = None):
        super().__init__(_check_parts(parts, "conjunction"), name or " & ".join(f"({p.name})" for p in parts))
        self.parts = tuple(parts)

    def _log_prob(self, x):
        return sum(p.log_prob(x) for p in self.parts)


class Disjunction(Endpoint):
    """``U = -log sum_i exp(-U_i)``."""

    def __init__(self, *parts: Endpoint, name: Optional[str] = None):
        super().__init__(_check_parts(parts, "disjunction"), name or " | ".join(f"({p.name})" for p in parts))
        self.parts = tuple(parts)

    def _log_prob(self, x):
        return torch.logsumexp(torch.stack([p.log_prob(x) for p in self.parts]), dim=0)


class Negation(Endpoint):
    """``U = U_base - weight * U_negated`` (``weight >= 0``)."""

    def __init__(self, base: Endpoint, negated: Endpoint, weight: float = DEFAULT_NEGATION_WEIGHT,
                 name: Optional[str] = None):
        if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
            raise EndpointError(f"negation weight must be a finite number >= 0, got {weight!r}")
        dim = _check_parts((base, negated), "negation")
        super().__init__(dim, name or f"({base.name}) - {weight:g} ({negated.name})")
        self.base, self.negated, self.weight = base, negated, float(weight)

    def _log_prob(self, x):
        return self.base.log_prob(x) - self.weight * self.negated.log_prob(x)


class Tempered(Endpoint):
    """``U = U_base / T`` (``T > 0``)."""

    def __init__(self, base: Endpoint, temperature: float, name: Optional[str] = None):
        if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
            raise EndpointError(f"temperature must be a finite number > 0, got {temperature!r}")
        dim = _check_parts((base,), "tempered energy")
        super().__init__(dim, name or f"({base.name}) @ T={temperature:g}")
        self.base, self.temperature = base, float(temperature)

    def _log_prob(self, x):
        return self.base.log_prob(x) / self.temperature


def conjunction(*parts: Endpoint) -> Conjunction:
    """``U = sum_i U_i`` of energies of one dimension."""
    return Conjunction(*parts)


def disjunction(*parts: Endpoint) -> Disjunction:
    """``U = -log sum_i exp(-U_i)`` of energies of one dimension."""
    return Disjunction(*parts)


def negation(base: Endpoint, negated: Endpoint, weight: float = DEFAULT_NEGATION_WEIGHT) -> Negation:
    """``U = U_base - weight * U_negated``."""
    return Negation(base, negated, weight)


def tempered(base: Endpoint, temperature: float) -> Tempered:
    """``U = U_base / temperature``."""
    return Tempered(base, temperature)
