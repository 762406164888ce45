"""The app's composed targets: which sampler a target gets, MALA runs, live training + cache."""

import time
from pathlib import Path

import pytest
import torch

from d2e_zoo.app import compose
from d2e_zoo.app.choices import InputError
from d2e_zoo.app.deadline import Deadline
from d2e_zoo.trainers.live import cache_folder
from d2e_zoo.app.translate import get_run


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("D2E_ZOO_CACHE", str(tmp_path))
    monkeypatch.setenv("D2E_ZOO_LIVE_MAX_SECONDS", "4")
    monkeypatch.setattr(compose, "_live", {})
    return tmp_path


@pytest.mark.parametrize("prior, expression, method, bridge", [
    ("mnist-gan", "0 or 2 or 4 or 6 or 8", "zoo bridge", "mnist-even"),
    ("mnist-gan", "not (0 or 2 or 4 or 6 or 8)", "zoo bridge", "mnist-odd"),
    ("mnist-gan", "7", "zoo bridge", "mnist-7"),
    ("mnist-vae", "7", "MALA", None),  # the VAE has only even / odd bridges
    ("mnist-gan", "even and not 4", "MALA", None),
    ("mnist-gan", "3 or 8", "MALA", None),
])
def test_each_target_gets_the_right_sampler(cache, prior, expression, method, bridge):
    d = compose.describe(prior, expression, 0.35)
    assert (d["method"], d["bridge"]) == (method, bridge)


def test_mala_run_has_a_path_numbers_and_a_diagnostic(cache):
    tr, method = compose.sample_target("mnist-gan", "(3 or 8) and not 5", 0.35, num_samples=6, seed=1, mala_steps=40)
    assert method == "MALA"
    assert tr.frames.shape == (21, 6, 28, 28) and tr.frames.dtype == torch.uint8
    assert tr.target_classes == (3, 8)
    m = tr.metrics
    assert 0 <= m["judge_precision"] <= 1 and m["mala_steps"] == 40 and 0 < m["mala_acceptance"] <= 1
    assert sum(m["judge_counts"].values()) == 6
    assert get_run(tr.run_id) is tr  # the frame slider finds it
    again, _ = compose.sample_target("mnist-gan", "(3 or 8) and not 5", 0.35, num_samples=6, seed=1, mala_steps=40)
    assert torch.equal(again.trajectory, tr.trajectory)  # seeded


@pytest.mark.slow
def test_training_a_bridge_caches_it_in_memory_and_on_disk(cache):
    tr, method = compose.train_bridge("mnist-gan", "3 or 8", 0.35, num_samples=5, seed=0)
    assert method == "trained here" and tr.frames.shape[1] == 5 and tr.target_classes == (3, 8)
    assert tr.metrics["train_seconds"] < 30  # capped at 4 s of training by the environment
    folders = list((cache / "live-bridges").iterdir())
    assert len(folders) == 1
    files = {p.suffix for p in folders[0].rglob("*") if p.is_file()}
    assert ".safetensors" in files and not files & {".bin", ".pt", ".pkl", ".ckpt"}
    assert compose.describe("mnist-gan", "3 or 8", 0.9)["method"] == "trained here"  # weight unused without 'without'
    compose._live.clear()  # a new process: found on disk
    tr2, method2 = compose.sample_target("mnist-gan", "3 or 8", 0.35, num_samples=5, seed=0)
    assert method2 == "trained here" and torch.equal(tr2.trajectory, tr.trajectory)


@pytest.mark.slow
def test_a_crash_while_caching_a_trained_bridge_leaves_no_entry(cache, monkeypatch):
    """The cache entry is written in a temporary folder and renamed only once complete: a crash
    half-way through writing the weights leaves nothing a later request would load."""
    from d2e_zoo.trainers import live

    def crash(pipe, folder, shared=True):
        (folder / "half-written.safetensors").write_bytes(b"\0" * 10)
        raise OSError("disk full")

    monkeypatch.setattr(live, "save_bridge", crash)
    with pytest.raises(Exception, match="disk full"):
        compose.train_bridge("mnist-gan", "3 or 8", 0.35, num_samples=2, seed=0)
    root = cache / "live-bridges"
    assert not root.exists() or not any(root.iterdir()), list(root.iterdir())
    assert compose.describe("mnist-gan", "3 or 8", 0.35)["method"] == "MALA"


