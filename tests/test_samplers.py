"""Static-energy samplers (d2e_zoo.samplers) against closed forms on Gaussians."""

import math

import pytest
import torch

from d2e_zoo.endpoints.toy import Gaussian
from d2e_zoo.samplers import (STOP_RULE_TYPES, STOP_RULES, EnergyMonitor, SamplerProgress, StopRule, drift_z,
                              estimate_log_sobolev, gaussian_kl, gradient_flow, langevin_time, laplacian,
                              make_stop_rule, sample, split_rhat)
from d2e_zoo.samplers.stopping import StopSettings

SIG = torch.tensor([0.5, 0.5, 1.0, 2.0])  # target N(0, diag(SIG^2)) in 4-d


def gauss_lp(x):
    return -0.5 * ((x / SIG) ** 2).sum(1)


def flow_crossing_time(s0: float) -> float:
    """R_t = 1 for the flow on N(0, diag(SIG^2)) from N(0, s0^2 I): solve
    sum_i 1/SIG_i^2 = sum_i s0^2 exp(-2 t / SIG_i^2) / SIG_i^4 by bisection."""
    def f(t):
        return float(((s0**2) * torch.exp(-2 * t / SIG**2) / SIG**4).sum() - (1 / SIG**2).sum())
    lo, hi = 0.0, 50.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    return lo


def test_flow_stopping_time_matches_the_isotropic_closed_form():
    sigma, s0 = 0.5, 2.0
    g = torch.Generator().manual_seed(0)
    res = gradient_flow(lambda x: -0.5 * (x**2).sum(1) / sigma**2, s0 * torch.randn(4000, 3, generator=g),
                        step_size=1e-3, max_steps=5000, generator=g)
    assert res.crossed
    assert res.stop_time == pytest.approx(sigma**2 * math.log(s0 / sigma), abs=0.01)
    # before the crossing R_t < 1 (KL still falling), at it R_t >= 1
    assert (res.r_trace[:-1] < 1).all() and res.r_trace[-1] >= 1
    # the particles at the stop have the target's spread (that is what R_t = 1 means here)
    assert res.samples.std() == pytest.approx(sigma, rel=0.03)


@pytest.mark.parametrize("n_probes", [None, 1])
def test_flow_stopping_time_on_an_anisotropic_gaussian(n_probes):
    g = torch.Generator().manual_seed(1)
    res = gradient_flow(gauss_lp, 3.0 * torch.randn(4000, 4, generator=g), step_size=1e-3, max_steps=20000,
                        n_probes=n_probes, generator=g)
    assert res.stop_time == pytest.approx(flow_crossing_time(3.0), rel=0.03)


def test_flow_without_stop_runs_on_and_collapses():
    g = torch.Generator().manual_seed(2)
    res = gradient_flow(gauss_lp, 3.0 * torch.randn(500, 4, generator=g), step_size=0.01, max_steps=600,
                        stop=False, generator=g)
    assert res.crossed and res.stop_step == 600  # ran on past the crossing, which is still reported
    assert res.stop_time == pytest.approx(flow_crossing_time(3.0), rel=0.05)
    assert res.r_trace[-1] > 10  # long after the crossing: particles collapsed onto the mode
    assert res.samples.std(0)[0] < 0.05  # the narrow directions have collapsed


def test_hutchinson_laplacian_is_unbiased_and_exact_mode_is_exact():
    a = torch.tensor([[2.0, 0.7, 0.0], [0.7, 1.0, -0.3], [0.0, -0.3, 0.5]])
    lp = lambda x: -0.5 * ((x @ a) * x).sum(1)  # noqa: E731  U = x^T A x / 2, Laplacian U = tr(A)
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    u, grad, lap = laplacian(lp, x)
    assert torch.allclose(lap, torch.full((64,), 3.5), atol=1e-5)
    assert torch.allclose(grad, x @ a, atol=1e-5)
    assert torch.allclose(u, -lp(x))
    _, _, lap_h = laplacian(lp, x, n_probes=200, generator=torch.Generator().manual_seed(1))
    assert lap_h.mean() == pytest.approx(3.5, rel=0.03)


