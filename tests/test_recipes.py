"""Typed training recipes (d2e_zoo.trainers.recipe): the shipped recipes validate, bad keys and
values are refused with the valid choices named, recipes are found as package data (never
through a path outside the package), and the defaults each live in one place."""

import ast
import dataclasses
import fnmatch
import inspect
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import torch

import d2e_zoo
from d2e_zoo.dynamics import gaussian_log_prob
from d2e_zoo.endpoints.base import EnergyEndpoint
from d2e_zoo.energies import (DEFAULT_NEGATION_WEIGHT, DEFAULT_TEMPERATURE, ClassifierPosterior, ExpressionPosterior,
                              Negation, negation)
from d2e_zoo.ipf import IPFConfig
from d2e_zoo.trainers.recipe import (BridgeSpec, Recipe, RecipeError, TrainSpec, available_recipes, load_recipe,
                                     recipe_dirs)
from d2e_zoo.zoo.paths import bundled_dir
from d2e_zoo.zoo.registry import BRIDGE_TEMPERATURE

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(d2e_zoo.__file__).resolve().parent
SHIPPED = sorted(p.stem for p in (PACKAGE / "recipes").glob("*.toml"))


@pytest.fixture(autouse=True)
def no_recipe_env(monkeypatch):
    monkeypatch.delenv("D2E_ZOO_RECIPES", raising=False)


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


# ------------------------------------------------------------------ shipped recipes --
def test_the_package_ships_the_recipes_and_lists_them():
    assert len(SHIPPED) >= 20 and {"mnist-gan", "mnist-classifier", "mnist-even", "mnist-3-to-8"} <= set(SHIPPED)
    assert available_recipes() == SHIPPED
    assert not (ROOT / "training" / "recipes").exists()  # one copy of each recipe


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_recipe_validates_and_round_trips(name):
    r = load_recipe(name)
    assert isinstance(r, Recipe) and r.name == name and r.recipe_file == f"{name}.toml"
    again = Recipe.from_dict(json.loads(json.dumps(r.to_dict())))  # through JSON, as in training.json
    assert again == r
    if r.kind == "bridge":
        assert isinstance(r.bridge, BridgeSpec) and isinstance(r.ipf, IPFConfig) and r.train is None
        assert r.ipf.seed == r.seed
        assert r.bridge.temperature == BRIDGE_TEMPERATURE  # every zoo bridge is trained at the zoo's temperature
    else:
        assert isinstance(r.train, TrainSpec) and r.bridge is None and r.ipf is None
        assert r.train.num_steps == tomllib.loads((PACKAGE / "recipes" / f"{name}.toml").read_text())["train"][
            "num_steps"]


@pytest.mark.parametrize("name", sorted(p.name for p in bundled_dir().iterdir() if (p / "training.json").is_file()))
def test_bundled_training_records_read_as_the_shipped_recipes(name):
    """The ``recipe`` of every bundled training.json (older ones written before recipes were
    typed, with the decoder under the old key ``generator``) reads back through the same path,
    and is the shipped recipe of that name."""
    record = json.loads((bundled_dir() / name / "training.json").read_text())["recipe"]
    assert Recipe.from_dict(record) == load_recipe(name)
    if record["kind"] == "bridge":  # under either key, the decoder is the registry's
        assert ("generator" in record["bridge"]) != ("decoder" in record["bridge"])
        assert Recipe.from_dict(record).bridge.decoder == d2e_zoo.get_entry(name).decoder


