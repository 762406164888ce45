"""Tests for d2e_zoo.endpoints.toy: shapes, normalisation, sample statistics, views, errors."""

import math

import pytest
import torch
from scipy.integrate import quad

from d2e_zoo.endpoints.base import EndpointError
from d2e_zoo.endpoints.toy import (
    DISTRIBUTION_NAMES,
    Funnel,
    Gaussian,
    GaussianMixture,
    ManyWell,
    TwoMoons,
    cross,
    get_distribution,
    gmm8,
    gmm40,
)

ALL_NAMES = ["gauss", "gmm8", "cross", "gmm40", "moons", "manywell2", "manywell32", "funnel10"]
DIMS = {"gauss": 2, "gmm8": 2, "cross": 2, "gmm40": 2, "moons": 2, "manywell2": 2, "manywell32": 32, "funnel10": 10}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def grid_2d(lo_x, hi_x, lo_y, hi_y, n):
    """Flattened (n*n, 2) grid and the trapezoid weights (n*n,) for integration."""
    xs = torch.linspace(lo_x, hi_x, n, dtype=torch.float64)
    ys = torch.linspace(lo_y, hi_y, n, dtype=torch.float64)
    wx = torch.full((n,), float(xs[1] - xs[0]), dtype=torch.float64)
    wy = torch.full((n,), float(ys[1] - ys[0]), dtype=torch.float64)
    wx[[0, -1]] *= 0.5
    wy[[0, -1]] *= 0.5
    gx, gy = torch.meshgrid(xs, ys, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1), (wx[:, None] * wy[None, :]).reshape(-1)


def double_well_moment(k):
    """E[x^k] under exp(-x^4 + 6x^2 + x/2), by quadrature (independent of the module)."""
    f = lambda t, p: t**p * math.exp(-(t**4) + 6 * t**2 + 0.5 * t - 10)  # noqa: E731
    z = quad(f, -8, 8, args=(0,), limit=200, points=[0.0])[0]
    return quad(f, -8, 8, args=(k,), limit=200, points=[0.0])[0] / z


# -- registry, shapes, reproducibility -------------------------------------------------------


def test_registry_names():
    assert sorted(DISTRIBUTION_NAMES) == sorted(ALL_NAMES)
    for name in ALL_NAMES:
        d = get_distribution(name)
        assert d.name == name
        assert d.dim == DIMS[name]
    assert get_distribution("gmm8") is not get_distribution("gmm8")  # fresh instances


@pytest.mark.parametrize("name", ALL_NAMES)
def test_shapes_and_reproducibility(name):
    d = get_distribution(name)
    assert d.has_samples
    x = d.sample(7, gen(3))
    assert x.shape == (7, d.dim) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert torch.equal(x, d.sample(7, gen(3)))
    assert not torch.equal(x, d.sample(7, gen(4)))
    if name == "moons":
        assert not d.has_density
        return
    assert d.has_density
    lp = d.log_prob(x)
    assert lp.shape == (7,) and lp.dtype == torch.float32
    assert torch.isfinite(lp).all()


@pytest.mark.parametrize("name", ["gauss", "gmm8", "funnel10", "manywell32"])
def test_log_prob_wrong_shape_raises(name):
    d = get_distribution(name)
    with pytest.raises(EndpointError, match="expects states of shape"):
        d.log_prob(torch.zeros(4, d.dim + 1))
    with pytest.raises(EndpointError):
        d.log_prob(torch.zeros(d.dim))


def test_unknown_name_lists_valid_names():
    with pytest.raises(EndpointError) as err:
        get_distribution("gmm9")
    msg = str(err.value)
    assert "gmm9" in msg
    for name in ALL_NAMES:
        assert name in msg


# -- normalisation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, box", [("gauss", 6.0), ("gmm8", 1.8), ("cross", 1.4)]
)
def test_2d_density_integrates_to_one(name, box):
    d = get_distribution(name)
    assert d.log_z == 0.0
    pts, w = grid_2d(-box, box, -box, box, 801)
    mass = (torch.exp(d.log_prob(pts.float()).double()) * w).sum().item()
    assert abs(mass - 1.0) < 1e-3


