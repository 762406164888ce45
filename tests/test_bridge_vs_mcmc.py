"""``python -m d2e_zoo.benchmarks.bridge_vs_mcmc``: the break-even arithmetic and a small run."""

import json
import math

import pytest

from d2e_zoo.benchmarks import bridge_vs_mcmc as bvm


def test_break_even_samples_closed_form():
    # bridge: 100 s training + 0.1 s / 1000; other: 2.1 s / 1000 -> 100 = n (2.0 / 1000) -> n = 50,000
    assert bvm.break_even_samples(100.0, 0.1, 2.1) == pytest.approx(50_000.0)
    assert bvm.break_even_samples(0.0, 0.1, 2.1) == 0.0
    assert math.isinf(bvm.break_even_samples(100.0, 0.5, 0.5))  # same per-sample cost: never
    assert math.isinf(bvm.break_even_samples(100.0, 0.5, 0.2))  # other is cheaper per sample: never
    with pytest.raises(ValueError):
        bvm.break_even_samples(-1.0, 0.1, 1.0)


def test_break_even_picks_cheapest_matching_then_closest():
    rows = [{"label": "K=10", "seconds_per_1000": 1.0, "tv": 0.50},
            {"label": "K=100", "seconds_per_1000": 10.0, "tv": 0.08},
            {"label": "K=1000", "seconds_per_1000": 100.0, "tv": 0.04}]
    # TV 0.10: K=100 and K=1000 reach it, K=100 is cheaper; 60 s / (10 - 0.2) s per 1000
    be = bvm.break_even(60.0, 0.2, 0.10, rows)
    assert be["matched"] and be["reference"] == "K=100"
    assert be["samples"] == pytest.approx(1000 * 60.0 / 9.8)
    # TV 0.01: nobody reaches it; the closest TV is K=1000's
    be = bvm.break_even(60.0, 0.2, 0.01, rows)
    assert not be["matched"] and be["reference"] == "K=1000"
    assert be["samples"] == pytest.approx(1000 * 60.0 / 99.8)
    with pytest.raises(ValueError):
        bvm.break_even(60.0, 0.2, 0.1, [])


def test_tv_noise_floor():
    # one class: two draws always agree
    assert bvm.tv_noise_floor([0.0, 1.0, 0.0], 100)["mean"] == 0.0
    # two equal classes: TV = |p - p'| with sd sqrt(2 * 0.25 / 200) = 0.05, so E = 0.05 sqrt(2 / pi)
    fl = bvm.tv_noise_floor([0.5, 0.5], 200, repeats=2000)
    assert fl["mean"] == pytest.approx(0.05 * math.sqrt(2 / math.pi), rel=0.1)
    assert fl["q95"] == pytest.approx(0.05 * 1.96, rel=0.15)


@pytest.fixture(scope="module")
def small_run():
    import torch

    torch.set_num_threads(1)
    return bvm.compare("mnist-3", num_samples=200, mala_steps=(5, 50), step_size=0.05, seed=0, settled_max_steps=60)


@pytest.mark.slow
def test_small_run_structure_and_sanity(small_run):
    r = small_run
    methods = [row["method"] for row in r["rows"]]
    assert methods == ["rejection", "mala", "mala", "mala-settled", "mala-log-sobolev", "bridge"]
    assert [row["steps"] for row in r["rows"][1:3]] == [5, 50]
    assert r["rows"][3]["steps"] <= 60
    assert sum(r["exact_class_mix"]) == pytest.approx(1.0)
    for row in r["rows"]:
        assert 0.0 <= row["tv"] <= 1.0 and 0.0 <= row["judge_precision"] <= 1.0
        assert row["seconds_per_1000"] > 0 and sum(row["class_mix"]) == pytest.approx(1.0)
        if row["method"].startswith("mala"):
            assert 0.0 < row["acceptance"] < 1.0 and isinstance(row["settled"], bool)
    floor, bridge = r["rows"][0], r["rows"][-1]
    assert 0.0 < floor["acceptance"] < 0.5  # a single digit: about 10 % of prior draws accepted
    assert floor["tv"] < 0.15 and floor["judge_precision"] > 0.8  # two exact draws of 200 agree
    assert bridge["judge_precision"] > 0.8 and bridge["tv"] < 0.2
    assert r["rows"][1]["tv"] > bridge["tv"]  # 5 MALA steps from the prior are far from the posterior
    assert r["train_seconds"] > 0
    # the floor is 0 when every exact draw has the one class (sharp generators get there for a single digit)
    assert 0.0 <= r["tv_floor"]["mean"] <= r["tv_floor"]["q95"] < 0.2
    be = r["break_even"]
    assert be["reference"] in [row["label"] for row in r["rows"]]
    assert be["samples"] == pytest.approx(bvm.break_even_samples(
        r["train_seconds"], bridge["seconds_per_1000"], be["reference_seconds_per_1000"]))
    ls_row = r["rows"][4]
    assert ls_row["kl0"] > 0 and ls_row["steps"] <= 60 and "log-Sobolev" in ls_row["label"]
    assert ls_row["sufficient_time"] is None or ls_row["sufficient_time"] > 0


@pytest.mark.slow
def test_small_run_prints_tables_and_json(small_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bvm, "compare", lambda *a, **k: small_run)
    out_file = tmp_path / "r.json"
    assert bvm.main(["--bridges", "mnist-3", "--num-samples", "200", "--json", str(out_file)]) == 0
    text = capsys.readouterr().out
    assert bvm.MCMC_TABLE_HEADER in text and "bridge `mnist-3`" in text
    assert "noise floor" in text and "MALA K=50" in text
    assert "cheaper" in text and "TV noise floor" in text
    data = json.loads(out_file.read_text())
    assert data["results"][0]["name"] == "mnist-3" and len(data["results"][0]["rows"]) == 6
    assert "Log-Sobolev rule: KL_0" in text
