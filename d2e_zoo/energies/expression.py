"""Targets written as expressions over the classes of a domain: ``"even and not 4"``,
``"3 or 8"`` (MNIST), ``"footwear and not sandal"``, ``"sneaker or ankle-boot"`` (Fashion-MNIST).

Grammar (case-insensitive; ``&``, ``|``, ``!``/``~`` are accepted for and, or, not)::

    expr  := term ("or" term)*
    term  := unary (("and" | "without") unary)*
    unary := "not" unary | "(" expr ")" | classes
    classes := a group ("even", "odd", "footwear", ..., "all") | a class slug ("3", "ankle-boot")
             | slugs joined by commas ("3,8")

The words come from the :class:`~d2e_zoo.domains.Domain` (``parse_expression(text, domain)``,
default MNIST); the parsed tree remembers its domain, and ``not`` complements within it.

Each class set ``C`` is the classifier energy ``U_C(z) = -log p_T(C | G(z))``, and the
operators are the energy algebra of :mod:`.algebra` on these terms:

* ``A and B``: conjunction, ``U_A + U_B``;
* ``A or B``: disjunction, ``-log(exp(-U_A) + exp(-U_B))``;
* ``B without A``: the weighted negation ``U_B - weight * U_A``;
* ``not A``: the complement, ``-log(1 - exp(-U_A))`` (for a class set, exactly the classifier
  energy of the other classes).

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
from ..domains import DEFAULT_DOMAIN, Domain, DomainError, get_domain
from .classifier_posterior import (DEFAULT_TEMPERATURE, NUM_CLASSES, LatentPosterior, check_temperature,
                                   checked_domain)

__all__ = ["ExpressionError", "parse_expression", "ExpressionPosterior", "Atom", "And", "Or", "Not", "Without",
           "selected_classes", "exact_classes", "syntax_help", "tree_domain", "OPERATOR_WORDS"]

_WORDS = {"and": "and", "&": "and", "or": "or", "|": "or", "not": "not", "!": "not", "~": "not",
          "without": "without"}
OPERATOR_WORDS = frozenset(w for w in _WORDS if w.isalpha())  # and, or, not, without
_TOKEN = re.compile(r"\s*(\(|\)|&|\||!|~|,|[A-Za-z]+(?:-[A-Za-z]+)*|\d+|\S)")
ALL = frozenset(range(NUM_CLASSES))  # MNIST's classes; a tree's own: _universe(tree)


def syntax_help(domain=DEFAULT_DOMAIN) -> str:
    """How to write a target over ``domain``'s classes (appended to every parse error)."""
    d = get_domain(domain)
    groups = ", ".join(d.groups)
    if d.numeric:
        words = f"{groups}, a {d.noun} {d.valid_range}, or {d.noun}s like {d.comma_example}"
    else:
        words = f"{groups}, a class name ({', '.join(d.slugs)}), or names like {d.comma_example}"
    examples = ", ".join(f"'{e}'" for e in d.examples)
    return f"write class sets ({words}) joined by 'and', 'or', 'not', 'without' and parentheses, e.g. {examples}"


SYNTAX_HELP = syntax_help()  # MNIST's


class ExpressionError(EndpointError):
    """A target expression that cannot be parsed or selects nothing."""


@dataclass(frozen=True)
class Atom:
    """A class set of a domain (by name): the leaves of every expression tree."""

    classes: Tuple[int, ...]
    domain: str = DEFAULT_DOMAIN

    def __str__(self):
        return get_domain(self.domain).class_set_name(self.classes)


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
    def __init__(self, text: str, domain: Domain):
        self.text = text
        self.domain = domain
        self.tokens = [t.lower() for t in _TOKEN.findall(text)]
        self.pos = 0

    def error(self, msg: str) -> ExpressionError:
        return ExpressionError(f"cannot read target {self.text!r}: {msg}; {syntax_help(self.domain)}")

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
        d, known, out = self.domain, self.domain.words(), set()
        for w in words:
            if d.numeric and w is not None and w.isdigit() and len(w) > 1:
                raise self.error(f"{w!r} is not a {d.noun} (separate {d.noun}s with 'or' or commas)")
            if w not in known:  # the syntax help that follows lists the valid names of a named domain
                raise self.error(f"{w!r} is not a class " + (f"(expected {d.vocabulary()})" if d.numeric
                                                             else f"of {d.title}"))
            out.update(known[w])
        return Atom(tuple(sorted(out)), d.name)


