"""The README's zoo table: evaluate every zoo entry and print a markdown table.

    python -m d2e_zoo.benchmarks.zoo_table [--num-samples 4000] [--json results.json]

Bridges: judge precision (bridge / exact posterior), total-variation distance of the class
mix to the exact posterior, transport cost (bridge / rejection sampling), ELBO <= log Z <=
EUBO, translation time per 1,000 samples and the recorded training time. Generators: the
judge's class mix range and mean confidence. Classifiers: test accuracy.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import torch
from tqdm.auto import tqdm

from ..evaluate import evaluate
from ..zoo import get_entry, list_models
from ..zoo.loading import read_training_info
from ..argtypes import output_file, positive_int, zoo_name


def _row(name: str, m: dict) -> str:
    e = get_entry(name)
    if e.kind == "bridge":
        train_s = read_training_info(name).get("metrics", {}).get("train_seconds")
        cells = [f"{m['judge_precision']:.3f} / {m['judge_precision_exact']:.3f}", f"{m['tv_class_mix']:.3f}",
                 f"{m['transport_cost']:.2f} / {m['transport_cost_rejection']:.2f}",
                 f"{m['elbo']:.2f} ≤ {m['log_z']:.2f} ≤ {m['eubo']:.2f}", f"{1000 * m['seconds_per_1000']:.0f} ms",
                 f"{train_s:.0f} s" if train_s is not None else "n/a"]
        what = f"T={m['temperature']:g}"
    elif e.kind == "generator":
        cells = [f"classes {m['min_class_fraction']:.3f}-{m['max_class_fraction']:.3f}",
                 f"confidence {m['judge_confidence']:.3f}", "", "", "", ""]
        what = ""  # the description names the latent
    else:
        cells = [f"test accuracy {m['test_accuracy']:.3f}", "", "", "", "", ""]
        what = ""
    return f"| `{name}` | {e.description} {what} | " + " | ".join(cells) + " |"


ZOO_TABLE_HEADER = ("| name | what | judge precision (bridge / exact) | TV class mix | transport (bridge / rejection) "
          "| ELBO ≤ log Z ≤ EUBO | 1,000 samples | training |\n|---|---|---|---|---|---|---|---|")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num-samples", type=positive_int, default=4000)
    p.add_argument("--names", nargs="*", type=zoo_name(), default=None, help="subset of the zoo (default: all)")
    p.add_argument("--json", default=None, type=output_file(), help="also write all metrics to this JSON file")
    p.add_argument("--threads", type=positive_int, default=2)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    names = args.names or list_models()
    results = {}
    for name in tqdm(names, desc="evaluating"):
        kind = get_entry(name).kind
        results[name] = evaluate(name, args.num_samples if kind in ("bridge", "generator") else None)
    print(ZOO_TABLE_HEADER)
    for name in names:
        print(_row(name, results[name]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
