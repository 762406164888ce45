"""The step loop shared by the zoo's trainers (classifier, judge, GAN, VAE).

A *task* owns its models, optimizers and data; :func:`run_steps` drives it: resume from the
latest checkpoint, one gradient step at a time with a progress bar, metrics to ``logging``
(and to Accelerate trackers when configured), periodic safetensors checkpoints, and a hard
stop on a non-finite loss that keeps the last good checkpoint on disk.

With several processes each process draws its own batches (seeded by rank) and gradients
are averaged across processes by :func:`average_gradients` before every optimizer step.
"""

from __future__ import annotations

import logging
import math
from typing import Iterable, Optional, Protocol

import torch
from tqdm.auto import tqdm

from .state import latest_checkpoint, load_training_state, save_training_state

logger = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; training stopped, the last good checkpoint is kept."""


class StepTask(Protocol):
    modules: dict
    optimizers: dict
    generators: dict

    def step(self, step: int) -> dict:  # pragma: no cover - protocol
        """One gradient step; returns scalar metrics (must include ``loss``)."""


def average_gradients(accelerator, params: Iterable[torch.nn.Parameter]):
    """Average ``.grad`` across processes (no-op for a single process)."""
    if accelerator is None or accelerator.num_processes == 1:
        return
    for p in params:
        if p.grad is not None:
            p.grad.copy_(accelerator.reduce(p.grad, reduction="mean"))


def check_in_sync(accelerator, modules: dict):
    """Raise if the processes' copies of ``modules`` have drifted apart (multi-process runs)."""
    if accelerator.num_processes == 1:
        return
    for name, module in modules.items():
        local = torch.stack([p.detach().double().sum() for p in module.parameters()]).to(accelerator.device)
        gathered = accelerator.gather(local[None])
        if not torch.allclose(gathered, gathered[:1].expand_as(gathered), rtol=1e-5, atol=1e-6):
            raise RuntimeError(f"processes hold different weights for {name!r}: gradient averaging failed")
    logger.info("weights identical on all %d processes", accelerator.num_processes)


def run_steps(task: StepTask, accelerator, num_steps: int, run_dir: str, recipe: dict,
              resume: Optional[str] = None, checkpoint_every: int = 1000, log_every: int = 100,
              stop_at: Optional[int] = None) -> dict:
    """Run ``task`` up to ``num_steps`` steps; ``resume`` is None, ``"latest"`` or a folder.
    ``stop_at`` ends this call early (with a checkpoint) without changing the schedule, as an
    interruption would. Returns the last logged metrics."""
    start = 0
    if resume:
        path = latest_checkpoint(run_dir) if resume == "latest" else resume
        if path is None:
            logger.info("no checkpoint under %s: starting from scratch", run_dir)
        else:
            start = load_training_state(path, task.modules, task.optimizers, task.generators)["step"]
            logger.info("resumed from %s at step %d", path, start)
    main = accelerator.is_main_process
    end = num_steps if stop_at is None else min(stop_at, num_steps)
    bar = tqdm(range(start, end), initial=start, total=num_steps, desc=recipe.get("name", "train"),
               disable=not main)
    metrics: dict = {}
    running: dict = {}
    for step in bar:
        out = task.step(step)
        if not all(math.isfinite(v) for v in out.values()):
            raise NonFiniteLossError(
                f"non-finite metric at step {step + 1}: {out}; training stopped, the last good checkpoint "
                f"under {run_dir}/checkpoints is kept")
        for k, v in out.items():
            running[k] = running.get(k, 0.0) + v
        done = step + 1
        if done % log_every == 0 or done == num_steps:
            n = log_every if done % log_every == 0 else done % log_every
            metrics = {k: v / n for k, v in running.items()}
            running = {}
            bar.set_postfix({k: f"{v:.3g}" for k, v in metrics.items()})
            logger.info("step %d: %s", done, ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
            accelerator.log(metrics, step=done)
        if main and (done % checkpoint_every == 0 or done in (num_steps, end)):
            save_training_state(run_dir, done, task.modules, task.optimizers, task.generators,
                                {"recipe": recipe})
        if done % checkpoint_every == 0:
            accelerator.wait_for_everyone()
    check_in_sync(accelerator, task.modules)
    return metrics


def batch_indices(n_data: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """``batch_size`` random indices into a dataset of size ``n_data`` (with replacement
    across batches, without within one)."""
    return torch.randperm(n_data, generator=generator)[:batch_size]


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image ``(N, 1, 28, 28)`` by up to ``max_shift`` pixels (zero fill)."""
    if max_shift <= 0:
        return x
    n = x.shape[0]
    padded = torch.nn.functional.pad(x, [max_shift] * 4)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(28)[None]).view(n, 1, 28, 1).expand(n, 1, 28, 28 + 2 * max_shift)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(28)[None]).view(n, 1, 1, 28).expand(n, 1, 28, 28)
    return out.gather(3, cols)
