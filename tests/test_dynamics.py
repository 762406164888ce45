"""Time grids, reference processes (closed forms), kernels and simulation."""

import math

import pytest
import torch

from d2e_zoo.dynamics import (GaussianKernel, ReferenceKernel, ReferenceProcess, TimeGrid, gaussian_log_prob,
                              gaussian_transition, simulate, transition_log_probs)
from d2e_zoo.dynamics.networks import DriftNet
from d2e_zoo.dynamics.time_grid import TimeGridError


@pytest.mark.parametrize("kind", ["uniform", "cosine", "quadratic"])
def test_time_grid_kinds(kind):
    grid = TimeGrid.make(10, 2.0, kind)
    assert grid.num_steps == 10 and grid.times.shape == (11,)
    assert grid.times[0] == 0 and math.isclose(grid.t_max, 2.0, rel_tol=1e-6)
    assert (grid.dt > 0).all() and math.isclose(float(grid.dt.sum()), 2.0, rel_tol=1e-5)


def test_time_grid_bad_input():
    with pytest.raises(TimeGridError, match="K"):
        TimeGrid.make(0)
    with pytest.raises(TimeGridError, match="valid kinds: uniform, cosine, quadratic"):
        TimeGrid.make(5, kind="log")


@pytest.mark.parametrize("alpha", [0.0, 1.5])
def test_reference_reversal_is_exact(alpha):
    """Forward reference from N(0, a^2) then its exact reversal: log w = 0 path by path."""
    g = torch.Generator().manual_seed(0)
    ref = ReferenceProcess(sigma2=2.0, alpha=alpha, init_std=0.7)
    grid = TimeGrid.make(12, 0.5, "cosine")
    fwd, bwd = ReferenceKernel(ref, "forward"), ReferenceKernel(ref, "backward")
    traj = simulate(fwd, torch.randn(20000, 2, generator=g) * 0.7, grid, g, with_log_probs=True)
    v_t = ref.marginal_var(torch.tensor(grid.t_max))
    log_w = (gaussian_log_prob(traj.x0, torch.zeros(2), torch.tensor([0.49]))
             + transition_log_probs(fwd, traj.states, grid).sum(0)
             - gaussian_log_prob(traj.x_last, torch.zeros(2), v_t.view(1))
             - transition_log_probs(bwd, traj.states, grid).sum(0))
    assert log_w.abs().max() < 1e-3
    # the empirical terminal variance matches the closed form v(T)
    assert abs(float(traj.x_last.var(0).mean()) - float(v_t)) < 0.03 * float(v_t)
    # and the reversal run from N(0, v(T)) lands back on N(0, a^2)
    back = simulate(bwd, torch.randn(20000, 2, generator=g) * v_t.sqrt(), grid, g)
    assert abs(float(back.x0.std(0).mean()) - 0.7) < 0.02


def test_simulation_log_probs_match_rescoring_and_time_order():
    g = torch.Generator().manual_seed(1)
    grid = TimeGrid.make(7, 1.0)
    kern = GaussianKernel(3, "backward", ReferenceProcess(0.5))
    torch.nn.init.normal_(kern.net.head.weight, std=0.3)  # a non-trivial kernel
    x_k = torch.randn(64, 3, generator=g)
    traj = simulate(kern, x_k, grid, g, with_log_probs=True)
    assert traj.states.shape == (8, 64, 3) and torch.equal(traj.x_last, x_k)
    assert torch.allclose(traj.log_probs, transition_log_probs(kern, traj.states, grid), atol=1e-4)


def test_fresh_forward_kernel_is_the_reference():
    ref = ReferenceProcess(sigma2=0.7, alpha=0.3)
    kern = GaussianKernel(2, "forward", ref)
    x, t, dt = torch.randn(5, 2), torch.rand(5), torch.full((5,), 0.1)
    mean, var = kern.mean_var(x, t, dt)
    ref_mean, ref_var = ref.transition(x, dt)
    assert torch.allclose(mean, ref_mean) and torch.allclose(var, ref_var.expand_as(var))


def test_kernel_runs_on_another_grid():
    """A kernel is a function of (t, dt): it can be simulated with fewer steps than trained."""
    kern = GaussianKernel(2, "forward", ReferenceProcess(1.0))
    for k in (3, 20, 50):
        assert simulate(kern, torch.zeros(10, 2), TimeGrid.make(k, 1.0)).states.shape == (k + 1, 10, 2)


def test_reference_bad_input():
    with pytest.raises(ValueError, match="sigma2"):
        ReferenceProcess(sigma2=0.0)
    with pytest.raises(ValueError, match="valid kinds: brownian, ou"):
        ReferenceProcess.make("vp", 1.0)


