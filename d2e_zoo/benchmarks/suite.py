"""Run the README's benchmark table: each row is one ``toy2d`` run in its own process.

    python -m d2e_zoo.benchmarks.suite [--jobs 2] [--scale 1.0]

``--jobs`` runs that many rows at once (each single-threaded: at most one per CPU core);
``--scale`` multiplies every training budget (e.g. 0.1 for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from tqdm.auto import tqdm

from ..argtypes import HelpFormatter, output_file, positive_float, positive_int

# (task, method, K, seconds, fixed variance)
ROWS = [
    ("gauss-to-gmm8", "d2e", 20, 300, False),
    ("gauss-to-gmm8", "d2d", 20, 120, False),
    ("moons-to-gmm8", "d2d", 20, 120, False),
    ("gauss-to-moons", "d2d", 20, 120, False),
    ("cross-to-gmm8", "e2e", 20, 300, False),
    ("gauss-to-moons", "d2d", 5, 120, False),
    ("gauss-to-moons", "d2d", 5, 120, True),
    ("gauss-to-gmm8", "d2e", 5, 120, False),
    ("gauss-to-gmm8", "d2e", 5, 120, True),
    ("gmm40", "sampler", 20, 300, False),
    ("manywell2", "sampler", 20, 120, False),
    ("manywell32", "sampler", 20, 1800, False),
    ("funnel10", "sampler", 20, 120, False),
]

COLUMNS = ["task", "method", "steps", "learned_variance", "train_seconds", "w2_squared", "min_mode_weight",
           "true_log_z", "elbo", "iw_log_z", "iw_abs_error_max", "iw_log_z_pooled", "eubo", "transport_cost",
           "path_kl_to_reference", "simulate_100k_seconds"]


def command(task, method, k, seconds, fixed):
    cmd = ["--task", task, "--method", method, "--steps", str(k), "--seconds", f"{seconds:g}"]
    return cmd + (["--fixed-variance"] if fixed else [])


def run_row(row, scale):
    task, method, k, seconds, fixed = row
    argv = command(task, method, k, seconds * scale, fixed)
    out = subprocess.run([sys.executable, "-m", "d2e_zoo.benchmarks.toy2d", *argv, "--json"],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark row {argv} failed:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout)
    result["command"] = "python -m d2e_zoo.benchmarks.toy2d " + " ".join(argv)
    return result


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def markdown(results) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in COLUMNS) + " |" for r in results]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m d2e_zoo.benchmarks.suite", description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument("--jobs", type=positive_int, default=2, help="rows run at once, one thread each")
    p.add_argument("--scale", type=positive_float, default=1.0, help="multiplies every training budget")
    p.add_argument("--json-out", type=output_file(), help="also write all results to this JSON file")
    args = p.parse_args(argv)
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(tqdm(pool.map(lambda r: run_row(r, args.scale), ROWS), total=len(ROWS), desc="benchmarks"))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=1)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
