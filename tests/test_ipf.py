"""The IPF trainer end to end: closed forms, bounds, short trainings, resume, failures."""

import math
import os

import pytest
import torch

from d2e_zoo.endpoints.base import EndpointError, EnergyEndpoint
from d2e_zoo.endpoints.toy import Gaussian, gmm8
from d2e_zoo.ipf import (CheckpointError, ConfigError, IPFConfig, IPFTrainer, NonFiniteLossError, load_checkpoint,
                         save_checkpoint)
from d2e_zoo.metrics.bridge import evaluate_bridge

A, B, EPS = 1.0, 0.5, 1.0  # source std, target std, reference variance sigma2 * T


def gaussian_sb_covariance(a, b, eps):
    """Cov(x0, x1) of the Schrödinger bridge between N(0, a^2) and N(m, b^2) in 1-D with a
    Brownian reference of variance eps: the joint density is f(x0) g(x1) exp(-(x1-x0)^2 / 2eps),
    so the off-diagonal of its precision is -1/eps, giving c^2 + eps c - a^2 b^2 = 0."""
    return (-eps + math.sqrt(eps**2 + 4 * a**2 * b**2)) / 2


@pytest.mark.slow
@pytest.mark.parametrize("method", ["d2d", "d2e", "e2e"])
def test_gaussian_bridge_matches_closed_form(method):
    source, target = Gaussian(1, std=A), Gaussian(1, std=B, mean=torch.tensor([1.0]))
    views = {"d2d": (source.sample_view(), target.sample_view()),
             "d2e": (source.sample_view(), target.energy_view()),
             "e2e": (source.energy_view(), target.energy_view())}[method]
    cfg = IPFConfig(num_steps=10, t_max=1.0, sigma2=EPS, ipf_iterations=3, backward_steps=250,
                    forward_steps=250, batch_size=256, langevin_step=0.05, buffer_size=2048)
    trainer = IPFTrainer(*views, cfg, method)
    trainer.train()
    g = torch.Generator().manual_seed(1)
    x0 = source.sample(20000, g)
    x1 = trainer.sample(20000, x0, generator=g).x_last
    cov = float(((x0 - x0.mean()) * (x1 - x1.mean())).mean())
    assert abs(float(x1.mean()) - 1.0) < 0.05
    assert abs(float(x1.std()) - B) < 0.04
    assert abs(cov - gaussian_sb_covariance(A, B, EPS)) < 0.04


class ShiftedGaussian(Gaussian):
    """N(mean, std^2) times e^3: log Z = 3 exactly."""

    log_z = 3.0

    def _log_prob(self, x):
        return super()._log_prob(x) + 3.0


@pytest.mark.slow
def test_sampler_log_z_bounds():
    source = Gaussian(2, std=1.0)
    target = ShiftedGaussian(2, std=0.5, mean=torch.tensor([1.0, -0.5]))
    target.log_z = 3.0
    cfg = IPFConfig(num_steps=10, t_max=1.0, sigma2=1.0, source_std=1.0, ipf_iterations=2, forward_steps=300,
                    energy_loss="trajectory_balance", langevin_step=0.05, buffer_size=1024)
    trainer = IPFTrainer(source, target.energy_view(), cfg, "sampler")
    trainer.train()
    m = evaluate_bridge(trainer.forward, trainer.backward, trainer.grid, source, target, 4000,
                        torch.Generator().manual_seed(2), iw_draws=4)
    assert m["elbo"] <= 3.0 <= m["eubo"]
    assert abs(m["iw_log_z"] - 3.0) < 0.05
    # repeated draws: independent batches, the first is the reported one; the pooled
    # estimate (log of the mean of all weights) lies between the draws' extremes
    draws = m["iw_log_z_draws"]
    assert len(draws) == 4 and draws[0] == pytest.approx(m["iw_log_z"], abs=1e-4) and len(set(draws)) == 4
    assert min(draws) - 1e-4 <= m["iw_log_z_pooled"] <= max(draws) + 1e-4
    assert m["iw_abs_error_max"] == pytest.approx(max(abs(d - 3.0) for d in draws), abs=1e-3)
    assert m["iw_abs_error_max"] < 0.05
    assert abs(float(trainer.log_z.detach()) - 3.0) < 0.2  # the learned TB log Z too


@pytest.mark.slow
def test_d2e_gmm8_short_training_reaches_w2():
    """A short data-to-energy IPF run (3 iterations of 300 + 300 steps, about 15 s) on
    gauss -> gmm8, the target given only by its energy, must cover the 8 modes."""
    from d2e_zoo.benchmarks.tasks import get_task

    task = get_task("gauss-to-gmm8")
    source, target, sv, tv = task.endpoints("d2e")
    cfg = task.config("d2e", ipf_iterations=3, backward_steps=300, forward_steps=300)
    trainer = IPFTrainer(sv, tv, cfg, "d2e")
    trainer.train()
    m = evaluate_bridge(trainer.forward, trainer.backward, trainer.grid, source, target, 2000,
                        torch.Generator().manual_seed(3))
    assert m["w2_squared"] < 0.08
    assert m["min_mode_weight"] > 0.06