def test_mala_and_ula_via_sample_reach_the_gaussian_moments():
    g = torch.Generator().manual_seed(3)
    x0 = 3.0 * torch.randn(4000, 4, generator=g) + 1.0
    mala = sample(gauss_lp, x0=x0, method="mala", stop="steps", num_steps=400, step_size=0.1, generator=g)
    assert 0.4 < mala.acceptance_rate < 0.8  # adapted towards 0.574
    assert torch.allclose(mala.samples.mean(0), torch.zeros(4), atol=4 * float(SIG.max()) / math.sqrt(4000))
    assert torch.allclose(mala.samples.var(0) / SIG**2, torch.ones(4), atol=0.1)
    assert mala.diagnostic.settled and mala.diagnostic.mixed
    h = 0.01
    ula = sample(gauss_lp, x0=x0, method="ula", stop="steps", num_steps=1500, step_size=h, generator=g)
    var_ula = SIG**2 / (1 - h / (2 * SIG**2))  # ULA's stationary variance on a Gaussian
    assert torch.allclose(ula.samples.var(0) / var_ula, torch.ones(4), atol=0.1)


def test_settled_rule_stops_early_with_the_right_moments():
    g = torch.Generator().manual_seed(4)
    res = sample(gauss_lp, x0=3.0 * torch.randn(3000, 4, generator=g), method="mala", stop="settled",
                 step_size=0.1, max_steps=3000, generator=g)
    assert res.diagnostic.settled and res.steps < 3000
    assert "settled" in res.stop_reason
    assert torch.allclose(res.samples.var(0) / SIG**2, torch.ones(4), atol=0.12)


def test_bakry_emery_constant_of_a_gaussian_is_its_smallest_precision():
    est = estimate_log_sobolev(gauss_lp, torch.randn(50, 4))
    assert est.valid and est.constant == pytest.approx(1 / 4.0, rel=1e-5)  # 1 / max SIG^2


def test_non_log_concave_energy_has_no_bakry_emery_bound_but_a_holley_stroock_one():
    # U = |x|^2 / 2 + 2 cos(3 x_1): curvature 1 - 18 cos(3 x_1) < 0 in places; osc V <= 4
    lp = lambda x: -0.5 * (x**2).sum(1) - 2 * torch.cos(3 * x[:, 0])  # noqa: E731
    x = torch.randn(400, 2, generator=torch.Generator().manual_seed(0))
    assert not estimate_log_sobolev(lp, x).valid
    hs = estimate_log_sobolev(lp, x, "holley-stroock", base_curvature=1.0,
                              perturbation=lambda x: 2 * torch.cos(3 * x[:, 0]))
    assert math.exp(-4.0) <= hs.constant < 1.0


def test_log_sobolev_time_reaches_the_tolerance_on_a_gaussian():
    sigma, m0, s0, eps = 0.5, 1.0, 2.0, 0.01
    d = 3
    kl0 = gaussian_kl([m0] * d, s0, [0.0] * d, sigma)
    tau = langevin_time(kl0, eps, 1 / sigma**2)
    # exact Langevin marginals: mean m0 e^{-t/s^2}, var s^2 + (s0^2 - s^2) e^{-2t/s^2}
    mean_t = m0 * math.exp(-tau / sigma**2)
    var_t = sigma**2 + (s0**2 - sigma**2) * math.exp(-2 * tau / sigma**2)
    assert gaussian_kl([mean_t] * d, math.sqrt(var_t), [0.0] * d, sigma) <= eps
    g = torch.Generator().manual_seed(5)
    res = sample(lambda x: -0.5 * (x**2).sum(1) / sigma**2, x0=s0 * torch.randn(4000, d, generator=g) + m0,
                 method="ula", stop="log-sobolev", step_size=0.002, kl0=kl0, generator=g)
    assert res.sufficient_time == pytest.approx(tau)
    assert tau <= res.langevin_time < tau + 0.0021
    assert res.samples.mean() == pytest.approx(0.0, abs=0.03) and res.samples.std() == pytest.approx(sigma, rel=0.03)
    assert "sufficient time" in res.stop_reason and "C_LS" in res.report()


