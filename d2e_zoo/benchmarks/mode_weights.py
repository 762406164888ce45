"""Mode weights of bridges to unequal multimodal targets: does a bridge keep the proportions?

    python -m d2e_zoo.benchmarks.mode_weights                       # every row, a Markdown table
    python -m d2e_zoo.benchmarks.mode_weights --dims 10 --methods d2e --json
    python -m d2e_zoo.benchmarks.mode_weights --workers 8           # rows in parallel processes

A family of Gaussian mixtures with unequal weights (std 0.5): in 2-D, 6 modes on a circle;
in d >= 10 dimensions, ``M`` modes at ``s e_1, ..., s e_M`` (5 modes in 10-D, 10 in 50-D),
each at two separations ``s``. Each row trains one bridge from N(0, I) (data-to-energy:
samples and density of the source; energy-to-energy: both ends as energies; data-to-data:
samples of both) with one of two recipes and reports the mode weights of 4,000 bridge
samples (each assigned to its nearest mean), their total variation to the true weights, the
transport cost E||x1 - x0||^2 and the training time:

* ``ipf``: the zoo's bridge recipe as it was (off-policy fraction annealed 0.5 -> 0.2, the
  replay buffer refilled with the forward process's end states);
* ``resampled``: the same with ``buffer_resampling = "path_weights"`` (the buffer refilled by
  importance resampling of paths, tempered weights, at most ESS new states per refill) and
  every energy-end start point taken off-policy from the buffer (``off_policy_start =
  off_policy_end = 1``). Data-to-data has no buffer: its two recipes are the same.

docs/method.md section 4.3 has the tables this command produced and what they chose.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import torch

from ..argtypes import output_file, positive_float, positive_int
from ..endpoints.toy import Gaussian, GaussianMixture
from ..ipf import IPFConfig, IPFTrainer

logger = logging.getLogger("d2e_zoo.benchmarks.mode_weights")

BRIDGE_METHODS = ("d2e", "e2e", "d2d")
RECIPES = ("ipf", "resampled")
DIMS = (2, 10, 50)
SEPARATIONS = {2: (3.0, 5.0), 10: (3.0, 5.0), 50: (3.0, 5.0)}
MIXTURE_STD = 0.5
#: the zoo's even/odd bridge recipe (``mnist-even``), the starting point of both recipes
BASE_CONFIG = dict(num_steps=20, t_max=1.0, sigma2=0.5, hidden=128, depth=3, ipf_iterations=16, backward_steps=60,
                   forward_steps=150, batch_size=128, lr=1e-3, off_policy_start=0.5, off_policy_end=0.2,
                   buffer_size=1024, langevin_steps=20, langevin_step=0.05, langevin_init_steps=100)
RESAMPLED = dict(buffer_resampling="path_weights", off_policy_start=1.0, off_policy_end=1.0)


def unequal_weights(m: int) -> torch.Tensor:
    """``m`` unequal weights: for 5 modes 0.35, 0.25, 0.20, 0.12, 0.08; else proportional to
    ``m + 1 - i + m / 3`` for ``i = 1..m`` (6 modes: 0.24 down to 0.09; 10: 0.15 down to 0.05)."""
    if m == 5:
        return torch.tensor([35.0, 25.0, 20.0, 12.0, 8.0]) / 100  # the 10-D task of docs/method.md section 4.3
    w = torch.arange(m, 0, -1, dtype=torch.float32) + m / 3
    return w / w.sum()


def mixture(dim: int, separation: float) -> GaussianMixture:
    """The family's target in ``dim`` dimensions (see the module docstring)."""
    if dim == 2:
        m = 6
        angle = 2 * math.pi * torch.arange(m, dtype=torch.float64) / m
        means = separation * torch.stack([angle.cos(), angle.sin()], 1).float()
    else:
        m = 5 if dim < 50 else 10
        means = torch.zeros(m, dim)
        means[torch.arange(m), torch.arange(m)] = separation
    return GaussianMixture(means, MIXTURE_STD, unequal_weights(m), name=f"mix{dim}d-s{separation:g}")


