"""Loading fails fast and safe: a stalled Hub costs at most the Hub timeout (then the bundled
copy, reported in one log line), NaN weights and out-of-range configs are refused with errors
naming the file and the key, and the app's loads of other models do not wait behind a stalled one.

The stalled Hub is a TCP listener on 127.0.0.1 that accepts connections and never answers;
huggingface_hub reads its endpoint, offline flag and cache folder into module constants at
import, so the tests patch those constants."""

import json
import logging
import math
import shutil
import socket
import threading
import time

import pytest
import torch
from safetensors.torch import load_file, save_file

from d2e_zoo.models import BridgeDriftModel, CNNJudge, MLPGenerator, MLPVAE
from d2e_zoo.models.common import ConfigRangeError
from d2e_zoo.zoo import ZooLoadError, get_entry, list_models, load
from d2e_zoo.zoo.hub import DEFAULT_HUB_TIMEOUT, HUB_TIMEOUT_ENV, hub_timeout_seconds
from d2e_zoo.zoo.paths import bundled_dir

WEIGHTS = "diffusion_pytorch_model.safetensors"


@pytest.fixture
def silent_hub(tmp_path, monkeypatch):
    """A Hub endpoint that accepts connections and never replies; yields the accepted sockets."""
    import huggingface_hub.constants as hc

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(32)
    accepted = []

    def accept():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed at teardown
                return
            accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    monkeypatch.setattr(hc, "ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.delenv("D2E_ZOO_USE_HUB", raising=False)
    yield accepted
    server.close()
    for conn in accepted:
        conn.close()


def fallback_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("d2e_zoo.zoo") and "bundled" in r.getMessage()]


def test_stalled_hub_falls_back_to_the_bundled_copy_within_the_timeout(silent_hub, monkeypatch, caplog):
    import d2e_zoo.pipelines  # noqa: F401  (imported up front: the timing below is the load's own)

    monkeypatch.setenv(HUB_TIMEOUT_ENV, "2")
    caplog.set_level(logging.INFO)
    start = time.perf_counter()
    pipe = load("mnist-even")  # a bridge: the bridge, its decoder and its classifier all need the Hub
    took = time.perf_counter() - start
    assert pipe.zoo_info.origin == "bundled"
    assert silent_hub, "the Hub endpoint was never contacted"
    assert 2.0 <= took < 2.0 + 6.0, took  # the deadline was waited for, once, not once per component
    lines = fallback_lines(caplog)
    assert len(lines) == 1, lines
    assert "HubTimeoutError" in lines[0] and "within 2 s" in lines[0]
    assert "mnist-even, mnist-gan, mnist-classifier" in lines[0]
    assert [r.levelno for r in caplog.records if r.getMessage() == lines[0]] == [logging.WARNING]


def test_the_default_hub_timeout_is_ten_seconds_and_bad_values_are_refused(monkeypatch):
    monkeypatch.delenv(HUB_TIMEOUT_ENV, raising=False)
    assert hub_timeout_seconds() == DEFAULT_HUB_TIMEOUT == 10.0
    assert hub_timeout_seconds(0.5) == 0.5
    monkeypatch.setenv(HUB_TIMEOUT_ENV, "3.5")
    assert hub_timeout_seconds() == 3.5
    for bad in ("0", "-1", "nan", "inf", "soon", "601"):
        monkeypatch.setenv(HUB_TIMEOUT_ENV, bad)
        with pytest.raises(ValueError, match=f"{HUB_TIMEOUT_ENV} must be a number of seconds in \\(0, 600\\]"):
            hub_timeout_seconds()
    with pytest.raises(ValueError, match="hub_timeout must be"):
        load("mnist-judge", hub_timeout=0)


def test_offline_fallback_is_one_info_line_per_load(monkeypatch, caplog):
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("D2E_ZOO_USE_HUB", raising=False)
    caplog.set_level(logging.INFO)
    load("mnist-3-to-8")
    lines = fallback_lines(caplog)
    assert len(lines) == 1 and "mnist-3-to-8, mnist-gan, mnist-classifier" in lines[0], lines
    assert [r.levelno for r in caplog.records if r.getMessage() == lines[0]] == [logging.INFO]
    caplog.clear()
    load("mnist-judge", use_hub=False)  # the Hub was not asked: nothing to report
    assert fallback_lines(caplog) == []


def test_every_entry_pins_a_revision_that_reaches_snapshot_download(monkeypatch):
    import huggingface_hub

    assert all(get_entry(n).revision == "main" for n in list_models())  # until the Hub repositories exist
    asked = []

    def fake_download(repo_id, revision=None, **kwargs):
        asked.append((repo_id, revision, kwargs.get("local_files_only", False)))
        raise OSError("no network in this test")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    monkeypatch.delenv("D2E_ZOO_USE_HUB", raising=False)
    load("mnist-judge")
    load("mnist-judge", revision="0123456789abcdef0123456789abcdef01234567")
    assert [(r, v) for r, v, _ in asked] == [(get_entry("mnist-judge").hub_repo, "main"),
                                             (get_entry("mnist-judge").hub_repo,
                                              "0123456789abcdef0123456789abcdef01234567")]