def _small(**kw):
    base = dict(num_steps=5, ipf_iterations=2, backward_steps=20, forward_steps=20, batch_size=32, buffer_size=128,
                langevin_steps=5, langevin_step=1e-3)
    base.update(kw)
    return IPFConfig(**base)


def test_resume_after_interruption_gives_same_state(tmp_path):
    src, tgt = Gaussian(2).sample_view(), gmm8().energy_view()
    straight = IPFTrainer(src, tgt, _small(), "d2e")
    straight.train()

    class Interrupt(Exception):
        pass

    def stop_after_first_iteration(trainer):
        if trainer.state.iteration == 1:
            raise Interrupt

    ckpt = str(tmp_path / "ckpt")
    first = IPFTrainer(src, tgt, _small(), "d2e")
    with pytest.raises(Interrupt):
        first.train(checkpoint_dir=ckpt, callback=stop_after_first_iteration)
    resumed = load_checkpoint(IPFTrainer(src, tgt, _small(), "d2e"), ckpt)
    assert resumed.state.iteration == 1
    resumed.train(checkpoint_dir=ckpt)
    a, b = straight.state_tensors(), resumed.state_tensors()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_checkpoint_round_trip_and_corruption(tmp_path):
    trainer = IPFTrainer(Gaussian(2).sample_view(), gmm8().sample_view(), _small(ipf_iterations=1), "d2d")
    trainer.train()
    path = str(tmp_path / "c")
    save_checkpoint(trainer, path)
    fresh = load_checkpoint(IPFTrainer(Gaussian(2).sample_view(), gmm8().sample_view(),
                                       _small(ipf_iterations=1), "d2d"), path)
    for k, v in trainer.state_tensors().items():
        assert torch.equal(v, fresh.state_tensors()[k])
    assert not any(f.endswith((".pt", ".pkl", ".bin")) for f in os.listdir(path))
    with open(os.path.join(path, "state.safetensors"), "wb") as f:
        f.write(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="corrupted"):
        load_checkpoint(fresh, path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(fresh, str(tmp_path / "missing"))
    other = IPFTrainer(Gaussian(2).sample_view(), gmm8().sample_view(), _small(ipf_iterations=2), "d2d")
    save_checkpoint(trainer, path)
    with pytest.raises(CheckpointError, match="different method or config"):
        load_checkpoint(other, path)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    """A learning rate blown up after the first IPF iteration makes the loss diverge."""

    def diverge(trainer):
        if trainer.state.iteration < 1:
            return
        for opt in (trainer.forward_optimizer, trainer.backward_optimizer):
            for group in opt.param_groups:
                group["lr"] = 1e12

    cfg = _small(ipf_iterations=5)
    src, tgt = Gaussian(2).sample_view(), gmm8().energy_view()
    trainer = IPFTrainer(src, tgt, cfg, "d2e")
    ckpt = str(tmp_path / "ckpt")
    with pytest.raises(NonFiniteLossError, match="non-finite loss .* last good state was restored"):
        trainer.train(checkpoint_dir=ckpt, callback=diverge)
    assert trainer.state.iteration == 1 and trainer.state.phase == "backward"
    on_disk = load_checkpoint(IPFTrainer(src, tgt, cfg, "d2e"), ckpt)
    assert on_disk.state.iteration == 1
    for k, v in on_disk.state_tensors().items():
        assert torch.isfinite(v.float()).all() and torch.equal(v, trainer.state_tensors()[k]), k


def test_bad_input_errors():
    with pytest.raises(ConfigError, match="different dimensions"):
        IPFTrainer(Gaussian(2).sample_view(), Gaussian(3).energy_view(), _small())
    with pytest.raises(ConfigError, match="K must be an integer >= 1"):
        _small(num_steps=0)
    with pytest.raises(ConfigError, match="valid methods: d2d, d2e, e2e, sampler"):
        IPFTrainer(Gaussian(2).sample_view(), gmm8().energy_view(), _small(), "bridge")
    with pytest.raises(ConfigError, match="needs the target end 'gmm8' to offer samples"):
        IPFTrainer(Gaussian(2).sample_view(), gmm8().energy_view(), _small(), "d2d")
    with pytest.raises(ConfigError, match="langevin_global_every must be an integer >= 0"):
        _small(langevin_global_every=-2)
    with pytest.raises(ConfigError, match="langevin_global_std must be finite and > 0"):
        _small(langevin_global_std=float("inf"))
    wrong_shape = EnergyEndpoint(lambda x: x.sum(-1, keepdim=True), 2, "bad-shape")
    with pytest.raises(EndpointError, match=r"returned shape \(32, 1\), expected \(32,\)"):
        wrong_shape.log_prob(torch.zeros(32, 2))
    nan_energy = EnergyEndpoint(lambda x: torch.full((x.shape[0],), float("nan")), 2, "nan")
    with pytest.raises(EndpointError, match="NaN"):
        IPFTrainer(Gaussian(2).sample_view(), nan_energy, _small(), "d2e").train()


def test_schedule_depends_on_steps_not_on_the_clock(monkeypatch, caplog):
    """The off-policy annealing is a function of the half-steps done: a run whose clock races
    (a slow machine) and is cut short by its time budget trains exactly the first half-steps
    of a run without a budget, and stops early with a warning."""
    import logging

    from d2e_zoo import step_loop

    cfg = _small(ipf_iterations=4, backward_steps=4, forward_steps=4, off_policy_start=0.9, off_policy_end=0.1)
    src, tgt = Gaussian(2).sample_view(), gmm8().energy_view()
    expected = [0.9 + (0.1 - 0.9) * min(1.0, k * 0.5 / 3) for k in range(1, 9)]

    def run(max_seconds, advance):
        now = [0.0]
        monkeypatch.setattr(step_loop.time, "perf_counter", lambda: now[0])
        fractions, weights = [], []

        def after_half_step(trainer):
            fractions.append(trainer.off_policy_fraction)
            if len(fractions) == 4:
                weights.append({k: v.clone() for k, v in trainer.state_tensors().items()})
            now[0] += advance  # seconds this half-step "took"

        trainer = IPFTrainer(src, tgt, cfg, "d2e")
        trainer.train(max_seconds=max_seconds, callback=after_half_step)
        return trainer, fractions, weights[0]

    _, fractions_full, weights_full = run(None, 0.0)
    assert fractions_full == pytest.approx(expected)
    with caplog.at_level(logging.WARNING):
        cut, fractions_cut, weights_cut = run(10.0, 3.0)  # 3 s per half-step: 4 half-steps, then out of time
    assert fractions_cut == pytest.approx(expected[:4]) and cut.state.iteration == 2
    assert weights_cut.keys() == weights_full.keys()
    assert all(torch.equal(weights_cut[k], weights_full[k]) for k in weights_full)
    assert "time budget of 10 s used up before IPF iteration 3" in caplog.text
    assert "training stopped early after 50% of the schedule (2 of 4 IPF iterations done)" in caplog.text
    with pytest.raises(ValueError, match="positive, finite number of seconds"):
        IPFTrainer(src, tgt, cfg, "d2e").train(max_seconds=float("nan"))
    # a budget that runs out inside a half-step: stopped there, nothing counted as completed
    ticks = iter(range(10**6))
    monkeypatch.setattr(step_loop.time, "perf_counter", lambda: float(next(ticks)))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        state = IPFTrainer(src, tgt, cfg, "d2e").train(max_seconds=3.0)
    assert (state.iteration, state.phase) == (0, "backward") and 0 < state.backward_steps_done < 4
    assert "used up inside IPF iteration 1 (backward); that half-step is not checkpointed" in caplog.text


def _checkpointed(tmp_path, **kw):
    src, tgt = Gaussian(2).sample_view(), gmm8().energy_view()
    cfg = _small(ipf_iterations=2, backward_steps=3, forward_steps=3, **kw)
    trainer = IPFTrainer(src, tgt, cfg, "d2e")
    ckpt = tmp_path / "ckpt"
    trainer.train(checkpoint_dir=str(ckpt))
    return trainer, ckpt, lambda **over: IPFTrainer(src, tgt, _small(**{**dict(
        ipf_iterations=2, backward_steps=3, forward_steps=3, **kw), **over}), "d2e")


def test_corrupt_latest_checkpoint_falls_back_to_the_previous(tmp_path, caplog):
    import logging

    from d2e_zoo.ipf import load_latest_checkpoint

    trainer, ckpt, fresh = _checkpointed(tmp_path)
    prev = tmp_path / "ckpt.prev"  # the checkpoint one half-step earlier
    assert trainer.state.iteration == 2 and prev.is_dir()
    expected = load_checkpoint(fresh(), prev)
    assert expected.state.iteration == 1 and expected.state.phase == "forward"
    (ckpt / "state.safetensors").write_bytes(b"\0" * 64)
    with caplog.at_level(logging.WARNING):
        resumed = fresh()
        assert load_latest_checkpoint(resumed, ckpt) == prev
    assert "skipping unusable IPF checkpoint" in caplog.text and "corrupted state.safetensors" in caplog.text
    assert resumed.state == expected.state
    assert all(torch.equal(v, expected.state_tensors()[k]) for k, v in resumed.state_tensors().items())
    (prev / "config.json").write_text("{")
    with pytest.raises(CheckpointError, match="no usable IPF checkpoint: .*state.safetensors.*config.json"):
        load_latest_checkpoint(fresh(), ckpt)
    assert load_latest_checkpoint(fresh(), tmp_path / "none") is None


def test_checkpoint_meta_is_validated(tmp_path):
    import json

    from d2e_zoo.ipf import CheckpointMismatchError

    _, ckpt, fresh = _checkpointed(tmp_path)
    meta_file = ckpt / "config.json"
    good = json.loads(meta_file.read_text())

    def with_meta(change):
        meta = json.loads(json.dumps(good))
        change(meta)
        meta_file.write_text(json.dumps(meta))

    with_meta(lambda m: m["state"].pop("iteration"))
    with pytest.raises(CheckpointError, match="has no 'iteration'"):
        load_checkpoint(fresh(), ckpt)
    with_meta(lambda m: m["state"].update(iteration=999999))
    with pytest.raises(CheckpointError, match="iteration 999999 is beyond the schedule's IPF iterations \\(2\\)"):
        load_checkpoint(fresh(), ckpt)
    with_meta(lambda m: m.pop("state"))
    with pytest.raises(CheckpointError, match="'state' is missing"):
        load_checkpoint(fresh(), ckpt)
    with_meta(lambda m: m["state"].update(phase="sideways"))
    with pytest.raises(CheckpointError, match="phase must be one of backward, forward"):
        load_checkpoint(fresh(), ckpt)
    # another seed or schedule: refused, listing the differences, unless forced
    with_meta(lambda m: None)
    with pytest.raises(CheckpointMismatchError, match="seed: 0 -> 5.*force"):
        load_checkpoint(fresh(seed=5), ckpt)
    assert load_checkpoint(fresh(seed=5), ckpt, force=True).state.iteration == 2
    # the run info (a bridge's recipe) is compared too; checkpoints saved without it load
    odd = fresh()
    odd.run_info = {"recipe": {"target": "odd", "max_seconds": 9}}
    with_meta(lambda m: m.update(run={"recipe": {"target": "even", "max_seconds": 5}}))
    with pytest.raises(CheckpointMismatchError, match="run.recipe.target: 'even' -> 'odd'"):
        load_checkpoint(odd, ckpt)
    assert load_checkpoint(odd, ckpt, ignore=("target", "max_seconds")).state.iteration == 2
    with_meta(lambda m: m.pop("run"))
    assert load_checkpoint(odd, ckpt).state.iteration == 2
    with pytest.raises(CheckpointError, match="iteration 2 is beyond the schedule's IPF iterations \\(1\\)"):
        load_checkpoint(fresh(ipf_iterations=1), ckpt, force=True)  # forced, but beyond the schedule


def test_unwritable_checkpoint_folder_fails_before_the_first_step(tmp_path, monkeypatch):
    from d2e_zoo.run_folder import RunFolderError

    (tmp_path / "a-file").write_text("x")
    trainer = IPFTrainer(Gaussian(2).sample_view(), gmm8().energy_view(), _small(), "d2e")
    monkeypatch.setattr(trainer, "_train_step", lambda phase: pytest.fail("trained before checking the folder"))
    with pytest.raises(RunFolderError, match="cannot write to the output folder"):
        trainer.train(checkpoint_dir=str(tmp_path / "a-file" / "ckpt"))


def test_one_progress_bar_for_the_schedule_and_a_short_repr(capsys):
    """train(progress=True) shows one bar over all 2 x (3 + 3) gradient steps (not one per
    half-step), resumed where training stands; the returned state prints on one short line."""
    src, tgt = Gaussian(2).sample_view(), gmm8().energy_view()
    trainer = IPFTrainer(src, tgt, _small(ipf_iterations=2, backward_steps=3, forward_steps=3), "d2e")
    state = trainer.train(progress=True)
    err = capsys.readouterr().err
    assert "12/12" in err and "IPF 1/2 backward" not in err, err[-2000:]
    assert "iteration 2/2 forward" in err
    text = repr(state)
    trainer.state.iteration, trainer.state.phase = 1, "forward"
    bar = trainer._progress_bar()
    assert (bar.n, bar.total) == (1 * 6 + 3, 12)
    bar.close()
    assert text.startswith("TrainState(iteration=2, phase='backward', backward_steps_done=6, forward_steps_done=6, "
                           "seconds=")
    assert f"history=<{len(state.history)} records, last loss " in text and "StepRecord" not in text
    assert len(text) < 250 and len(state.history) >= 4
