"""The zoo table of docs/zoo.md is the output of ``python -m d2e_zoo.benchmarks.zoo_table``:
``--update`` rewrites the marked block in place, ``--from-json`` rebuilds it from saved metrics."""

from __future__ import annotations

import json
import re

import pytest

import d2e_zoo
from d2e_zoo.benchmarks import zoo_table
from d2e_zoo.benchmarks.zoo_table import (END, START, main, markdown_table, markers, replace_marked_block,
                                          replace_rows)
from doc_blocks import ROOT

BRIDGE = {"kind": "bridge", "judge_precision": 0.9461, "judge_precision_exact": 0.917, "tv_class_mix": 0.1734,
          "transport_cost": 6.051, "transport_cost_rejection": 19.96, "elbo": -1.88, "log_z": -0.77, "eubo": 0.47,
          "seconds_per_1000": 0.0771, "temperature": 0.5}
GENERATOR = {"kind": "generator", "min_class_fraction": 0.079, "max_class_fraction": 0.116,
             "judge_confidence": 0.936}


@pytest.mark.parametrize("domain", ["mnist", "fashion"])
def test_each_documented_table_has_one_row_per_model_of_its_domain(domain):
    text = (ROOT / "docs" / "zoo.md").read_text(encoding="utf-8")
    start, end = markers(domain)
    block = text.split(start, 1)[1].split(end, 1)[0]
    names = re.findall(r"^\| `([\w-]+)` \|", block, flags=re.M)
    assert names == d2e_zoo.list_models(domain=domain)


def test_replace_marked_block_keeps_the_rest():
    text = f"intro\n{START}\nold table\n{END}\nafter\n"
    assert replace_marked_block(text, "| new |") == f"intro\n{START}\n| new |\n{END}\nafter\n"
    for bad in ("no markers", f"{END}\n{START}\n", f"{START}\n{START}\n{END}\n"):
        with pytest.raises(ValueError, match="expected one"):
            replace_marked_block(bad, "x")


def test_from_json_update_rewrites_the_block(tmp_path, capsys):
    metrics = tmp_path / "zoo.json"
    metrics.write_text(json.dumps({"mnist-even": BRIDGE, "mnist-gan": GENERATOR}))
    doc = tmp_path / "zoo.md"
    doc.write_text(f"# Zoo\n\n{START}\nstale\n{END}\n\nnotes\n")
    assert main(["--from-json", str(metrics), "--update", str(doc)]) == 0
    written = doc.read_text()
    assert "stale" not in written and written.endswith(f"{END}\n\nnotes\n")
    rows = markdown_table({"mnist-even": BRIDGE, "mnist-gan": GENERATOR}, ["mnist-gan", "mnist-even"])
    assert rows in written and rows in capsys.readouterr().out
    assert "| 0.946 / 0.917 | 0.173 | 6.05 / 19.96 | -1.88 ≤ -0.77 ≤ 0.47 | 77 ms |" in rows
    assert "| classes 0.079-0.116 | confidence 0.936 |" in rows


def test_update_with_names_replaces_only_those_rows(tmp_path):
    metrics = tmp_path / "zoo.json"
    metrics.write_text(json.dumps({"mnist-even": BRIDGE}))
    doc = tmp_path / "zoo.md"
    doc.write_text(f"intro\n{START}\n| header |\n| `mnist-gan` | kept |\n| `mnist-even` | old |\n{END}\nafter\n")
    assert main(["--from-json", str(metrics), "--names", "mnist-even", "--update", str(doc)]) == 0
    new_row = markdown_table({"mnist-even": BRIDGE}, ["mnist-even"]).split("\n")[-1]
    assert doc.read_text() == f"intro\n{START}\n| header |\n| `mnist-gan` | kept |\n{new_row}\n{END}\nafter\n"
    with pytest.raises(ValueError, match="0 rows for 'mnist-odd'"):
        replace_rows(doc.read_text(), {"mnist-odd": "| `mnist-odd` | x |"})
    with pytest.raises(ValueError, match="expected one"):
        replace_rows("no markers", {"mnist-even": "x"})


def test_bad_inputs_are_refused(tmp_path, capsys):
    metrics = tmp_path / "zoo.json"
    metrics.write_text(json.dumps({"mnist-gan": GENERATOR}))
    with pytest.raises(SystemExit):
        main(["--from-json", str(metrics), "--names", "mnist-even"])
    assert "has no metrics for ['mnist-even']" in capsys.readouterr().err
    plain = tmp_path / "plain.md"
    plain.write_text("no markers\n")
    with pytest.raises(SystemExit):
        main(["--from-json", str(metrics), "--update", str(plain)])
    assert "zoo-table:start" in capsys.readouterr().err


def test_update_rewrites_each_domains_block(tmp_path):
    metrics = tmp_path / "zoo.json"
    fashion_gan = {**GENERATOR, "judge_frechet": 12.34, "judge_confidence_real": 0.905}
    metrics.write_text(json.dumps({"mnist-gan": GENERATOR, "fashion-gan": fashion_gan}))
    doc = tmp_path / "zoo.md"
    f_start, f_end = markers("fashion")
    doc.write_text(f"{START}\nold\n{END}\n\n{f_start}\nold\n{f_end}\n")
    assert main(["--from-json", str(metrics), "--update", str(doc)]) == 0
    mnist_block, fashion_block = doc.read_text().split(f_start)
    assert "`mnist-gan`" in mnist_block and "fashion" not in mnist_block
    assert "`fashion-gan`" in fashion_block and "mnist" not in fashion_block
    assert "confidence 0.936 (real images 0.905) | judge-feature FD 12.3 |" in fashion_block
    only_mnist = tmp_path / "mnist-only.md"
    only_mnist.write_text(f"{START}\nold\n{END}\n")
    with pytest.raises(SystemExit):  # no block for the fashion rows
        main(["--from-json", str(metrics), "--update", str(only_mnist)])


def test_num_samples_is_the_bridges_and_generators_keep_their_10000(monkeypatch, capsys):
    import d2e_zoo.benchmarks.zoo_table as zoo_table

    calls = {}

    def fake_evaluate(name, num_samples=None):
        calls[name] = num_samples
        return {**(BRIDGE if name == "mnist-3" else GENERATOR), "kind": "bridge" if name == "mnist-3" else "generator"}

    monkeypatch.setattr(zoo_table, "evaluate", fake_evaluate)
    assert main(["--names", "mnist-gan", "mnist-3", "--num-samples", "7"]) == 0
    assert calls == {"mnist-gan": None, "mnist-3": 7}  # None: evaluate's own 10,000 for a generator
    assert "| `mnist-3` |" in capsys.readouterr().out


def test_the_training_cell_says_when_a_time_cap_cut_the_ipf_schedule(monkeypatch):
    infos = {"done": {"recipe": {"ipf": {"ipf_iterations": 16}}, "metrics": {"train_seconds": 310.4,
                                                                             "ipf_iterations": 16}},
             "cut": {"recipe": {"ipf": {"ipf_iterations": 16}}, "metrics": {"train_seconds": 540.2,
                                                                            "ipf_iterations": 14}},
             "unrecorded": {}}
    monkeypatch.setattr(zoo_table, "read_training_info", infos.get)
    assert zoo_table._training_cell("done") == "310 s"
    assert zoo_table._training_cell("cut") == "540 s (time cap: 14 of 16 IPF iterations)"
    assert zoo_table._training_cell("unrecorded") == "n/a"
