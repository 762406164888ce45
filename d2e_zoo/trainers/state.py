"""Training checkpoints for the zoo's step-based trainers: safetensors + JSON, no pickle.

A checkpoint is a folder ``<run>/checkpoints/step-00001234/`` holding
``state.safetensors`` (model weights ``model.<name>.*``, Adam moments ``optim.<name>.*``,
RNG states ``rng.*``) and ``meta.json`` (step counter and the recipe). The newest two are
kept; :func:`resume_training_state` falls back from a corrupted newest one to the one before
(with a warning) and refuses a checkpoint of another run (seed, step count or recipe) unless
forced. File handling is :mod:`d2e_zoo.checkpointing`'s (this module does not import the
IPF engine).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Optional

import torch

from ..checkpointing import (CheckpointError, CheckpointMismatchError, differences, flatten_optimizer,
                             load_first_valid, load_tensors, read_json, require_count, save_tensors, staged_folder,
                             unflatten_optimizer, write_json)

logger = logging.getLogger(__name__)

STEP_DIR = re.compile(r"^step-(\d+)$")
STATE_FILE, META_FILE = "state.safetensors", "meta.json"
# recipe keys that only steer one run (logging, time cap, threads): they may change on resume
RUN_ONLY_KEYS = ("max_seconds", "threads", "log_every", "checkpoint_every", "recipe_file")
BRIDGE_CHECKPOINT = "checkpoint"  # a bridge run's IPF checkpoint folder (``checkpoint.prev``: the one before)


def checkpoint_root(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / "checkpoints"


def step_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """The checkpoint folders under ``run_dir``, newest (highest step) first."""
    root = checkpoint_root(run_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := STEP_DIR.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found, reverse=True)]


def latest_checkpoint(run_dir: str | os.PathLike) -> Optional[Path]:
    """The checkpoint with the highest step under ``run_dir``, or None."""
    found = step_checkpoints(run_dir)
    return found[0] if found else None


def recipe_as_dict(recipe) -> dict:
    """A recipe (dict or dataclass) as a plain JSON-ready dict."""
    if hasattr(recipe, "to_dict"):
        return recipe.to_dict()
    if dataclasses.is_dataclass(recipe):
        return dataclasses.asdict(recipe)
    return dict(recipe)


def save_training_state(run_dir, step: int, modules: dict, optimizers: dict, generators: dict, meta: dict,
                        keep: int = 2) -> Path:
    """Write a checkpoint for ``step`` (atomically) and keep only the newest ``keep``."""
    root = checkpoint_root(run_dir)
    final = root / f"step-{step:08d}"
    with staged_folder(final) as tmp:
        tensors = {}
        for name, module in modules.items():
            tensors.update({f"model.{name}.{k}": v for k, v in module.state_dict().items()})
        for name, opt in optimizers.items():
            tensors.update(flatten_optimizer(f"optim.{name}", opt))
        for name, gen in generators.items():
            tensors[f"rng.{name}"] = gen.get_state()
        tensors["rng.torch"] = torch.get_rng_state()
        save_tensors(tensors, tmp / STATE_FILE)
        write_json(tmp / META_FILE, {**meta, "step": step})
    for old in step_checkpoints(run_dir)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_training_meta(path, num_steps: Optional[int] = None) -> dict:
    """The validated ``meta.json`` of a checkpoint: ``step`` must be a count within the
    schedule's ``num_steps``; ``recipe``, when present, an object."""
    path = Path(path)
    if not (path / STATE_FILE).is_file() or not (path / META_FILE).is_file():
        raise CheckpointError(f"no training checkpoint at {str(path)!r}: expected {STATE_FILE} and {META_FILE}")
    meta = read_json(path / META_FILE)
    require_count(meta, "step", f"{META_FILE} in {str(path)!r}", num_steps, "the schedule's step count")
    if "recipe" in meta and not isinstance(meta["recipe"], dict):
        raise CheckpointError(f"corrupted {META_FILE} in {str(path)!r}: 'recipe' is not an object")
    return meta


def check_same_run(meta: dict, recipe, path, force: bool = False):
    """Refuse (:class:`CheckpointMismatchError`) a checkpoint whose recipe differs from
    ``recipe`` (seed, step count or anything else but :data:`RUN_ONLY_KEYS`) unless ``force``."""
    if recipe is None or "recipe" not in meta:
        return
    diffs = differences(meta["recipe"], recipe_as_dict(recipe), RUN_ONLY_KEYS)
    if not diffs:
        return
    text = "; ".join(diffs)
    if not force:
        raise CheckpointMismatchError(f"the checkpoint {str(path)!r} belongs to another run ({text}); resume with "
                                      "the same seed, step count and recipe, or pass --force to resume it anyway")
    logger.warning("resuming %s although its run differs (%s): forced", path, text)


def check_resume_matches(run_dir, resume: Optional[str], recipe, force: bool = False):
    """Fail fast, before any data is loaded: the checkpoint ``resume`` would start from (the
    newest one with a readable ``meta.json`` for ``"latest"``) must come from the same run
    (:func:`check_same_run`). Corrupted checkpoints are left to :func:`resume_training_state`."""
    if not resume or force:
        return
    for path in step_checkpoints(run_dir) if resume == "latest" else [Path(resume)]:
        try:
            meta = read_training_meta(path)
        except CheckpointError:
            continue
        check_same_run(meta, recipe, path)
        return


def load_training_state(path, modules: dict, optimizers: dict, generators: dict, num_steps: Optional[int] = None,
                        recipe=None, force: bool = False) -> dict:
    """Restore a checkpoint written by :func:`save_training_state`; returns its meta.
    Everything is read and validated before any module is touched."""
    path = Path(path)
    meta = read_training_meta(path, num_steps)
    check_same_run(meta, recipe, path, force)
    tensors = load_tensors(path / STATE_FILE)
    needed = [f"rng.{name}" for name in generators] + ["rng.torch"]
    missing = [k for k in needed if k not in tensors]
    if missing:
        raise CheckpointError(f"corrupted training checkpoint at {str(path)!r}: no {', '.join(missing)}")
    try:
        for name, module in modules.items():
            prefix = f"model.{name}."
            module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        for name, opt in optimizers.items():
            prefix = f"optim.{name}."
            unflatten_optimizer(opt, {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        for name, gen in generators.items():
            gen.set_state(tensors[f"rng.{name}"])
        torch.set_rng_state(tensors["rng.torch"])
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"the training checkpoint at {str(path)!r} does not fit these models: {e}") from None
    return meta


def resume_training_state(run_dir, resume: str, modules: dict, optimizers: dict, generators: dict,
                          num_steps: int, recipe=None, force: bool = False) -> tuple[Optional[Path], int]:
    """Restore ``resume`` (a checkpoint folder, or ``"latest"``: the newest usable one under
    ``run_dir``, falling back past corrupted ones with a warning). Returns ``(path, step)``;
    ``(None, 0)`` when ``"latest"`` finds no checkpoint."""
    def load(path):
        return load_training_state(path, modules, optimizers, generators, num_steps, recipe, force)

    if resume == "latest":
        path, meta = load_first_valid(step_checkpoints(run_dir), load, "training checkpoint")
        if path is None:
            return None, 0
    else:
        path, meta = Path(resume), load(resume)
    return path, meta["step"]
