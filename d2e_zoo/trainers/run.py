"""Run a recipe end to end: check the run folder, train (resumable) and export into
``<run>/export``; copy an export into the package's bundled zoo only when asked.

Before the first step the run folder is checked to be writable and locked (``.lock``) for
the run, and a fresh run refuses a folder that already holds another run's checkpoints
unless forced (``--force`` deletes them and starts over).
"""

from __future__ import annotations

import logging
import shutil
from contextlib import nullcontext
from pathlib import Path

from ..checkpointing import previous_folder, staged_folder
from ..run_folder import RunFolderError, RunLock, check_writable
from .build import build_step_task
from .loop import run_steps
from .recipe import Recipe, as_recipe
from .state import BRIDGE_CHECKPOINT, check_resume_matches, checkpoint_root, step_checkpoints

logger = logging.getLogger(__name__)


def existing_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoints of any kind in ``run_dir`` (step checkpoints, or a bridge's IPF folders)."""
    ipf = [p for p in (run_dir / BRIDGE_CHECKPOINT, previous_folder(run_dir / BRIDGE_CHECKPOINT)) if p.exists()]
    return step_checkpoints(run_dir) + ipf


def prepare_run_folder(run_dir: Path, resume, force: bool = False):
    """A fresh run (no ``resume``) must not mix its checkpoints with an earlier run's: refuse
    a folder holding some, unless ``force``, which deletes them."""
    found = existing_checkpoints(run_dir)
    if resume or not found:
        return
    names = ", ".join(p.name for p in found)
    if not force:
        raise RunFolderError(f"the run folder {str(run_dir)!r} already holds checkpoints of an earlier run ({names}): "
                             "pass --resume_from_checkpoint latest to continue it, choose another --output_dir, or "
                             "pass --force to delete them and start over")
    logger.warning("deleting the earlier run's checkpoints in %s (%s): --force", run_dir, names)
    for p in found:
        shutil.rmtree(p, ignore_errors=True)
    shutil.rmtree(checkpoint_root(run_dir), ignore_errors=True)


def run_recipe(recipe: Recipe | dict, accelerator, run_dir, resume=None, stop_at_step=None,
               force: bool = False) -> dict:
    """Train what ``recipe`` describes on ``accelerator``; the main process exports the
    result to ``run_dir/export`` and the function returns its metrics. ``stop_at_step``
    interrupts step-based training early (checkpointed, nothing exported). ``force``
    resumes a checkpoint of another seed, step count or recipe, or starts over in a folder
    holding an earlier run's checkpoints."""
    run_dir = check_writable(run_dir)
    recipe = as_recipe(recipe)
    main = accelerator.is_main_process
    with RunLock(run_dir) if main else nullcontext():
        if main:
            prepare_run_folder(run_dir, resume, force)
        accelerator.wait_for_everyone()
        if recipe.kind == "bridge":
            from .bridge import run_bridge_recipe

            return run_bridge_recipe(recipe, accelerator, run_dir, resume, force=force)
        check_resume_matches(run_dir, resume, recipe, force)  # before the data are loaded
        task, export, num_steps = build_step_task(recipe, accelerator)
        metrics = run_steps(task, accelerator, num_steps, str(run_dir), recipe.to_dict(), resume=resume,
                            checkpoint_every=recipe.train.checkpoint_every, log_every=recipe.train.log_every,
                            stop_at=stop_at_step, force=force)
        accelerator.wait_for_everyone()
        if stop_at_step is not None and stop_at_step < num_steps:
            return metrics
        if main:
            metrics = {**metrics, **export(run_dir / "export")}
        return metrics


def check_bundle_target(dest: Path, force: bool = False) -> Path:
    """Before training: ``dest`` (a bundled-zoo folder) may be written, and is only replaced
    with ``force``."""
    if dest.exists() and not force:
        raise RunFolderError(f"the bundled model folder {str(dest)!r} already exists and the package ships it; "
                             "pass --force together with --bundle to overwrite it (by default results stay in "
                             "the run folder, runs/<name>)")
    check_writable(dest.parent)
    return dest


def bundle_export(export: Path, dest: Path, force: bool = False):
    """Copy ``export`` into ``dest`` (replacing it only with ``force``); the old folder is
    swapped out only once the copy is complete (:func:`~d2e_zoo.checkpointing.staged_folder`)."""
    check_bundle_target(dest, force)
    with staged_folder(dest) as tmp:
        shutil.copytree(export, tmp, dirs_exist_ok=True)
    logger.info("bundled %s into %s", export, dest)
