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
    (["--task", "nope", "--method", "d2e"], "argument --task: unknown task 'nope'; valid tasks: gauss-to-gmm8"),
    (["--task", "gauss-to-moons", "--method", "d2e"], "argument --method: task 'gauss-to-moons' does not support "
                                                      "method 'd2e'; valid methods for it: d2d"),
    (["--task", "gauss-to-gmm8", "--method", "magic"], "argument --method: unknown method 'magic'; valid methods: "
                                                       "d2d, d2e, e2e, sampler"),
    (["--task", "gauss-to-gmm8", "--method", "d2e", "--steps", "0"], "argument --steps: must be an integer >= 1"),
])
def test_bad_arguments_give_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        toy2d.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and "Traceback" not in err


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


# ---------------------------------------------------------------- every command checks its arguments before work


def _cli_modules():
    import importlib

    names = ("toy2d", "ood", "judge_ceiling", "bridge_vs_mcmc", "floor", "speed", "suite", "zoo_table")
    mods = {n: importlib.import_module(f"d2e_zoo.benchmarks.{n}") for n in names}
    mods["samplers"] = importlib.import_module("d2e_zoo.samplers.__main__")
    return mods


# (command, the function that starts the work, argv, the flag the error must name)
TOY = ["--task", "gauss-to-gmm8", "--method", "d2d"]
BAD_ARGUMENTS = [
    ("toy2d", "run_toy2d", TOY + ["--seconds", "nan"], "--seconds"),
    ("toy2d", "run_toy2d", TOY + ["--seconds", "inf"], "--seconds"),
    ("toy2d", "run_toy2d", TOY + ["--seconds", "0"], "--seconds"),
    ("toy2d", "run_toy2d", TOY + ["--threads", "0"], "--threads"),
    ("toy2d", "run_toy2d", TOY + ["--num-samples", "0"], "--num-samples"),
    ("toy2d", "run_toy2d", TOY + ["--iw-draws", "-1"], "--iw-draws"),
    ("toy2d", "run_toy2d", TOY + ["--save-samples", "{missing}/x.npz"], "--save-samples"),
    ("toy2d", "run_toy2d", TOY + ["--save-samples", "{tmp}/x.txt"], "--save-samples"),
    ("toy2d", "run_toy2d", TOY + ["--plot", "{missing}/x.png"], "--plot"),
    ("toy2d", "run_toy2d", TOY + ["--plot", "{tmp}/x.nope"], "--plot"),
    ("toy2d", "run_toy2d", TOY + ["--plot", "{tmp}"], "--plot"),
    ("toy2d", "run_toy2d", ["--task", "manywell32", "--method", "sampler", "--plot", "{tmp}/x.png"], "--plot"),
    ("ood", "run_ood", ["--threads", "0"], "--threads"),
    ("ood", "run_ood", ["--batch-size", "0"], "--batch-size"),
    ("ood", "run_ood", ["--temperature", "nan"], "--temperature"),
    ("ood", "run_ood", ["--num-fashion", "-2"], "--num-fashion"),
    ("ood", "run_ood", ["--json", "{missing}/r.json"], "--json"),
    ("ood", "run_ood", ["--fashion-root", "{missing}"], "--fashion-root"),
    ("judge_ceiling", "run_judge_ceiling", ["--num-latents", "0"], "--num-latents"),
    ("judge_ceiling", "run_judge_ceiling", ["--temperature", "-1"], "--temperature"),
    ("judge_ceiling", "run_judge_ceiling", ["--generators", "mnist-even"], "--generators"),
    ("judge_ceiling", "run_judge_ceiling", ["--json", "{missing}/r.json"], "--json"),
    ("bridge_vs_mcmc", "compare", ["--step-size", "inf"], "--step-size"),
    ("bridge_vs_mcmc", "compare", ["--threads", "0"], "--threads"),
    ("bridge_vs_mcmc", "compare", ["--mala-steps", "10", "0"], "--mala-steps"),
    ("bridge_vs_mcmc", "compare", ["--settled-max-steps", "0"], "--settled-max-steps"),
    ("bridge_vs_mcmc", "compare", ["--bridges", "mnist-gan"], "--bridges"),
    ("bridge_vs_mcmc", "compare", ["--json", "{missing}/r.json"], "--json"),
    ("floor", "w2_squared", ["--dist", "gmm8", "--repeats", "0"], "--repeats"),
    ("floor", "w2_squared", ["--dist", "gmm8", "--num-samples", "-1"], "--num-samples"),
    ("speed", "IPFTrainer", ["--steps", "0"], "--steps"),
    ("suite", "run_row", ["--jobs", "0"], "--jobs"),
    ("suite", "run_row", ["--scale", "nan"], "--scale"),
    ("suite", "run_row", ["--json-out", "{missing}/r.json"], "--json-out"),
    ("zoo_table", "evaluate", ["--threads", "0"], "--threads"),
    ("zoo_table", "evaluate", ["--names", "mnist-nope"], "--names"),
    ("zoo_table", "evaluate", ["--num-samples", "0"], "--num-samples"),
    ("zoo_table", "evaluate", ["--json", "{missing}/r.json"], "--json"),
    ("samplers", "sample", ["gmm8", "--step-size", "nan"], "--step-size"),
    ("samplers", "sample", ["gmm8", "--init-std", "0"], "--init-std"),
    ("samplers", "sample", ["gmm8", "--tolerance", "-1"], "--tolerance"),
    ("samplers", "sample", ["gmm8", "--max-steps", "0"], "--max-steps"),
    ("samplers", "sample", ["gmm8", "--stop", "forever"], "--stop"),
    ("samplers", "sample", ["gmm8", "--method", "flow", "--stop", "settled"], "--stop"),
    ("samplers", "sample", ["gmm8", "--save-samples", "{missing}/x.npz"], "--save-samples"),
    ("samplers", "sample", ["gmm8", "--save-grid", "{tmp}/g.png"], "--save-grid"),
    ("samplers", "_latent_energy", ["3", "--prior", "mnist-gan", "--save-grid", "{tmp}/g.nope"], "--save-grid"),
    ("samplers", "_latent_energy", ["3", "--prior", "mnist-gan", "--weight", "nan"], "--weight"),
    ("samplers", "_latent_energy", ["3", "--prior", "mnist-gan", "--temperature", "0"], "--temperature"),
    ("samplers", "_latent_energy", ["3", "--prior", "mnist-even"], "--prior"),
    ("samplers", "_latent_energy", ["3 and", "--prior", "mnist-gan"], "energy"),
]