def test_manywell2_grid_integral_matches_log_z():
    d = ManyWell(dim=2)
    n = 1201
    x1 = torch.linspace(-3.5, 3.5, n, dtype=torch.float64)
    x2 = torch.linspace(-8.0, 8.0, n, dtype=torch.float64)
    g1, g2 = torch.meshgrid(x1, x2, indexing="ij")
    pts = torch.stack([g1.reshape(-1), g2.reshape(-1)], 1)
    # float64 evaluation of the energy (the formula is dtype-agnostic) to keep the check sharp
    f = torch.exp(d._log_prob(pts)).reshape(n, n)
    integral = torch.trapezoid(torch.trapezoid(f, x2, dim=1), x1).item()
    assert abs(integral / math.exp(d.log_z) - 1.0) < 1e-3
    # and via the float32 public path
    lp32 = d.log_prob(pts.float()).double().reshape(n, n)
    integral32 = torch.trapezoid(torch.trapezoid(torch.exp(lp32), x2, dim=1), x1).item()
    assert abs(integral32 / math.exp(d.log_z) - 1.0) < 1e-3


def test_manywell_log_z_is_additive_over_wells():
    assert ManyWell(dim=32).log_z == pytest.approx(16 * ManyWell(dim=2).log_z, rel=1e-12)
    # the 1D integral is ~e^9.3745: log_z(manywell2) = 9.3745... + 0.5 log(2 pi)
    assert ManyWell(dim=2).log_z == pytest.approx(9.374541 + 0.5 * math.log(2 * math.pi), abs=1e-5)


def test_funnel_log_prob_matches_closed_form():
    d = Funnel(dim=10)
    x = d.sample(50, gen(1)).double()
    x0 = x[:, 0]
    normal = torch.distributions.Normal
    expected = (normal(0.0, torch.tensor(3.0, dtype=torch.float64)).log_prob(x0)
                + normal(0.0, torch.exp(0.5 * x0)[:, None]).log_prob(x[:, 1:]).sum(1))
    torch.testing.assert_close(d.log_prob(x), expected, rtol=1e-10, atol=1e-8)


def test_gaussian_log_prob_matches_torch():
    d = Gaussian(dim=3, std=0.7, mean=torch.tensor([1.0, -2.0, 0.5]))
    x = d.sample(20, gen(0))
    ref = torch.distributions.Normal(d.mean, 0.7).log_prob(x).sum(1)
    torch.testing.assert_close(d.log_prob(x), ref, rtol=1e-5, atol=1e-5)


# -- sample statistics -----------------------------------------------------------------------


def test_gaussian_sample_std():
    x = Gaussian(dim=2, std=0.7).sample(50_000, gen(0))
    assert x.mean(0).abs().max() < 0.02
    assert torch.allclose(x.std(0), torch.tensor([0.7, 0.7]), atol=0.01)


def test_gmm8_radius_and_mode_weights():
    d = gmm8()
    assert d.means.shape == (8, 2)
    assert torch.allclose(d.means.norm(dim=1), torch.ones(8), atol=1e-6)
    x = d.sample(20_000, gen(0))
    assert abs(x.norm(dim=1).mean().item() - 1.0) < 0.02
    frac = torch.bincount(d.assign_modes(x), minlength=8).float() / x.shape[0]
    assert ((frac - 0.125).abs() < 0.015).all(), frac


def test_cross_means():
    d = cross()
    assert d.name == "cross" and d.means.shape == (5, 2)
    expected = {(0.0, 0.0), (0.6, 0.36), (0.6, -0.36), (-0.6, 0.36), (-0.6, -0.36)}
    assert {tuple(round(v, 6) for v in m) for m in d.means.tolist()} == expected


def test_gmm40_modes_and_mode_weights():
    d = gmm40()
    assert d.means.shape == (40, 2)
    assert d.means.abs().max() <= 40.0
    assert torch.equal(d.means, gmm40(seed=0).means)
    assert not torch.equal(d.means, gmm40(seed=1).means)
    x = d.sample(40_000, gen(0))
    frac = torch.bincount(d.assign_modes(x), minlength=40).float() / x.shape[0]
    assert ((frac - 0.025).abs() < 0.006).all(), frac


