"""The zoo's step-based trainers (classifier, judge, GAN, VAE) on the package's one loop.

A *task* owns its models, optimizers and data; :func:`run_steps` resumes it from a
checkpoint and drives it with :func:`d2e_zoo.step_loop.run_loop` (progress bar, metrics to
``logging`` and to Accelerate trackers, periodic safetensors checkpoints, and a hard stop on a
non-finite loss that keeps the last good checkpoint on disk).

With several processes each process draws its own batches (seeded by rank) and gradients
are averaged across processes by :func:`average_gradients` before every optimizer step.
"""

from __future__ import annotations

import logging
from typing import Iterable, Optional, Protocol

import torch

from ..step_loop import NonFiniteLossError, run_loop
from .state import recipe_as_dict, resume_training_state, save_training_state

logger = logging.getLogger(__name__)

__all__ = ["NonFiniteLossError", "StepTask", "average_gradients", "batch_indices", "check_in_sync",
           "random_shift", "run_steps"]


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
              stop_at: Optional[int] = None, force: bool = False) -> dict:
    """Run ``task`` up to ``num_steps`` steps; ``resume`` is None, ``"latest"`` or a folder
    (a checkpoint of another seed, step count or recipe is refused unless ``force``).
    ``stop_at`` ends this call early (with a checkpoint) without changing the schedule, as an
    interruption would. Returns the last logged metrics."""
    start = 0
    if resume:
        path, start = resume_training_state(run_dir, resume, task.modules, task.optimizers, task.generators,
                                            num_steps, recipe, force)
        if path is None:
            logger.info("no checkpoint under %s: starting from scratch", run_dir)
        else:
            logger.info("resumed from %s at step %d", path, start)
    main = accelerator.is_main_process
    meta = {"recipe": recipe_as_dict(recipe)}
    end = num_steps if stop_at is None else min(stop_at, num_steps)
    metrics: dict = {}

    def log(done: int, means: dict):
        metrics.clear()
        metrics.update(means)
        logger.info("step %d: %s", done, ", ".join(f"{k}={v:.4g}" for k, v in means.items()))
        accelerator.log(means, step=done)

    def checkpoint(done: int):
        if main:
            save_training_state(run_dir, done, task.modules, task.optimizers, task.generators, meta)
        if done % checkpoint_every == 0:
            accelerator.wait_for_everyone()

    run_loop(task.step, start, end, total=num_steps, desc=recipe.get("name", "train"), progress=main,
             log_every=log_every, on_log=log, checkpoint_every=checkpoint_every, on_checkpoint=checkpoint,
             recovery=f"the last good checkpoint under {run_dir}/checkpoints is kept")
    check_in_sync(accelerator, task.modules)
    return metrics


def batch_indices(n_data: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """``batch_size`` random indices into a dataset of size ``n_data`` (with replacement
    across batches, without within one)."""
    return torch.randperm(n_data, generator=generator)[:batch_size]


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image of ``x`` ``(N, C, H, W)`` by its own random offset in
    ``[-max_shift, max_shift]`` pixels along each axis, filling with zeros. The offsets are drawn
    with ``generator`` (on the CPU) and applied on ``x``'s device; differentiable in ``x``."""
    if max_shift <= 0:
        return x
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, [max_shift] * 4)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator).to(x.device)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None]).view(n, 1, h, 1).expand(n, c, h, w + 2 * max_shift)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None]).view(n, 1, 1, w).expand(n, c, h, w)
    return out.gather(3, cols)