@pytest.mark.parametrize("command,work,argv,flag", BAD_ARGUMENTS,
                         ids=[f"{c}:{' '.join(a[-2:])}" for c, _, a, _ in BAD_ARGUMENTS])
def test_every_command_refuses_bad_arguments_before_any_work(command, work, argv, flag, tmp_path, monkeypatch,
                                                             capsys):
    module = _cli_modules()[command]

    def started(*args, **kwargs):
        raise AssertionError(f"{command} started {work} despite a bad {flag}")

    monkeypatch.setattr(module, work, started)
    argv = [a.format(tmp=tmp_path, missing=tmp_path / "no-such-folder") for a in argv]
    with pytest.raises(SystemExit) as e:
        module.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    assert f"argument {flag}" in err and "Traceback" not in err, err
    assert not any(tmp_path.iterdir())  # nothing written


def test_argument_types_accept_good_values_and_name_the_problem(tmp_path):
    import argparse

    from d2e_zoo.argtypes import output_file, positive_float, positive_int

    assert output_file(".npz")(str(tmp_path / "x.NPZ")) == str(tmp_path / "x.NPZ")
    assert output_file(stdout=True)("-") == "-"  # standard output
    assert positive_int("3") == 3 and positive_float("1e-3") == 0.001
    for check, text, message in ((output_file(".npz"), str(tmp_path / "x.npy"), "must end in .npz"),
                                 (output_file(), str(tmp_path / "a" / "b.json"), "does not exist"),
                                 (output_file(), str(tmp_path), "is a folder"),
                                 (positive_int, "2.5", "must be an integer"),
                                 (positive_int, "0", "must be an integer >= 1"),
                                 (positive_float, "nan", "must be a finite number"),
                                 (positive_float, "-0.5", "must be a finite number > 0")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            check(text)
