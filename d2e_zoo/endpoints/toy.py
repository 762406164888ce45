"""Toy distributions for the 2D / ND benchmark suite.

Every distribution here is an :class:`~d2e_zoo.endpoints.base.Endpoint` over ``R^dim`` in
float32. Shapes follow the base class: ``sample(n)`` is ``(n, dim)``, ``log_prob(x)`` takes
``(N, dim)`` and returns ``(N,)``. All randomness comes from the ``generator`` passed to
``sample`` (a ``torch.Generator`` or None); numpy / scikit-learn randomness is seeded from it.

=================  ============================================  ========  =======  =========
name               distribution                                  samples   density  log_z
=================  ============================================  ========  =======  =========
``gauss``          isotropic normal, std 0.7, dim 2              yes       yes      0
``gmm8``           8 modes on the unit circle, std 0.1           yes       yes      0
``cross``          5 modes in a cross, std 0.1                   yes       yes      0
``gmm40``          40 modes uniform in [-40, 40]^2, std 1        yes       yes      0
``moons``          scikit-learn two moons, rescaled to ~[-1,1]^2 yes       no       --
``manywell2``      2D double well (unnormalised)                 yes       yes      exact
``manywell32``     16 independent double wells (unnormalised)    yes       yes      exact
``funnel10``       Neal's funnel, dim 10                         yes       yes      0
=================  ============================================  ========  =======  =========

Use :func:`get_distribution` to build one by name.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable, Dict, Optional, Sequence, Union

import torch

from d2e_zoo.dynamics.transition import gaussian_log_prob
from d2e_zoo.endpoints.base import Endpoint, EndpointError

__all__ = [
    "Gaussian",
    "GaussianMixture",
    "gmm8",
    "cross",
    "gmm40",
    "TwoMoons",
    "ManyWell",
    "Funnel",
    "get_distribution",
    "DISTRIBUTION_NAMES",
]


def _seed_from(generator: Optional[torch.Generator]) -> int:
    """A 31-bit integer seed drawn from ``generator`` (for numpy / scikit-learn)."""
    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator).item())


class Gaussian(Endpoint):
    """Isotropic normal ``N(mean, std^2 I)`` on ``R^dim``; normalised, ``log_z = 0``.

    Args:
        dim: dimension.
        std: standard deviation (> 0).
        mean: ``(dim,)`` tensor, zeros by default.
    """

    def __init__(self, dim: int = 2, std: float = 0.7, mean: Optional[torch.Tensor] = None, name: str = "gauss"):
        super().__init__(dim, name)
        if not std > 0:
            raise EndpointError(f"std must be > 0, got {std}")
        self.std = float(std)
        mean = torch.zeros(self.dim) if mean is None else torch.as_tensor(mean, dtype=torch.float32)
        if mean.shape != (self.dim,):
            raise EndpointError(f"mean must have shape ({self.dim},), got {tuple(mean.shape)}")
        self.mean = mean.float()
        self.log_z = 0.0

    def _sample(self, n, generator):
        return self.mean + self.std * torch.randn(n, self.dim, generator=generator)

    def _log_prob(self, x):
        return gaussian_log_prob(x, self.mean.to(x), self.std**2)


class GaussianMixture(Endpoint):
    """Mixture of isotropic normals; normalised, ``log_z = 0``.

    Args:
        means: ``(M, dim)`` component means (exposed as ``self.means``).
        std: a float, or an ``(M,)`` tensor of per-component standard deviations.
        weights: ``(M,)`` non-negative weights (normalised here); equal by default.

    ``assign_modes(x)`` maps ``(N, dim)`` states to the ``(N,)`` index of the nearest mean.
    """

    def __init__(
        self,
        means: torch.Tensor,
        std: Union[float, torch.Tensor] = 0.1,
        weights: Optional[torch.Tensor] = None,
        name: str = "gmm",
    ):
        means = torch.as_tensor(means, dtype=torch.float32)
        if means.ndim != 2 or means.shape[0] < 1:
            raise EndpointError(f"means must have shape (M, dim) with M >= 1, got {tuple(means.shape)}")
        super().__init__(means.shape[1], name)
        m = means.shape[0]
        self.means = means
        stds = torch.as_tensor(std, dtype=torch.float32)
        stds = stds.expand(m).clone() if stds.ndim == 0 else stds
        if stds.shape != (m,) or not bool((stds > 0).all()):
            raise EndpointError(f"std must be a positive float or a ({m},) tensor of positives, got {std}")
        self.stds = stds
        w = torch.ones(m) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        if w.shape != (m,) or bool((w < 0).any()) or not float(w.sum()) > 0:
            raise EndpointError(f"weights must be a ({m},) non-negative tensor with positive sum")
        self.weights = w / w.sum()
        self.log_z = 0.0

    @property
    def num_modes(self) -> int:
        return self.means.shape[0]

    def _sample(self, n, generator):
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator)
        return self.means[k] + self.stds[k, None] * eps

    def _log_prob(self, x):
        mu, s = self.means.to(x), self.stds.to(x)
        sq = ((x[:, None, :] - mu[None]) ** 2).sum(-1)  # (N, M)
        comp = -0.5 * sq / s**2 - self.dim * torch.log(s) - 0.5 * self.dim * math.log(2 * math.pi)
        return torch.logsumexp(comp + torch.log(self.weights.to(x)), dim=1)

    def assign_modes(self, x: torch.Tensor) -> torch.Tensor:
        """Index of the nearest mean for each row of ``x`` ``(N, dim)``; LongTensor ``(N,)``."""
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise EndpointError(f"expected states of shape (N, {self.dim}), got {tuple(x.shape)}")
        return torch.cdist(x.float(), self.means.to(x.device)).argmin(dim=1)


def gmm8() -> GaussianMixture:
    """8 equal modes on the unit circle at angles ``2 pi k / 8``, std 0.1."""
    a = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
    return GaussianMixture(torch.stack([a.cos(), a.sin()], 1).float(), std=0.1, name="gmm8")


def cross() -> GaussianMixture:
    """5 equal modes at (0, 0) and (+-0.6, +-0.36), std 0.1."""
    means = torch.tensor([[0.0, 0.0], [0.6, 0.36], [0.6, -0.36], [-0.6, 0.36], [-0.6, -0.36]])
    return GaussianMixture(means, std=0.1, name="cross")


def gmm40(seed: int = 0) -> GaussianMixture:
    """40 equal modes with means uniform in [-40, 40]^2 (torch generator seeded by ``seed``), std 1."""
    g = torch.Generator().manual_seed(int(seed))
    means = torch.rand(40, 2, generator=g) * 80.0 - 40.0
    return GaussianMixture(means, std=1.0, name="gmm40")


class TwoMoons(Endpoint):
    """scikit-learn two moons, rescaled ``x -> 2x/3 - 1/3``, ``y -> 4y/3 - 1/3``; samples only.

    ``sample(n)`` is ``(n, 2)``; there is no density (``log_prob`` raises ``EndpointError``).
    """

    def __init__(self, noise: float = 0.05, name: str = "moons"):
        super().__init__(2, name)
        self.noise = float(noise)

    def _sample(self, n, generator):
        from sklearn.datasets import make_moons

        x, _ = make_moons(n_samples=n, noise=self.noise, shuffle=True, random_state=_seed_from(generator))
        x = torch.as_tensor(x, dtype=torch.float32)
        scale = torch.tensor([2.0 / 3.0, 4.0 / 3.0])
        return x * scale - 1.0 / 3.0


# -- many-well ---------------------------------------------------------------------------------

_DW_LO, _DW_HI, _DW_GRID = -5.0, 5.0, 200_001


def _double_well_1d_log_density(x: torch.Tensor) -> torch.Tensor:
    """Unnormalised log-density of the first coordinate of a double well: ``-x^4 + 6x^2 + x/2``."""
    return -(x**4) + 6 * x**2 + 0.5 * x


@lru_cache(maxsize=1)
def _double_well_1d_log_norm() -> float:
    """``log int exp(-x^4 + 6x^2 + x/2) dx`` over R, by adaptive quadrature."""
    from scipy.integrate import quad

    shift = 10.0  # the integrand peaks near exp(9.85); divide it out for conditioning
    f = lambda t: math.exp(-(t**4) + 6 * t**2 + 0.5 * t - shift)  # noqa: E731
    total = sum(quad(f, a, b, epsabs=0.0, epsrel=1e-13, limit=200)[0] for a, b in ((-8, 0), (0, 8)))
    return math.log(total) + shift


@lru_cache(maxsize=1)
def _double_well_1d_cdf_grid():
    """Grid ``(x, cdf)`` (float64) for inverse-CDF sampling of the 1D double-well marginal.

    The density is integrated by the trapezoid rule on ``[-5, 5]`` (mass outside < e^-300); the
    inverse CDF is then linear between grid points, i.e. exact for a piecewise-linear density.
    """
    x = torch.linspace(_DW_LO, _DW_HI, _DW_GRID, dtype=torch.float64)
    logp = _double_well_1d_log_density(x)
    p = torch.exp(logp - logp.max())
    cdf = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(0.5 * (p[1:] + p[:-1]), 0)])
    return x, cdf / cdf[-1]


def _sample_double_well_1d(n: int, generator: Optional[torch.Generator]) -> torch.Tensor:
    """``(n,)`` float64 samples from ``exp(-x^4 + 6x^2 + x/2)`` by inverse CDF on a fine grid."""
    x, cdf = _double_well_1d_cdf_grid()
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    i = torch.searchsorted(cdf, u, right=True).clamp(1, len(cdf) - 1)
    c0, c1 = cdf[i - 1], cdf[i]
    t = (u - c0) / (c1 - c0).clamp_min(1e-300)
    return x[i - 1] + t * (x[i] - x[i - 1])


class ManyWell(Endpoint):
    """Product of ``dim/2`` independent 2D double wells (unnormalised), exact ``log_z``.

    For each pair ``(x1, x2) = (x[:, 2j], x[:, 2j+1])``:
    ``log p(x1, x2) = -x1^4 + 6 x1^2 + 0.5 x1 - 0.5 x2^2``. ``x1`` has two modes (near
    -1.7 and +1.7), so the distribution has ``num_modes = 2**(dim/2)`` modes.

    ``log_z = dim/2 * (log int exp(-x^4 + 6x^2 + x/2) dx + 0.5 log(2 pi))``, by quadrature.
    Sampling is exact: ``x2 ~ N(0, 1)``, ``x1`` by inverse CDF on a 200k-point grid.
    ``assign_modes(x)`` gives the ``(N,)`` integer whose bit ``j`` is ``x[:, 2j] > 0``.
    """

    def __init__(self, dim: int = 32, name: Optional[str] = None):
        if int(dim) != dim or int(dim) < 2 or int(dim) % 2 != 0:
            raise EndpointError(f"ManyWell needs an even dimension >= 2 (pairs of coordinates), got {dim}")
        super().__init__(int(dim), name or f"manywell{int(dim)}")
        self.num_wells = self.dim // 2
        self.num_modes = 2**self.num_wells
        self.log_z = self.num_wells * (_double_well_1d_log_norm() + 0.5 * math.log(2 * math.pi))

    def _sample(self, n, generator):
        x1 = _sample_double_well_1d(n * self.num_wells, generator).view(n, self.num_wells)
        x2 = torch.randn(n, self.num_wells, generator=generator, dtype=torch.float64)
        return torch.stack([x1, x2], dim=2).reshape(n, self.dim).float()

    def _log_prob(self, x):
        pairs = x.reshape(x.shape[0], self.num_wells, 2)
        x1, x2 = pairs[..., 0], pairs[..., 1]
        return (_double_well_1d_log_density(x1) - 0.5 * x2**2).sum(-1)

    def assign_modes(self, x: torch.Tensor) -> torch.Tensor:
        """LongTensor ``(N,)``: sum over wells ``j`` of ``(x[:, 2j] > 0) * 2**j``."""
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise EndpointError(f"expected states of shape (N, {self.dim}), got {tuple(x.shape)}")
        if self.num_wells > 62:
            raise EndpointError(f"mode index of {self.num_wells} wells does not fit in int64")
        bits = (x[:, 0::2] > 0).long()
        powers = 2 ** torch.arange(self.num_wells, device=x.device, dtype=torch.long)
        return (bits * powers).sum(1)


class Funnel(Endpoint):
    """Neal's funnel on ``R^dim``; normalised, ``log_z = 0``, exact sampling.

    ``x0 ~ N(0, 3^2)`` and ``x_i | x0 ~ N(0, exp(x0))`` for ``i = 1..dim-1`` (variance exp(x0)).
    """

    def __init__(self, dim: int = 10, name: Optional[str] = None):
        if int(dim) < 2:
            raise EndpointError(f"Funnel needs dim >= 2, got {dim}")
        super().__init__(int(dim), name or f"funnel{int(dim)}")
        self.log_z = 0.0

    def _sample(self, n, generator):
        x0 = 3.0 * torch.randn(n, 1, generator=generator)
        rest = torch.exp(0.5 * x0) * torch.randn(n, self.dim - 1, generator=generator)
        return torch.cat([x0, rest], dim=1)

    def _log_prob(self, x):
        x0, rest = x[:, 0], x[:, 1:]
        k = self.dim - 1
        lp0 = -0.5 * x0**2 / 9.0 - math.log(3.0) - 0.5 * math.log(2 * math.pi)
        lpr = -0.5 * (rest**2).sum(1) * torch.exp(-x0) - 0.5 * k * x0 - 0.5 * k * math.log(2 * math.pi)
        return lp0 + lpr


# -- registry ----------------------------------------------------------------------------------

_REGISTRY: Dict[str, Callable[[], Endpoint]] = {
    "gauss": lambda: Gaussian(dim=2, std=0.7),
    "gmm8": gmm8,
    "cross": cross,
    "gmm40": gmm40,
    "moons": TwoMoons,
    "manywell2": lambda: ManyWell(dim=2),
    "manywell32": lambda: ManyWell(dim=32),
    "funnel10": lambda: Funnel(dim=10),
}

DISTRIBUTION_NAMES: Sequence[str] = tuple(_REGISTRY)


def get_distribution(name: str) -> Endpoint:
    """A fresh instance of the benchmark distribution called ``name``."""
    try:
        factory = _REGISTRY[name]
    except (KeyError, TypeError):
        raise EndpointError(
            f"unknown distribution {name!r}; valid names: {', '.join(DISTRIBUTION_NAMES)}"
        ) from None
    return factory()
