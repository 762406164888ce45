"""OOD scores: the AUROC metric, the Fashion-MNIST loader and the MNIST-vs-Fashion command."""

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from d2e_zoo.benchmarks import ood
from d2e_zoo.data import fashion_mnist, load_fashion_mnist
from d2e_zoo.data.fashion_mnist import (
    FashionMNISTNotFoundError,
    IDXFormatError,
    read_idx,
)
from d2e_zoo.metrics import auroc, auroc_standard_error

SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")


# ---------------------------------------------------------------- AUROC


def test_auroc_closed_forms():
    assert auroc([0.0, 1.0, 2.0], [3.0, 4.0]) == 1.0
    assert auroc([3.0, 4.0], [0.0, 1.0, 2.0]) == 0.0
    x = np.random.default_rng(0).normal(size=50)
    assert auroc(x, x) == 0.5  # every in/out pair is either mirrored or a tie
    assert auroc(np.ones(7), np.ones(3)) == 0.5  # all ties: exactly one half
    assert auroc([1.0, 2.0], [2.0, 3.0]) == pytest.approx(0.875)  # pairs: >,>,=,> -> (3 + 0.5) / 4
    assert auroc(torch.tensor([0.0, 1.0]), torch.tensor([0.5])) == 0.5  # tensors work


def test_auroc_matches_brute_force_pairwise_count_with_ties():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 6, size=37).astype(float), rng.integers(1, 8, size=23).astype(float)
    diff = b[None, :] - a[:, None]
    brute = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
    assert auroc(a, b) == pytest.approx(brute, abs=1e-12)
    labels = np.r_[np.zeros(len(a)), np.ones(len(b))]
    assert auroc(a, b) == pytest.approx(roc_auc_score(labels, np.r_[a, b]), abs=1e-12)


def test_auroc_of_two_gaussians_and_its_standard_error():
    delta, n = 1.0, 4000
    rng = np.random.default_rng(2)
    expected = 0.5 * (1 + math.erf(delta / math.sqrt(2) / math.sqrt(2)))  # Phi(delta / sqrt(2)) = 0.760
    a, b = rng.normal(size=n), rng.normal(delta, 1.0, size=n)
    se = auroc_standard_error(a, b)
    assert 0.003 < se < 0.008
    assert auroc(a, b) == pytest.approx(expected, abs=4 * se)
    # DeLong's SE against the spread over repeated small experiments
    runs = [(auroc(rng.normal(size=200), rng.normal(delta, size=200)),
             auroc_standard_error(rng.normal(size=200), rng.normal(delta, size=200))) for _ in range(200)]
    values, ses = np.array(runs).T
    assert values.mean() == pytest.approx(expected, abs=0.01)
    assert ses.mean() == pytest.approx(values.std(ddof=1), rel=0.2)


@pytest.mark.parametrize("a,b,message", [([], [1.0], "empty"), ([1.0, float("nan")], [1.0], "non-finite"),
                                         (np.ones((2, 2)), [1.0], "1-D")])
def test_auroc_rejects_bad_scores(a, b, message):
    with pytest.raises(ValueError, match=message):
        auroc(a, b)


# ---------------------------------------------------------------- Fashion-MNIST loader


def write_idx(path: Path, array: np.ndarray, magic: int | None = None, compress: bool = True):
    magic = magic if magic is not None else 0x0800 + array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def write_split(folder: Path, n: int = 5, split: str = "t10k", compress: bool = True, seed: int = 0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, labels = rng.integers(0, 256, size=(n, 28, 28)), rng.integers(0, 10, size=n)
    suffix = ".gz" if compress else ""
    write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", images, compress=compress)
    write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", labels, compress=compress)
    return images, labels


@pytest.fixture
def no_default_fashion(monkeypatch, tmp_path):
    """Every default location points at an empty folder."""
    monkeypatch.delenv(fashion_mnist.ENV_VAR, raising=False)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "system")
    monkeypatch.setenv("D2E_ZOO_DATA", str(tmp_path / "data"))
    return tmp_path


def test_loader_reads_a_tiny_idx_gz_split(tmp_path):
    images, labels = write_split(tmp_path, n=5)
    x, y = load_fashion_mnist("test", root=tmp_path)
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (5,) and y.dtype == torch.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert torch.equal(x[:, 0], torch.from_numpy(images / 255.0).float())
    assert y.tolist() == labels.tolist()
    write_split(tmp_path, n=3, split="train", seed=1)
    assert load_fashion_mnist("train", root=tmp_path)[0].shape == (3, 1, 28, 28)


def test_loader_search_order(no_default_fashion, monkeypatch):
    tmp = no_default_fashion
    write_split(tmp / "data" / "FashionMNIST" / "raw", n=4, compress=False)  # torchvision: extracted files
    assert len(load_fashion_mnist()[0]) == 4
    write_split(tmp / "system", n=3)
    assert len(load_fashion_mnist()[0]) == 3  # the system folder comes before torchvision's
    write_split(tmp / "env", n=2)
    monkeypatch.setenv(fashion_mnist.ENV_VAR, str(tmp / "env"))
    assert len(load_fashion_mnist()[0]) == 2  # $D2E_ZOO_FASHION_DATA before both