def test_the_old_bridge_key_generator_reads_as_decoder(caplog):
    """``[bridge] generator`` (older records) is the decoder, logged at DEBUG only; both keys at once are refused."""
    raw = tomllib.loads(textwrap.dedent(BASE_BRIDGE))
    old = json.loads(json.dumps(raw))
    old["bridge"]["generator"] = old["bridge"].pop("decoder")
    with caplog.at_level(logging.DEBUG, logger="d2e_zoo.trainers.recipe"):
        recipe = Recipe.from_dict(old)
    assert recipe == Recipe.from_dict(raw) and recipe.bridge.decoder == "mnist-gan"
    assert recipe.to_dict()["bridge"]["decoder"] == "mnist-gan" and "generator" not in recipe.to_dict()["bridge"]
    assert any("old key 'generator' as 'decoder'" in r.getMessage() for r in caplog.records)
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name == "d2e_zoo.trainers.recipe")
    both = json.loads(json.dumps(raw))
    both["bridge"]["generator"] = "mnist-vae"
    with pytest.raises(RecipeError, match=r"\[bridge\]: both 'decoder' and its old name 'generator' are given; "
                                          r"keep only 'decoder'"):
        Recipe.from_dict(both)
    assert "generator" not in {f.name for f in dataclasses.fields(BridgeSpec)}


# ----------------------------------------------------------------------- bad input --
BASE_CLASSIFIER = """
    name = "tiny"
    kind = "classifier"
    [model]
    hidden = [8]
    [train]
    num_steps = 5
    """
BASE_GAN = """
    name = "tiny-gan"
    kind = "gan"
    [model]
    latent_dim = 4
    [discriminator]
    pack = 1
    [train]
    num_steps = 5
    """
BASE_BRIDGE = """
    name = "tiny-bridge"
    kind = "bridge"
    [bridge]
    decoder = "mnist-gan"
    classifier = "mnist-classifier"
    target = "even"
    [ipf]
    num_steps = 5
    """


def _with(base: str, section: str, line: str) -> dict:
    raw = tomllib.loads(textwrap.dedent(base))
    key, value = (s.strip() for s in line.split("=", 1))
    table = raw if section == "top" else raw.setdefault(section, {})
    table[key] = tomllib.loads(f"v = {value}")["v"]
    return raw


@pytest.mark.parametrize("base, section, key, a_valid_key", [
    (BASE_CLASSIFIER, "top", "sed", "data_source"),
    (BASE_CLASSIFIER, "model", "hiden", "dropout"),
    (BASE_CLASSIFIER, "train", "batch_sise", "batch_size"),
    (BASE_CLASSIFIER, "train", "checkpoint_evry", "checkpoint_every"),
    (BASE_GAN, "discriminator", "packing", "pack"),
    (BASE_GAN, "train", "beta", "betas"),
    (BASE_BRIDGE, "bridge", "temprature", "negation_weight"),
    (BASE_BRIDGE, "ipf", "sigma", "sigma2"),
])
def test_an_unknown_key_names_the_section_and_the_valid_keys(base, section, key, a_valid_key):
    with pytest.raises(RecipeError) as e:
        Recipe.from_dict(_with(base, section, f"{key} = 1"), origin="x.toml")
    message = str(e.value)
    assert "'x.toml'" in message and repr(key) in message and "valid keys:" in message
    assert a_valid_key in message.split("valid keys:")[1]
    if section != "top":
        assert f"[{section}]" in message


def test_an_unknown_or_misplaced_section_names_the_valid_sections():
    with pytest.raises(RecipeError, match=r"unknown key 'trian'; valid keys: .*train"):
        Recipe.from_dict(_with(BASE_CLASSIFIER, "trian", "x = 1"))
    with pytest.raises(RecipeError, match=r"section \[bridge\] does not apply to kind 'classifier'; "
                                          r"valid sections: \[model\], \[train\]"):
        Recipe.from_dict(_with(BASE_CLASSIFIER, "bridge", "target = '3'"))
    with pytest.raises(RecipeError, match=r"section \[train\] does not apply to kind 'bridge'"):
        Recipe.from_dict(_with(BASE_BRIDGE, "train", "num_steps = 3"))
    with pytest.raises(RecipeError, match=r"\[ipf\] \(the seed is the recipe's top-level seed\): unknown key 'seed'"):
        Recipe.from_dict(_with(BASE_BRIDGE, "ipf", "seed = 3"))
    with pytest.raises(RecipeError, match="unknown kind 'gann'; valid kinds: classifier, judge, gan, vae, bridge"):
        Recipe.from_dict(_with(BASE_CLASSIFIER, "top", "kind = 'gann'"))
    raw = tomllib.loads(textwrap.dedent(BASE_BRIDGE))
    del raw["bridge"]["target"]
    with pytest.raises(RecipeError, match=r"\[bridge\]: missing 'target' \(required: decoder, classifier, target"):
        Recipe.from_dict(raw)


