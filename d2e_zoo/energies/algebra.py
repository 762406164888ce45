"""Energy algebra (docs/method.md section 6): compositions of energies that keep an explicit Gibbs measure.

With ``U = -log_prob`` for each part (any :class:`~d2e_zoo.endpoints.Endpoint` with a density:
the 2D suite, the zoo's classifier posteriors, or another composition):

* conjunction ``A & B``: ``U = U_A + U_B`` (product of experts: both must agree);
* disjunction ``A | B``: ``U = -log(exp(-U_A) + exp(-U_B))`` (mixture, each weighted by its
  own normaliser);
* negation ``negation(B, A, weight)``: ``U = U_B - weight * U_A`` (B, pushed away from A);
* temperature ``tempered(A, T)``: ``U = U_A / T`` (``T > 1`` flattens, ``T < 1`` sharpens).

Each composition is itself an energy-only endpoint (``log_prob``, ``dim``), so compositions
nest and every sampler and trainer accepts them. The classes (:class:`Conjunction`, ...) are
defined next to :class:`~d2e_zoo.endpoints.Endpoint` in :mod:`d2e_zoo.endpoints.base`, whose
operators return them (so that module never imports this one); this module gives their
functional forms and re-exports them. Whether ``exp(-U)`` stays normalisable is
the user's concern for negations (``U_B - weight * U_A`` must still grow at infinity).

Shapes: ``x: (N, d)``; ``log_prob(x): (N,)``.
"""

from __future__ import annotations

from ..endpoints.base import DEFAULT_NEGATION_WEIGHT, Conjunction, Disjunction, Endpoint, Negation, Tempered

__all__ = ["DEFAULT_NEGATION_WEIGHT", "Conjunction", "Disjunction", "Negation", "Tempered", "conjunction",
           "disjunction", "negation", "tempered"]


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