@dataclass(frozen=True)
class Row:
    dim: int
    separation: float
    method: str
    recipe: str
    seed: int = 0
    seconds: float = 300.0


def _ends(method: str, target: GaussianMixture):
    prior = Gaussian(dim=target.dim, std=1.0, name="prior")
    if method == "d2e":
        return prior, target.energy_view()
    if method == "e2e":
        return prior.energy_view(), target.energy_view()
    return prior.sample_view(), target.sample_view()


def run_mode_weight_row(row: Row) -> dict:
    """Train and evaluate one row (one process, one torch thread)."""
    torch.set_num_threads(1)
    target = mixture(row.dim, row.separation)
    source, target_view = _ends(row.method, target)
    config = {**BASE_CONFIG, "seed": row.seed}
    if row.recipe == "resampled" and row.method != "d2d":
        config.update(RESAMPLED)
    trainer = IPFTrainer(source, target_view, IPFConfig(**config), row.method)
    start = time.perf_counter()
    trainer.train(max_seconds=row.seconds)
    seconds = time.perf_counter() - start
    g = torch.Generator().manual_seed(row.seed + 1)
    x0 = Gaussian(dim=target.dim, std=1.0).sample(4000, g)
    x1 = trainer.sample(4000, x0=x0, generator=g).x_last
    weights = torch.bincount(target.assign_modes(x1), minlength=target.num_modes).double() / len(x1)
    true = target.weights.double()
    return {"dim": row.dim, "separation": row.separation, "modes": target.num_modes, "method": row.method,
            "recipe": row.recipe, "seed": row.seed, "tv": 0.5 * float((weights - true).abs().sum()),
            "max_abs_error": float((weights - true).abs().max()),
            "mode_weights": [round(float(v), 4) for v in weights], "true_weights": [round(float(v), 4) for v in true],
            "transport": float(((x1 - x0) ** 2).sum(-1).mean()), "train_seconds": round(seconds, 1),
            "ipf_iterations": trainer.state.iteration}


def rows_for(dims, methods, recipes, seeds, seconds) -> list[Row]:
    return [Row(d, s, m, r, seed, seconds) for d in dims for s in SEPARATIONS[d] for m in methods
            for r in recipes if not (m == "d2d" and r == "resampled") for seed in seeds]


def format_mode_weight_table(results: list[dict]) -> str:
    """A Markdown table, one row per result."""
    lines = ["| d | modes | sep. | method | recipe | seed | mode-weight TV | worst mode error | transport | train s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['dim']} | {r['modes']} | {r['separation']:g} | {r['method']} | {r['recipe']} | {r['seed']} "
                     f"| {r['tv']:.3f} | {r['max_abs_error']:.3f} | {r['transport']:.2f} | {r['train_seconds']:.0f} |")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m d2e_zoo.benchmarks.mode_weights",
                                description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dims", type=int, nargs="+", choices=DIMS, default=list(DIMS))
    p.add_argument("--methods", nargs="+", choices=BRIDGE_METHODS, default=list(BRIDGE_METHODS))
    p.add_argument("--recipes", nargs="+", choices=RECIPES, default=list(RECIPES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--seconds", type=positive_float, default=300.0, help="training budget per row (seconds)")
    p.add_argument("--workers", type=positive_int, default=1, help="rows trained at once (processes)")
    p.add_argument("--json", metavar="FILE.json", type=output_file(".json"), default=None,
                   help="also write every row's numbers to this file")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    rows = rows_for(args.dims, args.methods, args.recipes, args.seeds, args.seconds)
    if args.workers == 1:
        results = [run_mode_weight_row(r) for r in rows]
    else:
        with ProcessPoolExecutor(args.workers) as pool:
            results = list(pool.map(run_mode_weight_row, rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(format_mode_weight_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
