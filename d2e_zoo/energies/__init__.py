"""Energies on latent spaces: classifier posteriors p1(z) ∝ N(z; 0, I) p_T(C | G(z))."""

from .classifier_posterior import ClassifierPosterior, parse_classes

__all__ = ["ClassifierPosterior", "parse_classes"]