def test_diagnostics_tell_mixed_from_stuck_chains():
    g = torch.Generator().manual_seed(6)
    iid = torch.randn(200, 500, generator=g)
    assert split_rhat(iid) == pytest.approx(1.0, abs=0.01)
    assert abs(drift_z(iid)) < 4
    stuck = iid + torch.randn(1, 500, generator=g) * 2  # chains at different energy levels
    assert split_rhat(stuck) > 1.5
    trending = iid + torch.linspace(0, 1, 200).unsqueeze(1)
    assert abs(drift_z(trending)) > 10
    mon = EnergyMonitor(check_every=10, min_steps=20)
    for k in range(100):
        mon(k, None, -iid[k], torch.full((500,), 0.1))
    diag = mon.diagnostic()
    assert diag.settled and diag.mixed and mon.settled_step == 20 and mon.elapsed_time == pytest.approx(10.0)


def test_energy_endpoint_starts_from_its_dimension():
    res = sample(Gaussian(dim=2, std=0.7), num_samples=100, num_steps=5, generator=torch.Generator().manual_seed(0))
    assert res.samples.shape == (100, 2)


@pytest.mark.parametrize("kwargs, match", [
    (dict(step_size=0.0), "step_size must be"),
    (dict(step_size=-1.0), "step_size must be"),
    (dict(step_size=float("nan")), "step_size must be"),
    (dict(method="hmc"), "unknown method 'hmc'; valid: mala, ula, flow"),
    (dict(method="flow", stop="settled"), "does not apply to flow; valid: r_t, steps"),
    (dict(stop="log-sobolev"), "needs kl0"),
    (dict(num_steps=0), "num_steps must be an integer >= 1"),
    (dict(stop="forever"), "unknown stopping rule 'forever'; valid for mala: steps, settled, log-sobolev"),
    (dict(min_steps=2), "min_steps must be an integer >= 4"),
    (dict(check_every=0), "check_every must be an integer >= 1"),
    (dict(record_every=0), "record_every must be an integer >= 1"),
    (dict(tolerance=float("nan")), "tolerance must be a finite number > 0"),
    (dict(init_std=0.0), "init_std must be a finite number > 0"),
    (dict(kl0=-1.0), "kl0 must be a finite number >= 0"),
    (dict(target_accept=1.5), r"target_accept must be in \(0, 1\)"),
    (dict(max_steps=float("inf")), "max_steps must be an integer >= 1"),
    (dict(x0=torch.full((10, 4), float("nan"))), "x0 contains non-finite values"),
])
def test_bad_input_gets_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample(gauss_lp, **{"x0": torch.zeros(10, 4), **kwargs})


@pytest.mark.parametrize("method", ["mala", "ula", "flow"])
def test_non_finite_energy_is_refused(method):
    def lp(x):
        out = gauss_lp(x)
        return torch.where(x[:, 0] > 0.5, torch.full_like(out, float("nan")), out)

    with pytest.raises(ValueError, match="non-finite"):
        sample(lp, x0=torch.linspace(0, 1, 10).unsqueeze(1).repeat(1, 4), method=method, num_steps=3, step_size=0.01)


def test_relaxation_rate_of_a_gaussian_is_its_log_sobolev_constant():
    from d2e_zoo.samplers import relaxation_constant

    sigma, h = 0.5, 0.002
    g = torch.Generator().manual_seed(7)
    res = sample(lambda x: -0.5 * (x**2).sum(1) / sigma**2, x0=2 * torch.randn(4000, 3, generator=g) + 1,
                 method="ula", num_steps=600, step_size=h, generator=g)
    est = relaxation_constant(torch.arange(1, 601) * h, res.diagnostic.energy_mean, res.diagnostic.energy_std, 4000)
    assert est.valid and est.constant == pytest.approx(1 / sigma**2, rel=0.1)


def double_well(x):
    return -((x[:, 0] ** 2 - 1) ** 2) - 0.5 * x[:, 1] ** 2


