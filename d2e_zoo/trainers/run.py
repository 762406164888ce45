"""Run a recipe end to end: train (resumable) and export into ``<run>/export``."""

from __future__ import annotations

from pathlib import Path

from .build import build_step_task
from .loop import run_steps
from .recipe import Recipe, as_recipe


def run_recipe(recipe: Recipe | dict, accelerator, run_dir, resume=None, stop_at_step=None) -> dict:
    """Train what ``recipe`` describes on ``accelerator``; the main process exports the
    result to ``run_dir/export`` and the function returns its metrics. ``stop_at_step``
    interrupts step-based training early (checkpointed, nothing exported)."""
    run_dir = Path(run_dir)
    recipe = as_recipe(recipe)
    if recipe.kind == "bridge":
        from .bridge import run_bridge_recipe

        return run_bridge_recipe(recipe, accelerator, run_dir, resume)
    task, export, num_steps = build_step_task(recipe, accelerator)
    metrics = run_steps(task, accelerator, num_steps, str(run_dir), recipe.to_dict(), resume=resume,
                        checkpoint_every=recipe.train.checkpoint_every, log_every=recipe.train.log_every,
                        stop_at=stop_at_step)
    accelerator.wait_for_everyone()
    if stop_at_step is not None and stop_at_step < num_steps:
        return metrics
    if accelerator.is_main_process:
        metrics = {**metrics, **export(run_dir / "export")}
    return metrics