def test_one_training_at_a_time(cache):
    assert compose._training.acquire(blocking=False)
    try:
        with pytest.raises(InputError, match="Another bridge is being trained"):
            compose.train_bridge("mnist-gan", "1 or 7", 0.35, num_samples=2)
    finally:
        compose._training.release()


@pytest.mark.parametrize("kwargs, match", [
    (dict(expression=""), "Target expression: write a target"),
    (dict(expression="even and odd"), "selects no digit"),
    (dict(expression="3 or 12"), "'12' is not a digit"),
    (dict(weight=1.5), "must be from 0 to 1"),
    (dict(mala_steps=5), "MALA steps must be from 10 to 2000"),
    (dict(prior="mnist-gan-z99"), "Prior: unknown prior"),
])
def test_bad_input_is_a_message(cache, kwargs, match):
    args = {"prior": "mnist-gan", "expression": "3 or 8", "weight": 0.35, "mala_steps": 40, **kwargs}
    with pytest.raises(InputError, match=match):
        compose.sample_target(num_samples=2, **args)


def test_ui_handlers(cache):
    gr = pytest.importorskip("gradio")
    from d2e_zoo.app import ui

    method, pairs, gif, slider, frame, fig, md, raw, run_id = ui.run_compose("mnist-gan", "even and not 4", 0.35, 3,
                                                                              0, 20)
    assert "Sampled by MALA" in method and Path(gif).suffix == ".gif" and run_id.startswith("compose:")
    assert ui.show_frame(run_id, 3).size == frame.size
    method, *_ = ui.run_compose("mnist-gan", "0 or 2 or 4 or 6 or 8", 0.35, 3, 0, 20)
    assert "zoo bridge `mnist-even`" in method
    with pytest.raises(gr.Error, match="selects no digit"):
        ui.run_compose("mnist-gan", "even and odd", 0.35, 3, 0, 20)


@pytest.mark.parametrize("expression, match", [
    (" or ".join(["4"] * 20_000), r"99996 characters is too long; at most 200 .*begins '4 or 4 or"),
    ("(" * 5_000 + "4" + ")" * 5_000, "10001 characters is too long"),
    ("!" * 100_000, "100000 characters is too long"),
    (" or ".join(["4"] * 30), "30 digit or class terms are too many; at most 24"),
    ("(" * 9 + "4" + ")" * 9, "brackets nested 9 deep; at most 8"),
], ids=["20000-terms", "10KB-nested", "100KB-invalid", "30-terms", "9-deep"])
def test_expressions_beyond_the_caps_are_refused_at_once_with_a_short_message(cache, expression, match):
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=match) as e:
        compose.sample_target("mnist-gan", expression, 0.35, num_samples=2, mala_steps=20)
    assert time.perf_counter() - t0 < 0.5 and len(str(e.value)) < 300  # never echoes the whole input


def test_mala_stops_at_the_deadline(cache, monkeypatch):
    deadlines = iter([Deadline(0.0), Deadline()])  # sampling: already passed; decoding: the default
    monkeypatch.setattr(compose, "Deadline", lambda: next(deadlines))
    tr, method = compose.sample_target("mnist-gan", "3 or 8", 0.35, num_samples=2, seed=0, mala_steps=2000)
    assert method == "MALA" and tr.metrics["mala_stopped_early"] and tr.metrics["mala_steps"] == 1


def test_a_broken_cached_bridge_is_moved_aside_and_mala_is_used(cache):
    tree = compose.parse_target("3 or 8")
    folder = cache_folder(compose.live_recipe_for("mnist-gan", tree, 0.35))
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text("{truncated")
    (folder / "live.json").write_text("{}")
    d = compose.describe("mnist-gan", "3 or 8", 0.35)
    assert d["method"] == "MALA" and not folder.exists()
    assert [p.name.split(".broken-")[0] for p in folder.parent.iterdir()] == [folder.name]
    folder.mkdir()  # a crash before live.json (written last): incomplete, set aside too
    (folder / "model_index.json").write_text("{}")
    assert compose.live_bridge_for("mnist-gan", tree, 0.35) is None and not folder.exists()
