"""One interface for the two ends of a bridge.

An :class:`Endpoint` is a distribution over ``R^dim`` that offers either samples
(``has_samples``), an unnormalised log-density (``has_density``), or both. Training code
asks only for what the task says the end offers: in a data-to-energy task the target end
is wrapped by :meth:`Endpoint.energy_view`, which hides its sampler, and the source end
by :meth:`Endpoint.sample_view`, which hides its density.

Shapes: ``x`` is ``(N, dim)``; ``log_prob(x)`` is ``(N,)``; ``sample(n)`` is ``(n, dim)``.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import torch

#: The default ``weight`` of a negation ``U_B - weight * U_A`` ("B without A"): strong enough
#: to push samples away from A, weak enough that ``exp(-U)`` stays normalisable for the zoo's
#: classifier posteriors. Every default negation weight in the package is this one.
DEFAULT_NEGATION_WEIGHT = 0.35


class EndpointError(ValueError):
    """Raised when an endpoint is asked for something it cannot give, or gives bad output."""


class Endpoint:
    """Base class: override ``_sample`` and/or ``_log_prob``.

    Attributes:
        dim: dimension of the state space.
        name: short human-readable name.
        log_z: log of the normalising constant of ``exp(log_prob)`` when known, else None.
    """

    name: str = "endpoint"
    log_z: Optional[float] = None

    def __init__(self, dim: int, name: Optional[str] = None):
        if int(dim) < 1:
            raise EndpointError(f"dimension must be >= 1, got {dim}")
        self.dim = int(dim)
        if name is not None:
            self.name = name

    # -- capabilities -------------------------------------------------------------------
    @property
    def has_samples(self) -> bool:
        return type(self)._sample is not Endpoint._sample

    @property
    def has_density(self) -> bool:
        return type(self)._log_prob is not Endpoint._log_prob

    # -- to override --------------------------------------------------------------------
    def _sample(self, n: int, generator: Optional[torch.Generator]) -> torch.Tensor:
        raise NotImplementedError

    def _log_prob(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- public, validated --------------------------------------------------------------
    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Draw ``n`` samples, shape ``(n, dim)``."""
        if not self.has_samples:
            raise EndpointError(
                f"endpoint '{self.name}' is given only by an unnormalised density; it has no sampler"
            )
        if int(n) < 1:
            raise EndpointError(f"number of samples must be >= 1, got {n}")
        x = self._sample(int(n), generator)
        if x.shape != (int(n), self.dim):
            raise EndpointError(
                f"endpoint '{self.name}' sampler returned shape {tuple(x.shape)}, expected ({n}, {self.dim})"
            )
        return x

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Unnormalised log-density, shape ``(N,)``; raises on wrong shape or NaN."""
        if not self.has_density:
            raise EndpointError(
                f"endpoint '{self.name}' is given only by samples; it has no log-density"
            )
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise EndpointError(
                f"endpoint '{self.name}' expects states of shape (N, {self.dim}), got {tuple(x.shape)}"
            )
        out = self._log_prob(x)
        if out.shape != (x.shape[0],):
            raise EndpointError(
                f"log-density of '{self.name}' returned shape {tuple(out.shape)}, expected ({x.shape[0]},)"
            )
        if torch.isnan(out).any():
            raise EndpointError(f"log-density of '{self.name}' returned NaN")
        return out

    def grad_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Gradient of the log-density by autograd, shape ``(N, dim)``."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.log_prob(x).sum(), x)
        return g

    # -- views --------------------------------------------------------------------------
    def sample_view(self) -> "Endpoint":
        """The same distribution, offering only samples (e.g. the data end of d2e)."""
        return _SampleOnly(self)

    def energy_view(self) -> "Endpoint":
        """The same distribution, offering only its unnormalised log-density."""
        return _EnergyOnly(self)

    # -- energy algebra (the combinators below; functional forms in d2e_zoo.energies.algebra) --
    def __and__(self, other: "Endpoint") -> "Endpoint":
        """Conjunction: ``U = U_self + U_other``."""
        return Conjunction(self, other)

    def __or__(self, other: "Endpoint") -> "Endpoint":
        """Disjunction: ``U = -log(exp(-U_self) + exp(-U_other))``."""
        return Disjunction(self, other)

    def without(self, other: "Endpoint", weight: float = DEFAULT_NEGATION_WEIGHT) -> "Endpoint":
        """Negation: ``U = U_self - weight * U_other``."""
        return Negation(self, other, weight)

    def tempered(self, temperature: float) -> "Endpoint":
        """``U = U_self / temperature``."""
        return Tempered(self, temperature)

    def __repr__(self) -> str:
        caps = [c for c, ok in (("samples", self.has_samples), ("density", self.has_density)) if ok]
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, offers={'+'.join(caps)})"


class _SampleOnly(Endpoint):
    def __init__(self, base: Endpoint):
        super().__init__(base.dim, base.name)
        self.base = base

    def _sample(self, n, generator):
        return self.base._sample(n, generator)


class _EnergyOnly(Endpoint):
    def __init__(self, base: Endpoint):
        super().__init__(base.dim, base.name)
        self.base = base
        self.log_z = base.log_z

    def _log_prob(self, x):
        return self.base._log_prob(x)


class SampleEndpoint(Endpoint):
    """An end given by a sampling function ``fn(n, generator) -> (n, dim)``."""

    def __init__(self, fn: Callable[[int, Optional[torch.Generator]], torch.Tensor], dim: int, name="samples"):
        super().__init__(dim, name)
        self._fn = fn

    def _sample(self, n, generator):
        return self._fn(n, generator)


class EnergyEndpoint(Endpoint):
    """An end given by an unnormalised log-density ``fn(x: (N, dim)) -> (N,)``."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], dim: int, name="energy", log_z=None):
        super().__init__(dim, name)
        self._fn = fn
        self.log_z = log_z

    def _log_prob(self, x):
        return self._fn(x)


# ---------------------------------------------------------------------------------------
# energy algebra: compositions that keep an explicit Gibbs measure (U = -log_prob of each part).
# They live with Endpoint because its operators (&, |, without, tempered) return them; the
# functional forms and the maths are in d2e_zoo.energies.algebra.
# ---------------------------------------------------------------------------------------
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