@pytest.mark.parametrize("base, section, line, match", [
    (BASE_CLASSIFIER, "train", "num_steps = 0", "num_steps must be an integer >= 1, got 0"),
    (BASE_CLASSIFIER, "train", "log_every = 2.5", "log_every must be an integer >= 1"),
    (BASE_CLASSIFIER, "train", "lr = nan", "lr must be finite"),
    (BASE_CLASSIFIER, "train", "lr = 0.0", "lr must be finite and > 0, got 0.0"),
    (BASE_CLASSIFIER, "train", "batch_size = '64'", "batch_size must be an integer, got '64'"),
    (BASE_CLASSIFIER, "model", "dropout = -0.1", "dropout must be finite and >= 0"),
    (BASE_CLASSIFIER, "model", "hidden = [8, 0]", "hidden must be finite and > 0, got 0"),
    (BASE_CLASSIFIER, "top", "seed = -1", "seed must be an integer >= 0"),
    (BASE_CLASSIFIER, "top", "data_source = 'web'", "unknown data_source 'web'; valid sources: auto"),
    (BASE_BRIDGE, "bridge", "temperature = 0.0", "temperature must be a finite number > 0"),
    (BASE_BRIDGE, "bridge", "temperature = inf", "temperature must be a finite number > 0"),
    (BASE_BRIDGE, "bridge", "negation_weight = -0.5", "negation_weight must be a finite number >= 0"),
    (BASE_BRIDGE, "bridge", "max_seconds = nan", "max_seconds must be a finite number > 0"),
    (BASE_BRIDGE, "bridge", "threads = 0", "threads must be an integer >= 1"),
    (BASE_BRIDGE, "bridge", "target = 'evn'", r"target 'evn': .*not a class"),
    (BASE_BRIDGE, "bridge", "source = '11'", "source '11'"),
    (BASE_BRIDGE, "ipf", "sigma2 = -1.0", "sigma2 must be > 0"),
    (BASE_BRIDGE, "ipf", "lr = 'fast'", "lr must be a number, got 'fast'"),
    (BASE_BRIDGE, "ipf", "alpha = nan", "alpha must be finite"),
    (BASE_BRIDGE, "ipf", "num_steps = 2.5", "num_steps must be an integer"),
    (BASE_BRIDGE, "ipf", "langevin_step_final = 'small'", r"langevin_step_final must be a number \(or absent\)"),
])
def test_values_are_range_checked_before_anything_is_built(base, section, line, match):
    with pytest.raises(RecipeError, match=match):
        Recipe.from_dict(_with(base, section, line))


def test_overrides_are_validated_and_keep_the_ipf_seed_in_step():
    bridge = load_recipe("mnist-even").with_overrides(seed=7, max_seconds=30)
    assert bridge.seed == bridge.ipf.seed == 7 and bridge.bridge.max_seconds == 30
    gan = load_recipe("mnist-gan").with_overrides(num_steps=12)
    assert gan.train.num_steps == 12 and gan.train.options == load_recipe("mnist-gan").train.options
    with pytest.raises(RecipeError, match="num_steps sets \\[train\\] num_steps of step-based recipes"):
        load_recipe("mnist-even").with_overrides(num_steps=3)
    with pytest.raises(RecipeError, match="max_seconds caps the training of bridge recipes"):
        load_recipe("mnist-gan").with_overrides(max_seconds=3)
    with pytest.raises(RecipeError, match="num_steps must be an integer >= 1"):
        load_recipe("mnist-gan").with_overrides(num_steps=0)


