"""The toy benchmark command and its task registry."""

import json

import numpy as np
import pytest
from PIL import Image

from d2e_zoo.benchmarks import toy2d
from d2e_zoo.benchmarks.tasks import TASKS
from d2e_zoo.ipf import IPFTrainer

REQUIRED_TASKS = {"gauss-to-gmm8", "moons-to-gmm8", "gauss-to-moons", "cross-to-gmm8", "gmm40", "manywell2",
                  "manywell32", "funnel10"}


def test_registry_has_the_contracted_tasks():
    assert REQUIRED_TASKS <= set(TASKS)


@pytest.mark.parametrize("task_name,method", [(t.name, m) for t in TASKS.values() for m in t.methods])
def test_every_task_and_method_trains_a_few_steps(task_name, method):
    task = TASKS[task_name]
    source, target, sv, tv = task.endpoints(method)
    assert source.dim == target.dim == sv.dim == tv.dim
    cfg = task.config(method, ipf_iterations=1, backward_steps=2, forward_steps=2, buffer_size=64,
                      langevin_steps=2, langevin_init_steps=0, batch_size=16)
    trainer = IPFTrainer(sv, tv, cfg, method)
    state = trainer.train()
    assert state.iteration == 1 and state.forward_steps_done == 2
    assert trainer.sample(8).states.shape == (cfg.num_steps + 1, 8, source.dim)


@pytest.mark.parametrize("argv,message", [
    (["--task", "nope", "--method", "d2e"], "valid tasks: gauss-to-gmm8"),
    (["--task", "gauss-to-moons", "--method", "d2e"], "valid methods for it: d2d"),
    (["--task", "gauss-to-gmm8", "--method", "magic"], "valid methods: d2d, d2e, e2e, sampler"),
    (["--task", "gauss-to-gmm8", "--method", "d2e", "--steps", "0"], "must be >= 1"),
])
def test_bad_arguments_give_clear_errors(argv, message, capsys):
    assert toy2d.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.slow
def test_json_output_and_saved_samples(tmp_path, capsys):
    path, picture = tmp_path / "samples.npz", tmp_path / "bridge.png"
    rc = toy2d.main(["--task", "gauss-to-gmm8", "--method", "d2d", "--steps", "5", "--seconds", "2",
                     "--json", "--save-samples", str(path), "--plot", str(picture)])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["task"] == "gauss-to-gmm8" and result["steps"] == 5
    assert 0 < result["train_seconds"] < 10 and result["w2_squared"] > 0
    with np.load(path) as f:
        assert f["x0"].shape == (4000, 2) and f["x1"].shape == (4000, 2)
    with Image.open(picture) as im:  # a real, decodable picture
        im.load()
        assert im.size[0] > 400 and len(np.unique(np.asarray(im.convert("L")))) > 10
