"""Train and evaluate one method on one toy task.

    python -m d2e_zoo.benchmarks.toy2d --task gauss-to-gmm8 --method d2e --steps 20 --seconds 300

``--seconds`` is the training budget in wall-clock seconds. Prints a small table (or one
JSON object with ``--json``); ``--save-samples FILE.npz`` writes ``x0`` and ``x1`` (the
generated endpoint, ``--num-samples`` rows) so anyone can recompute the metrics.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time

import numpy as np
import torch

from ..dynamics import simulate
from ..endpoints.base import EndpointError
from ..endpoints.toy import get_distribution
from ..ipf import ENERGY_LOSSES, METHODS, ConfigError, IPFTrainer
from ..metrics.bridge import evaluate_bridge
from ..argtypes import HelpFormatter, one_of, output_file, plot_suffixes, positive_float, positive_int
from .tasks import TASKS, get_task

logger = logging.getLogger("d2e_zoo.benchmarks.toy2d")


def build_parser() -> argparse.ArgumentParser:
    """The command line; every value is checked as it is read (:mod:`.argtypes`)."""
    p = argparse.ArgumentParser(prog="python -m d2e_zoo.benchmarks.toy2d", description=__doc__.split("\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--task", required=True, type=one_of(TASKS, "task"), help=f"one of: {', '.join(TASKS)}")
    p.add_argument("--method", required=True, type=one_of(METHODS, "method"), help=f"one of: {', '.join(METHODS)}")
    p.add_argument("--steps", type=positive_int, default=20, help="number of time steps K (>= 1)")
    p.add_argument("--seconds", type=positive_float, default=60.0, help="training budget in wall-clock seconds")
    p.add_argument("--fixed-variance", action="store_true", help="do not learn the kernels' variance")
    p.add_argument("--energy-loss", choices=ENERGY_LOSSES, default=None,
                   help="sampler loss (default: the task's; reverse_kl is the on-policy baseline)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--num-samples", type=positive_int, default=4000,
                   help="samples for the metrics (>= 4000 advised)")
    p.add_argument("--iw-draws", type=positive_int, default=5,
                   help="independent batches of --num-samples trajectories for the importance-weighted log Z "
                        "(reports every draw, the worst error and a pooled estimate)")
    p.add_argument("--save-samples", metavar="FILE.npz", type=output_file(".npz"),
                   help="write arrays x0 and x1 to this file")
    p.add_argument("--plot", metavar="FILE.png", type=output_file(suffixes_from=plot_suffixes),
                   help="save a picture of endpoints and trajectories (2-D tasks)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch CPU threads (1 is fastest for these small networks)")
    p.add_argument("--progress", action="store_true", help="show progress bars")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    """Parsed and checked arguments; a bad value or combination exits with code 2 before any work."""
    p = build_parser()
    args = p.parse_args(argv)
    task = get_task(args.task)
    try:
        task.check_method(args.method)
    except ConfigError as e:
        p.error(f"argument --method: {e}")
    if args.plot:
        dim = get_distribution(task.target).dim
        if dim != 2:
            p.error(f"argument --plot: pictures are of 2-D tasks; {args.task} is {dim}-D")
    return args


def simulation_seconds(trainer: IPFTrainer, n: int = 100_000) -> float:
    """Wall-clock seconds to simulate ``n`` trajectories with the trained forward kernel,
    using every CPU core (large batches, unlike training, gain from threads); the best of
    three runs."""
    x0 = torch.zeros(n, trainer.source.dim)
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            simulate(trainer.forward, x0, trainer.grid)
            times.append(time.perf_counter() - start)
        return min(times)
    finally:
        torch.set_num_threads(threads)


def run_toy2d(args: argparse.Namespace) -> dict:
    """Train ``args.method`` on ``args.task`` for ``args.seconds`` and evaluate it (the fields
    of :func:`build_parser`); returns the JSON-ready result row."""
    task = get_task(args.task)
    task.check_method(args.method)
    if args.steps < 1:
        raise ConfigError(f"--steps (K) must be >= 1, got {args.steps}")
    if not (math.isfinite(args.seconds) and args.seconds > 0):
        raise ConfigError(f"--seconds must be a finite number > 0, got {args.seconds}")
    if args.iw_draws < 1:
        raise ConfigError(f"--iw-draws must be >= 1, got {args.iw_draws}")
    torch.manual_seed(args.seed)
    overrides = dict(num_steps=args.steps, learn_variance=not args.fixed_variance, seed=args.seed)
    if args.energy_loss:
        overrides["energy_loss"] = args.energy_loss
    config = task.config(args.method, **overrides)
    source, target, source_view, target_view = task.endpoints(args.method)
    if args.plot and source.dim != 2:
        raise ConfigError(f"--plot: pictures are of 2-D tasks; {args.task} is {source.dim}-D")
    trainer = IPFTrainer(source_view, target_view, config, args.method)
    state = trainer.train(max_seconds=args.seconds, progress=args.progress)
    g = torch.Generator().manual_seed(10_000 + args.seed)
    metrics = evaluate_bridge(trainer.forward, trainer.backward, trainer.grid, source, target,
                              args.num_samples, g, iw_draws=args.iw_draws)
    x0, x1 = metrics.pop("x0"), metrics.pop("x1")
    if args.save_samples:
        np.savez(args.save_samples, x0=x0.numpy(), x1=x1.numpy())
    if args.plot:
        from .plots import plot_bridge

        states = trainer.sample(2000, x0[:2000], generator=g).states
        truth = target.sample(2000, g) if target.has_samples else None
        plot_bridge(states, truth, args.plot, f"{args.task} / {args.method} / K={args.steps}")
    result = {"task": args.task, "method": args.method, "steps": args.steps,
              "learned_variance": not args.fixed_variance, "seed": args.seed,
              "energy_loss": config.energy_loss if args.method == "sampler" else None,
              "train_seconds": round(state.seconds, 2), "ipf_iterations": state.iteration,
              "forward_steps": state.forward_steps_done, "backward_steps": state.backward_steps_done,
              "final_log_z_param": float(trainer.log_z.detach()) if args.method == "sampler" else None,
              **metrics, "simulate_100k_seconds": round(simulation_seconds(trainer), 3)}
    return result


def format_toy2d_result(result: dict) -> str:
    """:func:`run_toy2d`'s result as aligned ``name  value`` lines."""
    rows = [(k, v if not isinstance(v, float) else f"{v:.4g}") for k, v in result.items()]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if not args.json else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    try:
        result = run_toy2d(args)
    except (ConfigError, EndpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else format_toy2d_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