def test_gaussian_mixture_weights_and_assign_modes():
    means = torch.tensor([[-3.0, 0.0], [3.0, 0.0]])
    d = GaussianMixture(means, std=torch.tensor([0.5, 1.0]), weights=torch.tensor([1.0, 3.0]))
    x = d.sample(20_000, gen(0))
    frac_right = (d.assign_modes(x) == 1).float().mean().item()
    assert abs(frac_right - 0.75) < 0.015
    assert d.assign_modes(torch.tensor([[-2.9, 0.1], [2.5, -1.0]])).tolist() == [0, 1]
    with pytest.raises(EndpointError):
        GaussianMixture(means, std=-1.0)
    with pytest.raises(EndpointError):
        GaussianMixture(means, weights=torch.tensor([1.0, 1.0, 1.0]))


def test_funnel_x0_std():
    x = Funnel(dim=10).sample(50_000, gen(0))
    assert abs(x[:, 0].std().item() - 3.0) < 0.05
    # conditional scale: x_i / exp(x0/2) is standard normal
    z = x[:, 1:] / torch.exp(0.5 * x[:, :1])
    assert abs(z.std().item() - 1.0) < 0.01


def test_manywell_sample_moments_match_quadrature():
    d = ManyWell(dim=2)
    x = d.sample(1_000_000, gen(0)).double()
    assert abs((x[:, 0] ** 2).mean().item() - double_well_moment(2)) < 2.5e-3
    assert abs(x[:, 0].mean().item() - double_well_moment(1)) < 5e-3
    assert abs(x[:, 1].std().item() - 1.0) < 3e-3
    # empirical probability of the right well vs quadrature
    f = lambda t: math.exp(-(t**4) + 6 * t**2 + 0.5 * t - 10)  # noqa: E731
    p_right = quad(f, 0, 8)[0] / (quad(f, -8, 0)[0] + quad(f, 0, 8)[0])
    assert abs((x[:, 0] > 0).double().mean().item() - p_right) < 2e-3


def test_manywell32_wells_independent_and_modes():
    d = ManyWell(dim=32)
    assert d.num_modes == 2**16
    x = d.sample(20_000, gen(0))
    x1 = x[:, 0::2].double()
    assert abs((x1**2).mean().item() - double_well_moment(2)) < 0.01
    modes = d.assign_modes(x)
    assert modes.dtype == torch.long and modes.shape == (20_000,)
    assert int(modes.min()) >= 0 and int(modes.max()) < d.num_modes
    # bit j of the mode index is the sign of the j-th well's first coordinate
    bits = torch.stack([(modes >> j) & 1 for j in range(16)], 1)
    assert torch.equal(bits.bool(), x[:, 0::2] > 0)


def test_manywell2_assign_modes():
    d = ManyWell(dim=2)
    assert d.num_modes == 2
    assert d.assign_modes(torch.tensor([[-1.7, 0.3], [1.7, -2.0]])).tolist() == [0, 1]


def test_moons_samples_only_and_range():
    d = TwoMoons()
    assert d.name == "moons" and d.has_samples and not d.has_density
    with pytest.raises(EndpointError):
        d.log_prob(torch.zeros(3, 2))
    x = d.sample(5_000, gen(0))
    assert x.abs().max() < 1.3
    # noiseless moons map to a known bounding box after the rescaling
    xn = TwoMoons(noise=0.0).sample(2_000, gen(0))
    lo, hi = xn.min(0).values, xn.max(0).values
    torch.testing.assert_close(lo, torch.tensor([-1.0, -1.0]), atol=1e-3, rtol=0)
    torch.testing.assert_close(hi, torch.tensor([1.0, 1.0]), atol=1e-3, rtol=0)


# -- views and bad input ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gauss", "gmm8", "manywell2", "funnel10"])
def test_views_hide_capabilities(name):
    d = get_distribution(name)
    ev, sv = d.energy_view(), d.sample_view()
    assert ev.has_density and not ev.has_samples
    assert sv.has_samples and not sv.has_density
    assert ev.log_z == d.log_z and ev.dim == d.dim and ev.name == d.name
    with pytest.raises(EndpointError):
        ev.sample(3)
    with pytest.raises(EndpointError):
        sv.log_prob(torch.zeros(3, d.dim))
    x = d.sample(5, gen(0))
    torch.testing.assert_close(ev.log_prob(x), d.log_prob(x))
    assert torch.equal(sv.sample(5, gen(0)), x)


def test_manywell_odd_dim_raises():
    with pytest.raises(EndpointError, match="even"):
        ManyWell(dim=3)
    with pytest.raises(EndpointError):
        ManyWell(dim=0)