def test_chunked_simulation_is_consistent():
    g = torch.Generator().manual_seed(4)
    grid = TimeGrid.make(4, 1.0)
    kern = GaussianKernel(2, "forward", ReferenceProcess(0.5))
    traj = simulate(kern, torch.randn(1000, 2, generator=g), grid, g, with_log_probs=True, chunk_size=300)
    assert traj.states.shape == (5, 1000, 2) and traj.log_probs.shape == (4, 1000)
    assert torch.allclose(traj.log_probs, transition_log_probs(kern, traj.states, grid), atol=1e-4)


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_gaussian_transition_closed_form(alpha):
    """Both directions against the written-out formulas: forward N(a x + dt (f + g), c e^v),
    backward N(x + dt b, c e^v), a = e^{-alpha dt}, c = sigma2 (1 - a^2) / (2 alpha) (sigma2 dt at alpha = 0)."""
    ref = ReferenceProcess(sigma2=0.8, alpha=alpha)
    g = torch.Generator().manual_seed(3)
    x, drift, log_var, guide = (torch.randn(5, 3, generator=g) for _ in range(4))
    dt = torch.tensor([0.1, 0.2, 0.05, 0.3, 0.15])
    a = torch.exp(-alpha * dt)[:, None]
    c = (0.8 * dt if alpha == 0 else 0.8 * (1 - torch.exp(-2 * alpha * dt)) / (2 * alpha))[:, None]
    mean, var = gaussian_transition(ref, "forward", x, dt, drift, log_var, guide)
    torch.testing.assert_close(mean, a * x + dt[:, None] * (drift + guide))
    torch.testing.assert_close(var, c * log_var.exp())
    mean, var = gaussian_transition(ref, "backward", x, dt, drift, log_var)
    torch.testing.assert_close(mean, x + dt[:, None] * drift)
    torch.testing.assert_close(var, c * log_var.exp())
    mean, var = gaussian_transition(ref, "forward", x, dt)  # no learned part: the reference
    torch.testing.assert_close(mean, a * x)
    torch.testing.assert_close(var, c)
    with pytest.raises(ValueError, match="valid: forward, backward"):
        gaussian_transition(ref, "sideways", x, dt)


def test_gaussian_log_prob_diagonal_and_isotropic():
    g = torch.Generator().manual_seed(5)
    x, mean = torch.randn(7, 3, generator=g), torch.randn(7, 3, generator=g)
    var = torch.rand(7, 3, generator=g) + 0.1
    expected = torch.distributions.Normal(mean, var.sqrt()).log_prob(x).sum(-1)
    torch.testing.assert_close(gaussian_log_prob(x, mean, var), expected)
    iso = torch.distributions.Normal(mean, 0.7).log_prob(x).sum(-1)
    torch.testing.assert_close(gaussian_log_prob(x, mean, 0.49), iso)
    torch.testing.assert_close(gaussian_log_prob(x, mean, torch.tensor([0.49])), iso)
    with pytest.raises(ValueError, match="variance must be > 0"):
        gaussian_log_prob(x, mean, 0.0)


def test_guided_kernel_adds_guidance_to_the_drift():
    """Score guidance is an added drift term: mean = reference mean + dt (f + scale h(t) score(x))."""
    ref = ReferenceProcess(sigma2=0.5, alpha=0.4)
    kern = GaussianKernel(2, "forward", ref, hidden=8, score_fn=lambda x: -x, guidance_scale=0.5)
    torch.nn.init.normal_(kern.guidance[2].weight, std=0.5)
    x, t, dt = torch.randn(6, 2), torch.rand(6), torch.full((6,), 0.1)
    drift, log_var = kern.net(x, t)
    guide = 0.5 * kern.guidance(kern.net.embed(t)) * (-x)
    assert guide.abs().max() > 0
    mean, var = kern.mean_var(x, t, dt)
    torch.testing.assert_close(mean, gaussian_transition(ref, "forward", x, dt, drift + guide)[0])


def test_drift_net_records_its_config():
    net = DriftNet(3, hidden=12, depth=2, learn_variance=False, max_log_var=1.5, t_scale=2.0, time_dim=8,
                   state_scale=3.0)
    assert net.config == dict(dim=3, hidden=12, depth=2, learn_variance=False, max_log_var=1.5, t_scale=2.0,
                              time_dim=8, state_scale=3.0)
    copy = DriftNet(**net.config)
    copy.load_state_dict(net.state_dict())  # same architecture: every tensor fits