def parse_expression(text: str, domain=DEFAULT_DOMAIN):
    """Parse a target expression over ``domain``'s classes (a name or a
    :class:`~d2e_zoo.domains.Domain`; default MNIST) into its tree (:class:`Atom`,
    :class:`And`, :class:`Or`, :class:`Not`, :class:`Without`)."""
    if not isinstance(text, str):
        raise ExpressionError(f"a target expression must be a string, got {type(text).__name__}")
    try:
        d = get_domain(domain)
    except DomainError as e:
        raise ExpressionError(str(e)) from None
    return _Parser(text, d).parse()


def tree_domain(node) -> Domain:
    """The domain of a parsed expression (that of its atoms)."""
    while not isinstance(node, Atom):
        node = node.child if isinstance(node, Not) else node.base if isinstance(node, Without) else node.children[0]
    return get_domain(node.domain)


def _universe(node) -> frozenset:
    return tree_domain(node).all_classes


def selected_classes(node) -> frozenset:
    """The classes the expression means as set logic (and = intersection, or = union, not =
    complement within its domain): what a judge should see. Used to score judge precision."""
    if isinstance(node, Atom):
        return frozenset(node.classes)
    if isinstance(node, Not):
        return _universe(node) - selected_classes(node.child)
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
        return None if inner is None else tuple(sorted(_universe(node) - set(inner)))
    if isinstance(node, Or):
        parts = [exact_classes(c) for c in node.children]
        if all(p is not None for p in parts):
            flat = [c for p in parts for c in p]
            if len(flat) == len(set(flat)):
                return tuple(sorted(flat))
    return None


def _log_likelihood(node, log_p: torch.Tensor, weight: float) -> torch.Tensor:
    """``-U_expr`` from the tempered log-softmax ``log_p: (N, K)``; shape ``(N,)``."""
    if isinstance(node, Atom):
        return torch.logsumexp(log_p[:, list(node.classes)], -1)
    if isinstance(node, Not):
        inner = exact_classes(node.child)
        if inner is not None:  # exact and stable: the other classes' probability
            return torch.logsumexp(log_p[:, sorted(set(range(log_p.shape[-1])) - set(inner))], -1)
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
    """``p1(z) ∝ N(z; 0, I) exp(-U_expr(z))`` for a target expression over a domain's classes.

    Args:
        decoder: the latent-to-image network G, latent ``(N, d)`` -> image ``(N, 1, 28, 28)``
            (a GAN generator or a VAE); needs ``latent_dim``.
        classifier: image -> ``(N, K)`` logits, ``K`` the domain's number of classes.
        expression: e.g. ``"even and not 4"`` (see the module docstring), or a parsed tree.
        temperature: softmax temperature T of every class term (logits / T).
        negation_weight: the ``weight`` of ``without`` (``U_B - weight * U_A``), ``>= 0``.
        domain: whose class names a string ``expression`` uses (default MNIST); a parsed tree
            carries its own (a different ``domain`` given with it is an error).
    """

    def __init__(self, decoder, classifier, expression, temperature: float = DEFAULT_TEMPERATURE,
                 negation_weight: float = DEFAULT_NEGATION_WEIGHT, chunk_size: int = 4096, domain=None):
        if isinstance(expression, str):
            self.tree = parse_expression(expression, DEFAULT_DOMAIN if domain is None else domain)
        else:
            self.tree = expression
            if domain is not None and checked_domain(domain) != tree_domain(expression):
                raise ExpressionError(f"the target {str(expression)!r} is over {tree_domain(expression).name}, "
                                      f"not {checked_domain(domain).name}")
        self.domain = tree_domain(self.tree)
        if not (isinstance(negation_weight, (int, float)) and 0 <= negation_weight < float("inf")):
            raise ExpressionError(f"negation weight must be a finite number >= 0, got {negation_weight!r}")
        self.temperature = check_temperature(temperature)
        self.negation_weight = float(negation_weight)
        self.expression = str(self.tree)
        self.classes = tuple(sorted(selected_classes(self.tree)))
        if not self.classes:
            raise ExpressionError(f"target {self.expression!r} selects no {self.domain.noun} (as set logic); "
                                  f"{syntax_help(self.domain)}")
        self.exact_classes = exact_classes(self.tree)
        self.log_likelihood_bound = _bound(self.tree)
        super().__init__(decoder.latent_dim, f"prior & [{self.expression}]@T={self.temperature:g}")
        self._freeze(decoder, classifier, chunk_size)

    def log_likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """``-U_expr(z)``, shape ``(N,)`` (differentiable in z)."""
        log_p = torch.log_softmax(self._logits(z) / self.temperature, -1)
        return _log_likelihood(self.tree, log_p, self.negation_weight)
