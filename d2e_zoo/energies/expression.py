"""Targets written as expressions over digit classes: ``"even and not 4"``, ``"3 or 8"``.

Grammar (case-insensitive; ``&``, ``|``, ``!``/``~`` are accepted for and, or, not)::

    expr  := term ("or" term)*
    term  := unary (("and" | "without") unary)*
    unary := "not" unary | "(" expr ")" | classes
    classes := "even" | "odd" | "all" | a digit 0-9 | digits joined by commas ("3,8")

Each class set ``C`` is the classifier energy ``U_C(z) = -log p_T(C | G(z))``, and the
operators are the energy algebra of :mod:`.algebra` on these terms:

* ``A and B``: conjunction, ``U_A + U_B``;
* ``A or B``: disjunction, ``-log(exp(-U_A) + exp(-U_B))``;
* ``B without A``: the weighted negation ``U_B - weight * U_A``;
* ``not A``: the complement, ``-log(1 - exp(-U_A))`` (for a class set, exactly the classifier
  energy of the other digits).

The prior is added once, outside the expression:

    p1(z) ∝ N(z; 0, I) exp(-U_expr(z))

(composing whole posteriors with ``&`` would count the prior twice). Facts that follow: a
disjunction of disjoint class sets is *exactly* the posterior of their union (softmax
probabilities add), so ``"0 or 2 or 4 or 6 or 8"`` is ``"even"`` and can use that trained
bridge; every expression without ``without`` has a likelihood bounded by a known constant and
so an exact rejection sampler; ``without`` makes the likelihood unbounded (``-log p_T(A)``
grows without limit where the classifier is sure an image is not A), which pulls samples
towards the images the classifier is most certain are not A: measure the class mix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Tuple

import torch

from ..endpoints.base import EndpointError
from .algebra import DEFAULT_NEGATION_WEIGHT
from .classifier_posterior import (DEFAULT_TEMPERATURE, NUM_CLASSES, LatentPosterior, check_temperature,
                                   parse_classes)

__all__ = ["ExpressionError", "parse_expression", "ExpressionPosterior", "Atom", "And", "Or", "Not", "Without",
           "selected_classes", "exact_classes"]

_WORDS = {"and": "and", "&": "and", "or": "or", "|": "or", "not": "not", "!": "not", "~": "not",
          "without": "without"}
_TOKEN = re.compile(r"\s*(\(|\)|&|\||!|~|,|[A-Za-z]+|\d+|\S)")
ALL = frozenset(range(NUM_CLASSES))
SYNTAX_HELP = ("write class sets (even, odd, all, a digit 0-9, or digits like 3,8) joined by 'and', 'or', 'not', "
               "'without' and parentheses, e.g. 'even and not 4', '3 or 8', 'even without 4'")


class ExpressionError(EndpointError):
    """A target expression that cannot be parsed or selects nothing."""


@dataclass(frozen=True)
class Atom:
    classes: Tuple[int, ...]

    def __str__(self):
        named = {(0, 2, 4, 6, 8): "even", (1, 3, 5, 7, 9): "odd", tuple(range(NUM_CLASSES)): "all"}
        return named.get(self.classes, ",".join(map(str, self.classes)))


@dataclass(frozen=True)
class Not:
    child: object

    def __str__(self):
        return f"not {_wrap(self.child)}"


@dataclass(frozen=True)
class Without:
    base: object
    negated: object

    def __str__(self):
        return f"{_wrap(self.base, Or)} without {_wrap(self.negated)}"


@dataclass(frozen=True)
class And:
    children: tuple

    def __str__(self):
        return " and ".join(_wrap(c, Or) for c in self.children)


@dataclass(frozen=True)
class Or:
    children: tuple

    def __str__(self):
        return " or ".join(str(c) for c in self.children)


def _wrap(node, *kinds) -> str:
    kinds = kinds or (And, Or)
    return f"({node})" if isinstance(node, kinds) else str(node)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = [t.lower() for t in _TOKEN.findall(text)]
        self.pos = 0

    def error(self, msg: str) -> ExpressionError:
        return ExpressionError(f"cannot read target {self.text!r}: {msg}; {SYNTAX_HELP}")

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self):
        tok = self.peek()
        self.pos += 1
        return tok

    def parse(self):
        if not self.tokens:
            raise self.error("it is empty")
        node = self.expr()
        if self.peek() is not None:
            raise self.error(f"unexpected {self.peek()!r}")
        return node

    def expr(self):
        parts = [self.term()]
        while _WORDS.get(self.peek()) == "or":
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def term(self):
        node = self.unary()
        while _WORDS.get(self.peek()) in ("and", "without"):
            op = _WORDS[self.take()]
            right = self.unary()
            if op == "without":
                node = Without(node, right)
            else:
                node = And((*node.children, right) if isinstance(node, And) else (node, right))
        return node

    def unary(self):
        tok = self.peek()
        if tok is None:
            raise self.error("it ends too early")
        if _WORDS.get(tok) == "not":
            self.take()
            child = self.unary()
            if _bound(child) != 0.0:
                raise self.error(f"'not' needs a term whose probability is at most 1, and {str(child)!r} is not "
                                 "(it overlaps itself or uses 'without'); use 'without' for a weighted negation")
            return Not(child)
        if tok == "(":
            self.take()
            node = self.expr()
            if self.take() != ")":
                raise self.error("a '(' is not closed")
            return node
        return self.classes()

    def classes(self):
        words = [self.take()]
        while self.peek() == ",":
            self.take()
            words.append(self.take())
        try:
            out = set()
            for w in words:
                if w is None or not (w.isdigit() or w in ("even", "odd", "all")):
                    raise self.error(f"{w!r} is not a class (expected even, odd, all or a digit 0-9)")
                if w.isdigit() and len(w) > 1:
                    raise self.error(f"{w!r} is not a digit (separate digits with 'or' or commas)")
                out.update(parse_classes(w))
        except ExpressionError:
            raise
        except EndpointError as e:
            raise self.error(str(e)) from None
        return Atom(tuple(sorted(out)))


def parse_expression(text: str):
    """Parse a target expression into its tree (:class:`Atom`, :class:`And`, :class:`Or`, :class:`Not`)."""
    if not isinstance(text, str):
        raise ExpressionError(f"a target expression must be a string, got {type(text).__name__}")
    return _Parser(text).parse()


def selected_classes(node) -> frozenset:
    """The digits the expression means as set logic (and = intersection, or = union, not =
    complement): what a judge should see. Used to score judge precision."""
    if isinstance(node, Atom):
        return frozenset(node.classes)
    if isinstance(node, Not):
        return ALL - selected_classes(node.child)
    if isinstance(node, Without):
        return selected_classes(node.base) - selected_classes(node.negated)
    sets = [selected_classes(c) for c in node.children]
    return frozenset.intersection(*sets) if isinstance(node, And) else frozenset.union(*sets)


def exact_classes(node) -> Optional[Tuple[int, ...]]:
    """The class set whose plain posterior equals this expression's, or None: an atom, or a
    disjunction of pairwise disjoint atoms (softmax probabilities of disjoint sets add)."""
    if isinstance(node, Atom):
        return node.classes
    if isinstance(node, Not):
        inner = exact_classes(node.child)
        return None if inner is None else tuple(sorted(ALL - set(inner)))
    if isinstance(node, Or):
        parts = [exact_classes(c) for c in node.children]
        if all(p is not None for p in parts):
            flat = [c for p in parts for c in p]
            if len(flat) == len(set(flat)):
                return tuple(sorted(flat))
    return None


def _log_likelihood(node, log_p: torch.Tensor, weight: float) -> torch.Tensor:
    """``-U_expr`` from the tempered log-softmax ``log_p: (N, 10)``; shape ``(N,)``."""
    if isinstance(node, Atom):
        return torch.logsumexp(log_p[:, list(node.classes)], -1)
    if isinstance(node, Not):
        inner = exact_classes(node.child)
        if inner is not None:  # exact and stable: the other digits' probability
            return torch.logsumexp(log_p[:, sorted(ALL - set(inner))], -1)
        ll = _log_likelihood(node.child, log_p, weight).clamp_max(-1e-6)
        return torch.log(-torch.expm1(ll))
    if isinstance(node, Without):
        return _log_likelihood(node.base, log_p, weight) - weight * _log_likelihood(node.negated, log_p, weight)
    parts = [_log_likelihood(c, log_p, weight) for c in node.children]
    return sum(parts) if isinstance(node, And) else torch.logsumexp(torch.stack(parts), 0)


def _bound(node) -> Optional[float]:
    """An upper bound on the log-likelihood (None if unbounded)."""
    if isinstance(node, (Atom, Not)) or exact_classes(node) is not None:
        return 0.0
    if isinstance(node, Without):
        return None
    parts = [_bound(c) for c in node.children]
    if any(p is None for p in parts):
        return None
    return sum(parts) if isinstance(node, And) else float(torch.logsumexp(torch.tensor(parts), 0))


class ExpressionPosterior(LatentPosterior):
    """``p1(z) ∝ N(z; 0, I) exp(-U_expr(z))`` for a target expression over digit classes.

    Args:
        decoder: the latent-to-image network G, latent ``(N, d)`` -> image ``(N, 1, 28, 28)``
            (a GAN generator or a VAE); needs ``latent_dim``.
        classifier: image -> ``(N, 10)`` logits.
        expression: e.g. ``"even and not 4"`` (see the module docstring), or a parsed tree.
        temperature: softmax temperature T of every class term (logits / T).
        negation_weight: the ``weight`` of ``without`` (``U_B - weight * U_A``), ``>= 0``.
    """

    def __init__(self, decoder, classifier, expression, temperature: float = DEFAULT_TEMPERATURE,
                 negation_weight: float = DEFAULT_NEGATION_WEIGHT, chunk_size: int = 4096):
        self.tree = parse_expression(expression) if isinstance(expression, str) else expression
        if not (isinstance(negation_weight, (int, float)) and 0 <= negation_weight < float("inf")):
            raise ExpressionError(f"negation weight must be a finite number >= 0, got {negation_weight!r}")
        self.temperature = check_temperature(temperature)
        self.negation_weight = float(negation_weight)
        self.expression = str(self.tree)
        self.classes = tuple(sorted(selected_classes(self.tree)))
        if not self.classes:
            raise ExpressionError(f"target {self.expression!r} selects no digit (as set logic); {SYNTAX_HELP}")
        self.exact_classes = exact_classes(self.tree)
        self.log_likelihood_bound = _bound(self.tree)
        super().__init__(decoder.latent_dim, f"prior & [{self.expression}]@T={self.temperature:g}")
        self._freeze(decoder, classifier, chunk_size)

    def log_likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """``-U_expr(z)``, shape ``(N,)`` (differentiable in z)."""
        log_p = torch.log_softmax(self._logits(z) / self.temperature, -1)
        return _log_likelihood(self.tree, log_p, self.negation_weight)