def test_log_sobolev_rule_without_convexity_uses_the_measured_relaxation():
    g = torch.Generator().manual_seed(8)
    res = sample(double_well, x0=1.5 * torch.randn(3000, 2, generator=g), method="mala", stop="log-sobolev", kl0=5.0,
                 step_size=0.01, generator=g)
    assert res.log_sobolev.method == "relaxation" and res.log_sobolev.valid
    assert res.sufficient_time is not None and res.langevin_time >= res.sufficient_time
    assert "sufficient time" in res.stop_reason
    assert (res.samples[:, 0] > 0).float().mean() == pytest.approx(0.5, abs=0.05)  # both wells, symmetric start


def test_a_curvature_bound_that_fails_along_the_run_is_flagged():
    g = torch.Generator().manual_seed(9)
    res = sample(double_well, x0=0.3 * torch.randn(2000, 2, generator=g) + 2.5, method="mala", stop="log-sobolev",
                 kl0=3.0, step_size=0.01, generator=g)
    assert res.log_sobolev.method == "bakry-emery"  # convex where the chains started...
    assert not res.log_sobolev_check.valid  # ...but not where they went
    assert "WARNING" in res.report() and "not a guarantee" in res.report()


def test_command_line_on_the_2d_suite_and_on_digits(capsys, tmp_path):
    import json

    from d2e_zoo.samplers.__main__ import main

    assert main(["gmm8", "--num-samples", "300", "--steps", "150", "--step-size", "0.01", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 150 and 0 < out["acceptance_rate"] < 1 and out["w2_squared"] < 0.3
    grid = tmp_path / "flow.png"
    assert main(["3 or 8", "--prior", "mnist-gan", "--method", "flow", "--num-samples", "64", "--step-size", "0.02",
                 "--save-grid", str(grid), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["flow_crossed"] and out["selected_classes"] == [3, 8] and grid.is_file()
    assert sum(out["class_mix"][c] for c in (3, 8)) > 0.5  # the flow moved the prior towards 3s and 8s


@pytest.mark.parametrize("argv, match", [
    (["gmm9"], "unknown distribution 'gmm9'; valid names"),
    (["even and", "--prior", "mnist-gan"], "ends too early"),
    (["gmm8", "--method", "flow", "--stop", "settled"], "does not apply to flow"),
])
def test_command_line_bad_input(argv, match, capsys):
    from d2e_zoo.samplers.__main__ import main

    with pytest.raises(SystemExit):
        main(argv)
    assert match in capsys.readouterr().err


# ---------------------------------------------------------------- stopping rules


def test_stop_rule_registry_names_every_rule_once_with_the_default_first():
    assert STOP_RULES == {"mala": ("steps", "settled", "log-sobolev"), "ula": ("steps", "settled", "log-sobolev"),
                          "flow": ("r_t", "steps")}
    for name, rule in STOP_RULE_TYPES.items():
        assert rule.name == name and issubclass(rule, StopRule) and rule.methods
    settings = StopSettings(num_steps=7, max_steps=90)
    assert make_stop_rule(None, "flow", settings).name == "r_t"
    assert make_stop_rule(None, "ula", settings).name == "steps"
    assert make_stop_rule("steps", "mala", settings).budget == 7  # "steps" runs num_steps, the others are capped
    assert make_stop_rule("settled", "mala", settings).budget == 90
    with pytest.raises(ValueError, match="unknown method 'hmc'; valid: mala, ula, flow"):
        make_stop_rule(None, "hmc", settings)


def test_each_rule_stops_where_it_says():
    g = torch.Generator().manual_seed(10)
    x0 = 3.0 * torch.randn(500, 4, generator=g)
    fixed = sample(gauss_lp, x0=x0, method="mala", stop="steps", num_steps=120, step_size=0.1, generator=g)
    assert fixed.steps == 120 and fixed.diagnostic.settled_step is not None  # settled, but ran on
    settled = sample(gauss_lp, x0=x0, method="mala", stop="settled", step_size=0.1, max_steps=500, generator=g)
    assert settled.steps == settled.diagnostic.settled_step < 500  # stopped at the first settled check
    flow = sample(gauss_lp, x0=x0, method="flow", step_size=0.01, max_steps=2000, generator=g)
    assert flow.flow.r_trace[-1] >= 1 and (flow.flow.r_trace[:-1] < 1).all()
    assert flow.steps == len(flow.flow.r_trace) - 1
    capped = sample(gauss_lp, x0=x0, method="flow", step_size=0.001, max_steps=5, generator=g)
    assert capped.steps == 5 and capped.stop_reason == "max_steps = 5 reached before R_t crossed 1"


def test_runs_shorter_than_the_settling_window_still_report_a_diagnostic():
    res = sample(gauss_lp, x0=torch.randn(50, 4), method="ula", num_steps=3, max_steps=3, step_size=0.01)
    assert res.steps == 3 and not res.diagnostic.settled  # too short to judge: not settled, and no error


def test_a_custom_rule_plugs_into_the_flow_and_langevin_loops():
    class StopAtStep(StopRule):
        name, methods = "at-step", ("mala", "flow")

        def should_stop(self, progress: SamplerProgress) -> bool:
            self.seen = progress
            return progress.step >= 7

        def reason(self, progress: SamplerProgress) -> str:
            return f"step {progress.step}"

    g = torch.Generator().manual_seed(11)
    x0 = 2.0 * torch.randn(100, 4, generator=g)
    stopped = gradient_flow(gauss_lp, x0, step_size=0.01, max_steps=100, stop=False,
                            callback=lambda k, x, r: StopAtStep(100).should_stop(SamplerProgress(k, x, r_t=r)))
    seven = gradient_flow(gauss_lp, x0, step_size=0.01, max_steps=7, stop=False)
    assert stopped.stop_step == 7 and torch.equal(stopped.samples, seven.samples)
    rule = StopAtStep(100)
    res = sample(gauss_lp, x0=x0, method="mala", stop=rule, step_size=0.1, generator=g)
    assert res.steps == 7 and res.stop_reason == "step 7" and res.stop == "at-step"
    assert rule.seen.time == pytest.approx(res.langevin_time) and len(res.diagnostic.energy_mean) == 7
    with pytest.raises(ValueError, match="'at-step' does not apply to ula; it applies to mala, flow"):
        sample(gauss_lp, x0=x0, method="ula", stop=StopAtStep(100))


def _double_well_start(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(300, 2, generator=g)
    x[:, 0] = torch.where(torch.rand(300, generator=g) < 0.5, -1.0, 1.0) + 0.35 * x[:, 0]
    return x


class _PriorStart:
    """N(0, 0.5^2 I) in 3-d whose kl_from_prior consumes the generator as the zoo's energies do."""

    dim = 3

    def log_prob(self, x):
        return -0.5 * (x**2).sum(1) / 0.25

    def kl_from_prior(self, n=100_000, generator=None):
        torch.randn(4, generator=generator)
        return gaussian_kl([0.0] * 3, 1.0, [0.0] * 3, 0.5), 0.0


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _narrow(x):
    return -0.5 * (x**2).sum(1) / 0.25


# (steps, Langevin time, sum and sum of squares of the samples, stop reason), recorded with the code before the
# stopping rules became classes (commit cce5175): the refactoring must not change a single draw.
RECORDED = {
    "mala-steps": (60, 9.424944069571794, -26.793167235329747, 1015.8477880238597, "ran the 60 requested steps"),
    "ula-settled": (20, 0.19999999552965164, -2.416675090789795, 794.8282457736871,
                    "energy statistics settled (|drift z| < 3.0) at step 20"),
    "mala-settled-cap": (30, 0.40762939854525027, 570.3249181210995, 1252.9338352605946,
                         "max_steps = 30 reached before the energy settled"),
    "ula-ls-bakry": (72, 0.7199999839067459, 76.82153323030798, 258.19938211419037,
                     "reached the sufficient time tau = 0.713 at step 72"),
    "mala-ls-relax": (50, 0.8656864558688055, -3.807475034147501, 649.9082127613127,
                      "reached the sufficient time tau = 0.22 at step 50"),
    "mala-ls-cap": (40, 0.6155801034873973, -21.457066979259253, 700.0075140220385,
                    "max_steps = 40 reached before a log-Sobolev constant could be estimated (not convex for "
                    "Bakry-Emery, and the energy never settled to fit its relaxation)"),
    "mala-ls-prior": (13, 0.7324079375341536, 5.9165435787290335, 242.727631522246,
                      "reached the sufficient time tau = 0.6861 at step 13"),
    "mala-ls-norate": (50, 0.8690249423558515, -57.65413092635572, 534.5927737000926,
                       "no log-Sobolev constant: not convex (no Bakry-Emery bound) and too few steps above the noise "
                       "to fit a decay rate; stopped when the energy settled, at step 50"),
    "flow-rt": (50, 0.5, -34.66117454902269, 3039.7194030645264, "R_t crossed 1 at t = 0.4901"),
    "flow-steps": (30, 0.3, -39.556621224968694, 4123.771100305691, "ran the 30 requested steps"),
}

RUNS = {
    "mala-steps": lambda: sample(gauss_lp, x0=2 * torch.randn(200, 4, generator=_gen(1)), method="mala", num_steps=60,
                                 step_size=0.1, record_every=25, generator=_gen(2)),
    "ula-settled": lambda: sample(double_well, x0=1.5 * torch.randn(300, 2, generator=_gen(3)), method="ula",
                                  stop="settled", max_steps=400, step_size=0.01, check_every=10, min_steps=20,
                                  generator=_gen(4)),
    "mala-settled-cap": lambda: sample(double_well, x0=1.5 * torch.randn(300, 2, generator=_gen(3)) + 2,
                                       method="mala", stop="settled", max_steps=30, step_size=0.01, generator=_gen(4)),
    "ula-ls-bakry": lambda: sample(_narrow, x0=2 * torch.randn(300, 3, generator=_gen(5)) + 1, method="ula",
                                   stop="log-sobolev", kl0=3.0, step_size=0.01, generator=_gen(6)),
    "mala-ls-relax": lambda: sample(double_well, x0=1.5 * torch.randn(300, 2, generator=_gen(7)), method="mala",
                                    stop="log-sobolev", kl0=5.0, step_size=0.01, max_steps=800, generator=_gen(8)),
    "mala-ls-cap": lambda: sample(double_well, x0=1.5 * torch.randn(300, 2, generator=_gen(7)), method="mala",
                                  stop="log-sobolev", kl0=5.0, step_size=0.01, max_steps=40, generator=_gen(8)),
    "mala-ls-prior": lambda: sample(_PriorStart(), num_samples=300, method="mala", stop="log-sobolev", step_size=0.05,
                                    max_steps=300, generator=_gen(9)),
    "mala-ls-norate": lambda: sample(double_well, x0=_double_well_start(12), method="mala", stop="log-sobolev",
                                     kl0=1.0, step_size=0.01, max_steps=400, generator=_gen(13)),
    "flow-rt": lambda: sample(gauss_lp, x0=3 * torch.randn(300, 4, generator=_gen(10)), method="flow",
                              step_size=0.01, generator=_gen(11)),
    "flow-steps": lambda: sample(gauss_lp, x0=3 * torch.randn(300, 4, generator=_gen(10)), method="flow",
                                 stop="steps", num_steps=30, step_size=0.01, generator=_gen(11)),
}


@pytest.mark.parametrize("case", list(RECORDED))
def test_same_seed_gives_the_results_recorded_before_the_rules_became_classes(case):
    steps, t, total, squares, reason = RECORDED[case]
    res = RUNS[case]()
    assert (res.steps, res.stop_reason) == (steps, reason)
    assert res.langevin_time == pytest.approx(t, rel=1e-9)
    assert float(res.samples.double().sum()) == pytest.approx(total, rel=1e-6, abs=1e-6)
    assert float(res.samples.double().pow(2).sum()) == pytest.approx(squares, rel=1e-6)
    if case == "mala-steps":
        assert res.trajectory.shape == (4, 200, 4) and res.trajectory_steps == [0, 25, 50, 60]
