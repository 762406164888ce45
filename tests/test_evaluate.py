"""The evaluation command, ``python -m d2e_zoo.evaluate NAME [--num-samples N] [--json]``,
on bundled entries: its numbers must be consistent with each other and with what the
bundled models are known to reach."""

import json
import math

import pytest

from d2e_zoo.evaluate import main, total_variation


def run_json(capsys, *argv) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_bridge_metrics_are_consistent(capsys):
    m = run_json(capsys, "mnist-3", "--num-samples", "400", "--seed", "1")
    assert m["kind"] == "bridge" and m["name"] == "mnist-3" and m["target_classes"] == [3]
    assert m["num_samples"] == 400 and m["corrector_steps"] == 0
    for key in ("class_mix_bridge", "class_mix_exact"):
        assert len(m[key]) == 10 and math.isclose(sum(m[key]), 1.0, abs_tol=1e-9)
    assert m["tv_class_mix"] == pytest.approx(total_variation(m["class_mix_bridge"], m["class_mix_exact"]))
    assert m["tv_class_mix"] < 0.1  # single-digit bridges: 0.011-0.048 on 4,000 samples
    assert 0.8 <= m["judge_precision"] <= 1 and 0.8 <= m["judge_precision_exact"] <= 1
    # the acceptance rate of rejection sampling and the prior-draw estimate both estimate Z
    assert math.log(m["rejection_acceptance"]) == pytest.approx(m["log_z"], abs=0.25)
    assert m["elbo"] < m["log_z"] < m["eubo"]
    assert m["transport_cost"] < 0.7 * m["transport_cost_rejection"]
    assert 0 <= m["off_target_exact"] <= 0.1 and 0 <= m["off_target_bridge"] <= 0.2
    assert 7 < m["sq_norm_exact"] < 13 and 7 < m["sq_norm_bridge"] < 14  # 10-d latents
    assert m["samples_per_second"] > 0


def test_generator_and_classifier_metrics(capsys):
    g = run_json(capsys, "mnist-gan", "--num-samples", "2000")
    assert g["kind"] == "generator" and math.isclose(sum(g["judge_class_mix"]), 1.0, abs_tol=1e-9)
    assert g["min_class_fraction"] == min(g["judge_class_mix"]) > 0.05
    assert g["max_class_fraction"] == max(g["judge_class_mix"]) < 0.15
    assert 0.9 <= g["judge_confidence"] <= 1
    j = run_json(capsys, "mnist-judge")
    assert j["kind"] == "judge" and j["num_test"] == 1000 and j["test_accuracy"] >= 0.97


@pytest.mark.parametrize("argv, message", [
    (["mnist-nine"], "valid names: mnist-gan"),
    (["mnist-3", "--num-samples", "0"], "--num-samples must be >= 1"),
    (["mnist-3", "--corrector-steps", "-2"], "--corrector-steps must be >= 0"),
])
def test_bad_arguments_get_clear_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
