"""What the app lets a person pick, the limits on it, and input validation.

Priors are the zoo's latent generators that have at least one bridge; the targets of a prior
are its bridges (class groups such as even or footwear, each class, energy-to-energy pairs),
each shown with a readable label made from its domain's class names (:mod:`d2e_zoo.domains`)
and passed around by its zoo name (``mnist-even``), which is also what API clients send.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..domains import get_domain
from ..zoo.registry import get_entry, list_models


class InputError(ValueError):
    """An input outside what the app accepts; the message is shown in the page as is."""


@dataclass(frozen=True)
class Limits:
    """Inclusive ranges of the numeric inputs (shown in the UI and enforced for API calls)."""

    samples: tuple = (1, 64)
    steps: tuple = (1, 100)
    seed: tuple = (0, 2**31 - 1)
    draw_samples: tuple = (1, 16)
    # bounded work per request
    seconds: float = 20.0  # wall-clock deadline of one sampling run (MALA stops early, others fail)
    expression_chars: int = 200  # a composed target's length, digit/class terms and bracket depth
    expression_terms: int = 24
    expression_depth: int = 8
    image_pixels: int = 4096 * 4096  # larger pictures are refused from their header, before decoding
    image_side: int = 1024  # accepted pictures larger than this are shrunk before any work
    upload_bytes: str = "10mb"  # Gradio's upload size limit


LIMITS = Limits()
DEFAULT_PRIOR = "mnist-gan"
DEFAULT_SAMPLES = 16
DEFAULT_DRAW_SAMPLES = 8
DEFAULT_STEPS = 20  # every bundled bridge was trained with K = 20

_PRIOR_LABELS = {
    "mnist-gan": "GAN, 10-d latent (mnist-gan)",
    "mnist-gan-z50": "GAN, 50-d latent (mnist-gan-z50)",
    "mnist-vae": "VAE, 10-d latent (mnist-vae)",
    "fashion-gan": "Fashion-MNIST GAN, 16-d latent (fashion-gan)",
    "fashion-vae": "Fashion-MNIST VAE, 16-d latent (fashion-vae)",
}


def _bridges() -> list:
    return [get_entry(n) for n in list_models(kind="bridge")]


def prior_choices() -> list[tuple[str, str]]:
    """``(label, zoo name)`` of every latent generator that has a bridge, in registry order."""
    with_bridges = {e.decoder for e in _bridges()}
    return [(_PRIOR_LABELS.get(n, n), n) for n in list_models(kind="generator") if n in with_bridges]


def target_label(name: str) -> str:
    """A readable label for a bridge, from its domain's class names: ``even digits (0 2 4 6 8)``,
    ``digit 5``, ``3 → 8 (energy to energy)``; ``footwear (Sandal, Sneaker, Ankle boot)``,
    ``Sneaker → Ankle boot (energy to energy)``."""
    e = get_entry(name)
    domain = get_domain(e.domain)
    if e.source_classes is not None:
        return f"{domain.join_names(e.source_classes)} → {domain.join_names(e.target_classes)} (energy to energy)"
    return domain.describe_classes(e.target_classes)


def target_choices(prior: str) -> list[tuple[str, str]]:
    """``(label, bridge name)`` of every bridge on ``prior``: class groups, single classes, then
    energy-to-energy."""
    check_prior(prior)
    bridges = [e for e in _bridges() if e.decoder == prior]
    bridges.sort(key=lambda e: (e.source_classes is not None, len(e.target_classes) == 1, e.target_classes))
    return [(target_label(e.name), e.name) for e in bridges]


#: the bridge a prior's target menu opens on: one that meets every zoo target (judge precision
#: within 0.02 of the exact posterior's, class-mix TV <= 0.05, transport <= half of rejection's;
#: docs/zoo.md), so a newcomer first sees the zoo at its best honest state. Other priors open on
#: their first target.
FEATURED_TARGETS = {"mnist-gan": "mnist-5"}


def default_target(prior: str) -> str:
    """The bridge ``prior``'s target menu selects first (:data:`FEATURED_TARGETS`, else the first)."""
    choices = [name for _, name in target_choices(prior)]
    featured = FEATURED_TARGETS.get(prior)
    return featured if featured in choices else choices[0]


EXCERPT_CHARS = 40


def excerpt(value, chars: int = EXCERPT_CHARS) -> str:
    """``repr`` of at most ``chars`` characters of ``value``, for messages that quote an input."""
    text = value if isinstance(value, str) else repr(value)
    return repr(text) if len(text) <= chars else repr(text[:chars]) + f"… ({len(text)} characters)"


def _listing(choices) -> str:
    """``label (name)`` of each choice, as shown in the page and as API clients send it."""
    return "; ".join(label if name in label else f"{label} ({name})" for label, name in choices)


def check_prior(prior) -> str:
    choices = prior_choices()
    if prior not in [n for _, n in choices]:
        raise InputError(f"Prior: unknown prior {excerpt(prior)}. Choose one of: {_listing(choices)}.")
    return prior


def check_bridge(bridge, prior=None) -> str:
    """``bridge`` if it is a bridge of the zoo (and of ``prior`` when given), else :class:`InputError`."""
    names = list_models(kind="bridge")
    if prior is not None:
        check_prior(prior)
    if bridge not in names:
        if prior is None:
            raise InputError(f"Target: unknown target {excerpt(bridge)}. Valid targets: {', '.join(names)}.")
        raise InputError(f"Target: unknown target {excerpt(bridge)}. Targets of {prior}: "
                         f"{_listing(target_choices(prior))}.")
    if prior is not None and get_entry(bridge).decoder != prior:
        raise InputError(f"Target: {bridge!r} belongs to the prior {get_entry(bridge).decoder!r}, "
                         f"not {prior!r}. Targets of {prior}: {_listing(target_choices(prior))}.")
    return bridge


def as_int(value, what: str, limits: tuple) -> int:
    """``value`` as an int within ``limits`` (floats with an integer value are accepted, as sliders send them)."""
    lo, hi = limits
    if isinstance(value, bool) or value is None:
        raise InputError(f"{what} must be a whole number from {lo} to {hi}, got {value!r}.")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InputError(f"{what} must be a whole number from {lo} to {hi}, got {excerpt(value)}.") from None
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise InputError(f"{what} must be a whole number from {lo} to {hi}, got {value!r}.")
        value = int(value)
    if not isinstance(value, int):
        raise InputError(f"{what} must be a whole number from {lo} to {hi}, got {excerpt(value)}.")
    if not lo <= value <= hi:
        raise InputError(f"{what} must be from {lo} to {hi}, got {value}.")
    return value


def validate_request(prior, bridge, num_samples, seed, steps, samples_limits: tuple = LIMITS.samples):
    """Check a translation request; returns ``(bridge, num_samples, seed, steps)`` as clean ints.

    ``prior`` may be None (API callers that only name the bridge)."""
    bridge = check_bridge(bridge, prior)
    return (bridge, as_int(num_samples, "Number of samples", samples_limits),
            as_int(seed, "Seed", LIMITS.seed), as_int(steps, "Sampling steps", LIMITS.steps))
