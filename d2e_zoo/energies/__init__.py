"""Energies on latent spaces: classifier posteriors p1(z) ∝ N(z; 0, I) p_T(C | G(z)),
targets written as class expressions ("even and not 4"), and the energy algebra
(conjunction, disjunction, negation, temperature) that applies to every energy."""

from .algebra import (DEFAULT_NEGATION_WEIGHT, Conjunction, Disjunction, Negation, Tempered, conjunction, disjunction,
                      negation, tempered)
from .classifier_posterior import DEFAULT_TEMPERATURE, ClassifierPosterior, LatentPosterior, parse_classes
from .expression import ExpressionError, ExpressionPosterior, parse_expression

__all__ = ["DEFAULT_NEGATION_WEIGHT", "DEFAULT_TEMPERATURE", "ClassifierPosterior", "Conjunction", "Disjunction",
           "ExpressionError", "ExpressionPosterior", "LatentPosterior", "Negation", "Tempered", "conjunction",
           "disjunction", "negation", "parse_classes", "parse_expression", "tempered"]