@pytest.mark.parametrize("magic,message", [(0x0903, "bad IDX magic number"), (2049, "expected 2051")])
def test_loader_rejects_a_wrong_magic_number(tmp_path, magic, message):
    write_split(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28)), magic=magic)
    with pytest.raises(IDXFormatError, match=message):
        load_fashion_mnist("test", root=tmp_path)


def test_read_idx_rejects_truncated_and_non_gzip_files(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write((2049).to_bytes(4, "big") + (10).to_bytes(4, "big") + b"\x01\x02")
    with pytest.raises(IDXFormatError, match="file holds 2"):
        read_idx(path)
    (tmp_path / "y.gz").write_bytes(b"not gzip at all")
    with pytest.raises(IDXFormatError, match="cannot read"):
        read_idx(tmp_path / "y.gz")


def test_missing_data_error_names_the_paths_and_the_fix(no_default_fashion, monkeypatch):
    tmp = no_default_fashion
    with pytest.raises(FashionMNISTNotFoundError) as e:
        load_fashion_mnist("test", root=tmp / "nowhere")
    assert str(tmp / "nowhere") in str(e.value) and "apt-get install dataset-fashion-mnist" in str(e.value)
    monkeypatch.setenv(fashion_mnist.ENV_VAR, str(tmp / "env"))
    with pytest.raises(FileNotFoundError) as e:  # a FileNotFoundError subclass
        load_fashion_mnist()
    for folder in (tmp / "env", tmp / "system", tmp / "data" / "FashionMNIST" / "raw"):
        assert str(folder) in str(e.value)
    assert "t10k-images-idx3-ubyte" in str(e.value)
    with pytest.raises(ValueError, match="valid splits: train, test"):
        load_fashion_mnist("val")


def test_command_reports_missing_fashion_data(no_default_fashion, capsys):
    assert ood.main(["--num-images", "10"]) == 2
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [(["--targets", "prime"], "--targets"),
                                          (["--temperature", "0"], "--temperature"),
                                          (["--num-images", "-1"], "--num-images")])
def test_command_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit):
        ood.main(argv)
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------- latent scores (tiny models)


class TinyGenerator(torch.nn.Module):
    latent_dim = 3

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(3, 784)

    def forward(self, z):
        return torch.sigmoid(self.net(z)).view(-1, 1, 28, 28)


def test_latent_scores_closed_forms():
    gen, clf = TinyGenerator(), torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    z = torch.randn(64, 3) * 2
    s = ood.latent_scores(z, gen, clf, "all", 0.5)
    assert torch.allclose(s["|grad U|"], z.norm(dim=1), atol=1e-6)  # U = |z|^2 / 2 + const
    assert torch.allclose(s["U"], 0.5 * z.pow(2).sum(1) + 1.5 * math.log(2 * math.pi), atol=1e-5)
    # C = {argmax} has the largest p_T(c | G(z)) of all single classes: the smallest U
    pred = ood.latent_scores(z, gen, clf, "pred", 0.5)["U"]
    singles = torch.stack([ood.latent_scores(z, gen, clf, str(c), 0.5)["U"] for c in range(10)], 1)
    assert torch.allclose(pred, singles.min(1).values, atol=1e-5)
    with pytest.raises(ValueError, match="needs the images"):
        ood.latent_scores(z, gen, clf, "pred-x", 0.5)


# ---------------------------------------------------------------- end to end (real data)


@pytest.mark.skipif(not (SYSTEM_FASHION / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
@pytest.mark.slow
def test_command_end_to_end_on_real_data(tmp_path, capsys):
    out = tmp_path / "ood.json"
    assert ood.main(["--num-images", "200", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| family | target | score | AUROC |" in table and "200 Fashion-MNIST test images" in table
    result = json.loads(out.read_text())
    assert result["num_in"] == result["num_out"] == 200
    rows = {(r["family"], r["target"], r["score"]): r for r in result["rows"]}
    assert {t for f, t, _ in rows if f == "latent"} == set(ood.DEFAULT_TARGETS)
    grad_all, u_all = rows[("latent", "all", "|grad U|")], rows[("latent", "all", "U")]
    assert grad_all["auroc"] == pytest.approx(u_all["auroc"])  # both are monotone in |z|
    # the class-aware |grad U| is a real OOD score: for "odd", 0.836 +- 0.007 on 1000 vs 10000 images
    # (the version-2 convolutional VAE); the norm alone ranks Fashion as *more* typical (0.22)
    assert rows[("latent", "odd", "|grad U|")]["auroc"] > 0.7
    assert grad_all["auroc"] < 0.4
    assert all(0.0 <= r["auroc"] <= 1.0 and r["auroc_se"] > 0 for r in rows.values())
