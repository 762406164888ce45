"""Training and simulation speed of data-to-energy IPF on gauss -> gmm8: batch 128, K = 20,
64-wide networks, one thread.

    python -m d2e_zoo.benchmarks.speed

Gradient steps per second of the backward and the forward half-step (timed after 10 warm-up
steps; each half-step's set-up is not timed), then the time to simulate 100,000 trajectories
of the forward kernel without autograd (best of 3) on 1 thread and on all cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

import torch

from ..dynamics import simulate
from ..ipf import IPFTrainer
from ..argtypes import HelpFormatter, positive_int
from .tasks import get_task

logger = logging.getLogger("d2e_zoo.benchmarks.speed")


def steps_per_second(trainer: IPFTrainer, phase: str, n: int) -> float:
    """Gradient steps per second within one half-step (its set-up, e.g. the buffer's MALA
    refresh, happens once per half-step and is not timed)."""
    trainer._begin_half_step(phase)
    for _ in range(10):  # warm-up
        trainer._train_step(phase)
    start = time.perf_counter()
    for _ in range(n):
        trainer._train_step(phase)
    return n / (time.perf_counter() - start)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m d2e_zoo.benchmarks.speed", description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument("--steps", type=positive_int, default=300, help="gradient steps timed per phase")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    task = get_task("gauss-to-gmm8")
    _, _, sv, tv = task.endpoints("d2e")
    trainer = IPFTrainer(sv, tv, task.config("d2e", batch_size=128, num_steps=20, hidden=64), "d2e")
    torch.set_num_threads(1)
    result = {"batch_size": 128, "K": 20, "hidden": 64, "threads_training": 1,
              "backward_steps_per_s": round(steps_per_second(trainer, "backward", args.steps), 1),
              "forward_steps_per_s": round(steps_per_second(trainer, "forward", args.steps), 1)}
    x0 = torch.zeros(100_000, 2)
    for threads in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        simulate(trainer.forward, x0[:10_000], trainer.grid)  # warm-up
        times = []
        for _ in range(3):
            start = time.perf_counter()
            simulate(trainer.forward, x0, trainer.grid)
            times.append(time.perf_counter() - start)
        result[f"simulate_100k_K20_seconds_{threads}_threads"] = round(min(times), 3)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:<28} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