def test_the_train_command_refuses_a_bad_recipe_with_a_message(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("d2e_train_script", ROOT / "training" / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    bad = _write(tmp_path / "bad.toml", BASE_CLASSIFIER.replace("num_steps = 5", "num_steps = 5\nlr = -1.0"))
    with pytest.raises(SystemExit) as e:
        train.main([str(bad), "--output_dir", str(tmp_path / "run")])
    assert e.value.code == 2
    message = capsys.readouterr().err
    assert re.search(r"train.py: error: recipe .*bad.toml' \[train\]: lr must be finite and > 0", message)
    assert not (tmp_path / "run").exists()  # refused before any work
    with pytest.raises(SystemExit) as e:
        train.parse_args(["--help"])
    assert e.value.code == 0


# ------------------------------------------------------------------------- lookup --
def test_a_recipe_file_given_by_path(tmp_path):
    path = _write(tmp_path / "my-recipe.toml", BASE_CLASSIFIER)
    r = load_recipe(path)
    assert (r.name, r.kind, r.recipe_file, r.model, r.train.num_steps) == ("tiny", "classifier", "my-recipe.toml",
                                                                           {"hidden": [8]}, 5)
    assert load_recipe(str(path)) == r
    with pytest.raises(RecipeError, match="no recipe file .*missing.toml'; valid recipe names: .*mnist-gan"):
        load_recipe(tmp_path / "missing.toml")
    (tmp_path / "broken.toml").write_text("name = \n")
    with pytest.raises(RecipeError, match="invalid TOML in recipe .*broken.toml"):
        load_recipe(tmp_path / "broken.toml")
    with pytest.raises(RecipeError, match="unknown recipe 'no-such-recipe'; valid recipes: .*mnist-gan"):
        load_recipe("no-such-recipe")


def test_recipe_folders_from_the_environment_come_first(tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    _write(mine / "tiny.toml", BASE_CLASSIFIER)
    _write(mine / "mnist-gan.toml", BASE_GAN.replace('"tiny-gan"', '"mnist-gan"'))
    monkeypatch.setenv("D2E_ZOO_RECIPES", os.pathsep.join([str(tmp_path / "absent"), str(mine)]))
    assert "tiny" in available_recipes() and "mnist-even" in available_recipes()
    assert load_recipe("tiny").name == "tiny"
    assert load_recipe("mnist-gan").model == {"latent_dim": 4}  # the environment's copy shadows the package's


def test_recipes_are_looked_up_only_inside_the_package():
    dirs = recipe_dirs()
    assert len(dirs) == 1  # no $D2E_ZOO_RECIPES: the package's folder only
    assert Path(str(dirs[0])).resolve() == PACKAGE / "recipes"


def test_pyproject_ships_the_recipes_as_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["d2e_zoo"]
    for name in SHIPPED:
        assert any(fnmatch.fnmatch(f"recipes/{name}.toml", p) for p in patterns), name


def test_an_installed_copy_finds_its_recipes(tmp_path):
    """A copy of the package alone (no repository around it, as after ``pip install``) lists
    and loads its recipes."""
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "d2e_zoo", ignore=shutil.ignore_patterns("bundled", "__pycache__"))
    code = ("import d2e_zoo, json; from d2e_zoo.trainers.recipe import available_recipes, load_recipe; "
            "r = load_recipe('mnist-gan'); "
            "print(json.dumps([d2e_zoo.__file__, available_recipes(), r.recipe_file, r.train.num_steps]))")
    env = {k: v for k, v in os.environ.items() if k != "D2E_ZOO_RECIPES"} | {"PYTHONPATH": str(site)}
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    where, names, recipe_file, num_steps = json.loads(res.stdout.strip().splitlines()[-1])
    assert Path(where).resolve().is_relative_to(site)
    assert names == SHIPPED and recipe_file == "mnist-gan.toml" and num_steps == 6000


# ---------------------------------------------------------------- defaults, once --
def test_the_negation_weight_default_is_the_one_constant():
    a = EnergyEndpoint(lambda x: gaussian_log_prob(x, torch.zeros(2), 1.0), dim=2, name="a")
    b = EnergyEndpoint(lambda x: gaussian_log_prob(x, torch.ones(2), 1.0), dim=2, name="b")
    x = torch.randn(7, 2, generator=torch.Generator().manual_seed(0))
    for built in (Negation(a, b), negation(a, b), a.without(b)):
        assert built.weight == DEFAULT_NEGATION_WEIGHT
        assert torch.allclose(built.log_prob(x), a.log_prob(x) - DEFAULT_NEGATION_WEIGHT * b.log_prob(x))
    spec = BridgeSpec(decoder="mnist-gan", classifier="mnist-classifier", target="even without 4")
    assert spec.negation_weight == DEFAULT_NEGATION_WEIGHT and spec.temperature == DEFAULT_TEMPERATURE
    from d2e_zoo.app import compose
    from d2e_zoo.pipelines import D2EBridgePipeline
    from d2e_zoo.trainers.bridge import target_posterior
    from d2e_zoo.trainers.live import live_recipe

    assert compose.DEFAULT_WEIGHT == DEFAULT_NEGATION_WEIGHT and compose.TEMPERATURE == BRIDGE_TEMPERATURE
    live = live_recipe("mnist-gan", "even without 4")
    assert live.bridge.negation_weight == DEFAULT_NEGATION_WEIGHT and live.bridge.temperature == BRIDGE_TEMPERATURE
    for fn in (D2EBridgePipeline.__init__, ExpressionPosterior.__init__, target_posterior):
        assert inspect.signature(fn).parameters["negation_weight"].default == DEFAULT_NEGATION_WEIGHT
    for fn in (D2EBridgePipeline.__init__, ExpressionPosterior.__init__, ClassifierPosterior.__init__,
               target_posterior):
        assert inspect.signature(fn).parameters["temperature"].default == DEFAULT_TEMPERATURE


def test_an_expression_energy_without_a_weight_uses_the_default():
    g, c = d2e_zoo.load("mnist-gan"), d2e_zoo.load("mnist-classifier")
    z = torch.randn(32, 10, generator=torch.Generator().manual_seed(1))
    default = ExpressionPosterior(g, c, "even without 4", 0.5)
    assert default.negation_weight == DEFAULT_NEGATION_WEIGHT
    assert torch.equal(default.log_prob(z), ExpressionPosterior(g, c, "even without 4", 0.5,
                                                                DEFAULT_NEGATION_WEIGHT).log_prob(z))
    assert not torch.allclose(default.log_prob(z), ExpressionPosterior(g, c, "even without 4", 0.5, 0.0).log_prob(z))


def test_the_negation_weight_is_written_once_in_the_package():
    """No other 0.35 literal in the package's code than the constant (and an unrelated grey level)."""
    allowed = {("endpoints/base.py", "DEFAULT_NEGATION_WEIGHT"), ("app/render.py", "FRAME_GREY")}
    found = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        named = {id(node.value): (node.targets[0].id if isinstance(node.targets[0], ast.Name) else None)
                 for node in ast.walk(tree) if isinstance(node, ast.Assign)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value == 0.35:
                where = (path.relative_to(PACKAGE).as_posix(), named.get(id(node)))
                if where not in allowed:
                    found.append(f"{where[0]}:{node.lineno}")
    assert not found, f"0.35 written outside DEFAULT_NEGATION_WEIGHT: {found}"
