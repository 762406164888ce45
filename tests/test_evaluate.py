"""The evaluation command, ``python -m d2e_zoo.evaluate NAME [--num-samples N] [--json]``,
on bundled entries: its numbers must be consistent with each other and with what the
bundled models are known to reach."""

import json
import math

import pytest

from d2e_zoo.evaluate import main, total_variation
from d2e_zoo.evaluation_report import format_report


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
    # version 2's targets: every digit within 7-13% and the judge at least 0.97 sure on average
    assert g["min_class_fraction"] == min(g["judge_class_mix"]) > 0.07
    assert g["max_class_fraction"] == max(g["judge_class_mix"]) < 0.13
    assert 0.97 <= g["judge_confidence"] <= 1
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


BRIDGE_METRICS = {
    "kind": "bridge", "name": "mnist-even", "target_classes": [0, 2, 4, 6, 8], "temperature": 0.5,
    "num_samples": 4000, "corrector_steps": 0, "judge_precision": 0.946, "judge_precision_exact": 0.917,
    "class_mix_bridge": [0.2, 0.0, 0.2, 0.0, 0.2, 0.0, 0.36, 0.0, 0.04, 0.0],
    "class_mix_exact": [0.2, 0.0, 0.2, 0.0, 0.2, 0.0, 0.25, 0.0, 0.15, 0.0], "tv_class_mix": 0.11,
    "transport_cost": 6.05, "transport_cost_rejection": 19.96, "off_target_bridge": 0.054,
    "off_target_exact": 0.021, "sq_norm_bridge": 10.9, "sq_norm_exact": 10.0, "log_z": -0.77,
    "log_z_stderr": 0.004, "elbo": -1.88, "eubo": 0.47, "rejection_acceptance": 0.453,
    "samples_per_second": 13000.0, "seconds_per_1000": 0.077,
}


def test_the_report_reads_in_words():
    text = format_report("mnist-even", BRIDGE_METRICS)
    assert text.startswith("mnist-even: data-to-energy bridge")
    assert '"exact" = samples drawn by rejection sampling from the true target posterior' in text
    for line in ("  bridge  94.6 %", "  exact   91.7 %", "6:36.0", "8: 4.0", "0.110  (0: the same mix, 1: disjoint)",
                 "6.05", "19.96  (ignores the source)", "-1.88 <= -0.77 ± 0.00 <= 0.47",
                 "bridge 5.4 %, exact 2.1 %", "0.077 s per 1,000 samples", "accepts 45.3 % of prior draws"):
        assert line in text, f"{line!r} missing from:\n{text}"
    with_corrector = format_report("mnist-even", {**BRIDGE_METRICS, "corrector_steps": 30})
    assert "then 30 MALA corrector steps" in with_corrector


def test_the_command_prints_the_report_and_json_stays_json(capsys):
    assert main(["mnist-judge"]) == 0
    out = capsys.readouterr().out
    j = run_json(capsys, "mnist-judge")
    assert set(j) == {"name", "kind", "test_accuracy", "test_set", "num_test"}
    assert out.startswith("mnist-judge: ")
    assert f"Test accuracy: {100 * j['test_accuracy']:.1f} % of 1,000 MNIST test images ({j['test_set']})" in out
