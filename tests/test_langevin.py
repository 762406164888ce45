"""Langevin samplers against closed forms on a 2-D Gaussian N(m, diag(s^2))."""

import math

import pytest
import torch

from d2e_zoo.exploration.langevin import LangevinResult, LangevinSampler, mala_step, ula_step

M = torch.tensor([1.0, -2.0])
S = torch.tensor([0.5, 2.0])
N_CHAINS = 4000


def gauss_log_prob(x):
    return -0.5 * (((x - M) / S) ** 2).sum(dim=1)


def pooled_snapshots(sampler_cfg, burn_in, n_snap, gap, seed, x0=None):
    """Run a burn-in, then collect ``n_snap`` snapshots ``gap`` steps apart; (n_snap*N, 2)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(N_CHAINS, 2) if x0 is None else x0
    x = LangevinSampler(num_steps=burn_in, **sampler_cfg).run(x, gauss_log_prob, generator=g).samples
    snaps = [x]
    for _ in range(n_snap - 1):
        x = LangevinSampler(num_steps=gap, **sampler_cfg).run(x, gauss_log_prob, generator=g).samples
        snaps.append(x)
    return torch.cat(snaps)


def assert_moments(x, mean, var, n_eff=N_CHAINS, n_sd=4.0):
    """Mean and variance within ``n_sd`` Monte-Carlo standard deviations (``n_eff`` samples)."""
    mean_err = (x.mean(0) - mean).abs()
    assert (mean_err < n_sd * var.sqrt() / math.sqrt(n_eff)).all(), (x.mean(0), mean)
    rel_var_err = (x.var(0) / var - 1).abs()
    assert (rel_var_err < n_sd * math.sqrt(2.0 / n_eff)).all(), (x.var(0), var)


def test_mala_is_exact_even_with_a_large_step():
    # h = 0.3: ULA would inflate Var[x_1] by 1/(1 - h/(2 s_1^2)) = 2.5x; MALA must not.
    x = pooled_snapshots(dict(method="mala", step_size=0.3, adapt="none"), 400, 4, 60, seed=0)
    assert_moments(x, M, S**2, n_eff=2 * N_CHAINS)


def test_ula_small_step_matches_its_known_bias():
    h = 0.05
    # ULA on a Gaussian is an AR(1) with stationary variance s^2 / (1 - h / (2 s^2)).
    var_ula = S**2 / (1 - h / (2 * S**2))
    x = pooled_snapshots(dict(method="ula", step_size=h), 800, 3, 100, seed=1)
    assert_moments(x, M, var_ula)
    # the O(h) bias is real and in the predicted direction for the narrow coordinate
    assert x[:, 0].var() > S[0] ** 2 * (1 + 0.5 * (h / (2 * S[0] ** 2)))
    assert abs(x[:, 0].var() / S[0] ** 2 - 1) < 2 * h / S[0] ** 2


@pytest.mark.parametrize("temperature", [0.5, 3.0])
def test_mala_temperature_scales_gaussian_variance(temperature):
    cfg = dict(method="mala", step_size=0.2 * temperature, adapt="global",
               temperature_init=temperature, temperature_final=temperature)
    x = pooled_snapshots(cfg, 500, 2, 80, seed=2)
    assert_moments(x, M, temperature * S**2)


def test_ula_step_temperature_matches_ar1_variance():
    g = torch.Generator().manual_seed(3)
    t, h = 2.0, 0.05
    x = torch.zeros(N_CHAINS, 2)
    for _ in range(800):
        x = ula_step(x, gauss_log_prob, h, temperature=t, generator=g)
    var = t * S**2 / (1 - h / (2 * t * S**2))
    assert_moments(x, M, var)


@pytest.mark.parametrize("adapt,init_step", [("per_chain", 1e-3), ("global", 10.0)])
def test_mala_adaptation_reaches_target_acceptance(adapt, init_step):
    g = torch.Generator().manual_seed(4)
    sampler = LangevinSampler(method="mala", step_size=init_step, num_steps=600, adapt=adapt)
    res = sampler.run(torch.zeros(N_CHAINS, 2), gauss_log_prob, generator=g)
    assert isinstance(res, LangevinResult)
    late = float(res.acceptance_trace[-200:].mean())
    assert abs(late - 0.574) < 0.1
    assert 0.0 < res.acceptance_rate < 1.0
    assert res.step_size.shape == (N_CHAINS,)
    if adapt == "global":
        assert torch.allclose(res.step_size, res.step_size[:1].expand(N_CHAINS))
    # adaptation moved the step far from its bad initial value
    assert 0.05 < float(res.step_size.median()) < 2.0


def test_schedules_hit_their_end_points():
    s = LangevinSampler(method="ula", step_size=0.1, step_size_final=1e-3, num_steps=50,
                        temperature_init=10.0)
    h, t = s.step_size_schedule(), s.temperature_schedule()
    assert h.shape == t.shape == (50,)
    assert h[0].item() == pytest.approx(0.1) and h[-1].item() == pytest.approx(1e-3)
    assert t[0].item() == pytest.approx(10.0) and t[-1].item() == pytest.approx(1.0)
    ratios = h[1:] / h[:-1]  # geometric: constant ratio, decreasing
    assert torch.allclose(ratios, ratios[:1].expand_as(ratios)) and (ratios < 1).all()
    res = s.run(torch.zeros(16, 2), gauss_log_prob, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(res.step_size, torch.full((16,), 1e-3))
    assert res.acceptance_rate is None and res.acceptance_trace is None
    assert res.log_prob_trace.shape == (50,)
    assert torch.allclose(res.log_prob, gauss_log_prob(res.samples))


def test_annealed_tempering_ends_on_the_target():
    g = torch.Generator().manual_seed(5)
    s = LangevinSampler(method="mala", step_size=0.5, num_steps=400, adapt="global", temperature_init=10.0)
    x0 = torch.randn(N_CHAINS, 2, generator=g) * 5.0
    res = s.run(x0, gauss_log_prob, generator=g)
    assert_moments(res.samples, M, S**2, n_sd=5.0)
    # energy trace improves as the temperature drops
    assert res.log_prob_trace[-20:].mean() > res.log_prob_trace[:20].mean()


def test_mala_step_accepts_per_chain_step_sizes():
    g = torch.Generator().manual_seed(6)
    x = torch.zeros(8, 2)
    step = torch.tensor([1e-4] * 4 + [50.0] * 4)
    acc = torch.zeros(8)
    for _ in range(50):
        x, a = mala_step(x, gauss_log_prob, step, generator=g)
        assert a.dtype == torch.bool and a.shape == (8,)
        acc += a.float()
    assert (acc[:4] > acc[4:]).all()  # tiny steps almost always accepted, huge ones rarely


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_step_size_raises(bad):
    x = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="step_size"):
        ula_step(x, gauss_log_prob, bad)
    with pytest.raises(ValueError, match="step_size"):
        mala_step(x, gauss_log_prob, bad)
    with pytest.raises(ValueError, match="step_size"):
        LangevinSampler(step_size=bad)


def test_bad_per_chain_step_size_raises():
    x = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="step_size"):
        mala_step(x, gauss_log_prob, torch.tensor([0.1, 0.1, 0.0, 0.1]))
    with pytest.raises(ValueError, match="step_size"):
        mala_step(x, gauss_log_prob, torch.full((3,), 0.1))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_log_prob_raises(value):
    def log_prob(x):
        out = gauss_log_prob(x)
        return torch.where(x[:, 0] > 0.5, torch.full_like(out, value), out)

    x = torch.zeros(4, 2)
    x[0, 0] = 1.0
    for fn in (ula_step, mala_step):
        with pytest.raises(ValueError, match="non-finite"):
            fn(x, log_prob, 0.1)
    with pytest.raises(ValueError, match="non-finite"):
        LangevinSampler(method="mala", num_steps=5).run(x, log_prob)


def test_non_finite_gradient_raises():
    def log_prob(x):  # finite value, NaN gradient at 0
        return -(x.abs() ** 0.5).sum(dim=1)

    with pytest.raises(ValueError, match="gradient"):
        ula_step(torch.zeros(4, 2), log_prob, 0.1)


def test_wrong_shapes_and_config_raise():
    with pytest.raises(ValueError, match="shape"):
        ula_step(torch.zeros(4), gauss_log_prob, 0.1)
    with pytest.raises(ValueError, match="shape"):
        mala_step(torch.zeros(4, 2), lambda x: gauss_log_prob(x)[:, None], 0.1)
    with pytest.raises(ValueError, match="temperature"):
        ula_step(torch.zeros(4, 2), gauss_log_prob, 0.1, temperature=0.0)
    with pytest.raises(ValueError, match="method"):
        LangevinSampler(method="hmc")
    with pytest.raises(ValueError, match="num_steps"):
        LangevinSampler(num_steps=0)
    with pytest.raises(ValueError, match="target_accept"):
        LangevinSampler(target_accept=1.0)
    with pytest.raises(ValueError, match="global_move_every"):
        LangevinSampler(global_move_every=-1)
    with pytest.raises(ValueError, match="global_move_std"):
        LangevinSampler(global_move_std=0.0)


def two_mode_log_prob(x, weight_right=0.2, centre=3.0, s=0.3):
    """log of ``(1 - w) N(-c, s^2) + w N(c, s^2)`` in 1-D for ``x: (N, 1)``; modes 20 s apart."""
    left = math.log(1 - weight_right) - 0.5 * ((x[:, 0] + centre) / s) ** 2
    right = math.log(weight_right) - 0.5 * ((x[:, 0] - centre) / s) ** 2
    return torch.logaddexp(left, right)


@pytest.mark.parametrize("global_every", [0, 2])
def test_global_moves_give_distant_modes_their_weights(global_every):
    # every chain starts in the heavy left mode; MALA alone never crosses the 20-sigma gap,
    # the independence moves (proposal N(0, 3^2)) must move 20% of the mass to the right mode
    g = torch.Generator().manual_seed(0)
    sampler = LangevinSampler(step_size=0.05, num_steps=300, global_move_every=global_every, global_move_std=3.0)
    result = sampler.run(torch.full((N_CHAINS, 1), -3.0), two_mode_log_prob, generator=g)
    right = (result.samples[:, 0] > 0).double().mean().item()
    if global_every:
        assert abs(right - 0.2) < 4 * math.sqrt(0.2 * 0.8 / N_CHAINS), right
        assert 0.01 < result.global_acceptance_rate < 0.5
        within = result.samples[result.samples[:, 0] > 0, 0]
        assert abs(within.std().item() - 0.3) < 0.03  # and the right mode has its own width
    else:
        assert right == 0.0 and result.global_acceptance_rate is None