def test_a_stalled_load_does_not_block_the_apps_other_loads(monkeypatch):
    """get_model("mnist-even") stalls in its download; get_model("mnist-judge") from another
    thread must still finish (the old code held one lock around the whole load)."""
    from d2e_zoo.app import models
    from d2e_zoo.zoo.loading import plan_load

    entered, release = threading.Event(), threading.Event()

    def stalling_plan(name, *args, **kwargs):
        if name == "mnist-even":
            entered.set()
            release.wait(60)  # a Hub that does not answer
        return plan_load(name, use_hub=False)

    monkeypatch.setattr(models, "_cache", {})
    monkeypatch.setattr(models, "plan_load", stalling_plan)
    got = {}
    stalled = threading.Thread(target=lambda: got.update(even=models.get_model("mnist-even")), daemon=True)
    stalled.start()
    assert entered.wait(30)
    other = threading.Thread(target=lambda: got.update(judge=models.get_model("mnist-judge")), daemon=True)
    other.start()
    other.join(30)
    try:
        assert "judge" in got and "even" not in got, "the judge's load waited behind the stalled one"
    finally:
        release.set()
        stalled.join(60)
    assert got["even"].zoo_info.name == "mnist-even"


# ------------------------------------------------------------------ non-finite weights --
def _poison(weights_file, value=math.nan):
    tensors = load_file(str(weights_file))
    key = sorted(tensors)[0]
    tensors[key] = tensors[key].clone()
    tensors[key].view(-1)[0] = value
    save_file(tensors, str(weights_file), metadata={"format": "pt"})
    return key


@pytest.mark.parametrize("name,sub,value", [("mnist-judge", "", math.nan), ("mnist-gan", "", math.inf),
                                            ("mnist-even", "bridge", math.nan),
                                            ("mnist-even", "backward_bridge", -math.inf)])
def test_non_finite_weights_are_refused_naming_the_file(tmp_path, name, sub, value):
    folder = tmp_path / name
    shutil.copytree(bundled_dir() / name, folder)
    weights = folder / sub / WEIGHTS
    key = _poison(weights, value)
    with pytest.raises(ZooLoadError, match="non-finite") as err:
        load(name, path=folder)
    assert str(weights) in str(err.value) and key in str(err.value)


# ------------------------------------------------------------------ config ranges --
def _edit_config(folder, **changes):
    cfg = folder / "config.json"
    config = json.loads(cfg.read_text())
    config.update(changes)
    cfg.write_text(json.dumps(config))
    return cfg


@pytest.mark.parametrize("name,sub,changes,match", [
    ("mnist-even", "bridge", {"hidden": 200_000_000}, r"'hidden' = 200000000 is out of range; allowed: an integer "
                                                      r"in \[1, 8192\]"),
    ("mnist-even", "bridge", {"depth": 33}, r"'depth' = 33 .* in \[1, 32\]"),
    ("mnist-even", "bridge", {"dim": 0}, r"'dim' = 0 .* in \[1, 4096\]"),
    ("mnist-even", "bridge", {"time_dim": 15}, r"'time_dim' = 15 .* multiple of 2"),
    ("mnist-gan", "", {"latent_dim": 5000}, r"'latent_dim' = 5000 .* in \[1, 4096\]"),
    ("mnist-gan", "", {"channels": 100_000}, r"'channels' = 100000 .* in \[8, 512\]"),
    ("mnist-vae", "", {"channels": 12}, r"'channels' = 12 .* multiple of 8"),
    ("mnist-vae", "", {"latent_dim": 10.5}, r"'latent_dim' = 10.5 .* an integer"),
    ("mnist-judge", "", {"channels": [32]}, r"'channels' = \[32\] .* a list of 2 values"),
    ("mnist-classifier", "", {"dropout": 1.5}, r"'dropout' = 1.5 .* a number in \[0, 1\]"),
])
def test_out_of_range_configs_are_refused_before_any_model_is_built(tmp_path, name, sub, changes, match):
    folder = tmp_path / name
    shutil.copytree(bundled_dir() / name, folder)
    cfg = _edit_config(folder / sub, **changes)
    start = time.perf_counter()
    with pytest.raises(ZooLoadError, match=match) as err:
        load(name, path=folder)
    assert str(cfg) in str(err.value)
    assert time.perf_counter() - start < 5.0


def test_configs_within_each_range_but_too_large_overall_are_refused(tmp_path):
    folder = tmp_path / "mnist-even"
    shutil.copytree(bundled_dir() / "mnist-even", folder)
    _edit_config(folder / "bridge", hidden=8192, depth=32)  # 31 hidden layers of 8192 x 8192: ~2 G parameters
    with pytest.raises(ZooLoadError, match=r"2,0\d\d,\d{3},\d{3} parameters; the zoo loads at most 100,000,000"):
        load("mnist-even", path=folder)


def test_models_check_their_config_when_constructed():
    for make, match in [(lambda: BridgeDriftModel(hidden=200_000_000), "BridgeDriftModel: config 'hidden'"),
                        (lambda: MLPGenerator(hidden=(64,) * 33), "a list of 0 to 32 values"),
                        (lambda: MLPVAE(hidden=()), "a list of 1 to 32 values"),
                        (lambda: CNNJudge(num_classes=0), "'num_classes' = 0"),
                        (lambda: BridgeDriftModel(t_scale=float("nan")), "'t_scale' = nan"),
                        (lambda: MLPGenerator(latent_dim=True), "'latent_dim' = True")]:
        with pytest.raises(ConfigRangeError, match=match):
            make()
    assert isinstance(ConfigRangeError("x"), ValueError)
    assert BridgeDriftModel(dim=2, hidden=8, depth=1).config.hidden == 8  # small values are fine


def test_non_finite_latents_are_not_shown_as_a_translation():
    from d2e_zoo.app.translate import build_translation

    path = torch.zeros(3, 2, 10)
    path[2, 1, 4] = math.nan
    with pytest.raises(RuntimeError, match="non-finite latents"):
        build_translation("x", "mnist-even", lambda z: torch.zeros(len(z), 1, 28, 28), path, torch.arange(3.0),
                          (0,), None, 0, time.perf_counter())
