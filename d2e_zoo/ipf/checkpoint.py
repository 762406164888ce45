"""IPF checkpoints: safetensors for every tensor, JSON for everything else. Nothing is pickled.

Layout of a checkpoint folder::

    config.json         {"method": ..., "config": {...}, "state": {...}, "run": {...}}
    state.safetensors   kernels, log Z, optimizer moments, replay buffers, RNG state

Writes go to a temporary folder that replaces the old one only when complete, and the
replaced checkpoint is kept as ``<folder>.prev``: :func:`load_latest_checkpoint` falls back
to it (with a warning) when the newest one is corrupted. ``run`` is the trainer's
``run_info`` (e.g. the recipe that started the run), compared on resume.

This module does not import the trainer (it works on any object with the trainer's
``method``, ``config``, ``state``, ``run_info``, ``state_tensors`` and ``load_state_tensors``).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Optional

from ..checkpointing import (CheckpointError, CheckpointMismatchError, differences, load_first_valid,
                             load_tensors, previous_folder, read_json, save_tensors, staged_folder, write_json)
from .config import ConfigError, IPFConfig
from .train_state import TrainState

if TYPE_CHECKING:  # pragma: no cover
    from .trainer import IPFTrainer

STATE_FILE = "state.safetensors"
CONFIG_FILE = "config.json"

__all__ = ["CheckpointError", "CheckpointMismatchError", "load_checkpoint", "load_latest_checkpoint",
           "read_checkpoint_meta", "save_checkpoint"]


def save_checkpoint(trainer: "IPFTrainer", path: str | os.PathLike):
    """Write ``trainer``'s full state to the folder ``path`` (atomically); the checkpoint it
    replaces is kept as ``<path>.prev``."""
    with staged_folder(path, keep_previous=True) as tmp:
        save_tensors(trainer.state_tensors(), tmp / STATE_FILE)
        write_json(tmp / CONFIG_FILE, {"method": trainer.method, "config": trainer.config.to_dict(),
                                       "state": asdict(trainer.state), "run": getattr(trainer, "run_info", {})})


def read_checkpoint_meta(path: str | os.PathLike) -> dict:
    """The checkpoint's ``config.json``, checked for its required keys."""
    if not os.path.isfile(os.path.join(path, CONFIG_FILE)) or not os.path.isfile(os.path.join(path, STATE_FILE)):
        raise CheckpointError(f"no checkpoint at {str(path)!r}: expected {CONFIG_FILE} and {STATE_FILE}")
    meta = read_json(Path(path) / CONFIG_FILE)
    for key, kind in (("method", str), ("config", dict), ("state", dict)):
        if not isinstance(meta.get(key), kind):
            raise CheckpointError(f"corrupted {CONFIG_FILE} in {str(path)!r}: {key!r} is missing or not a "
                                  f"{kind.__name__}")
    if not isinstance(meta.get("run", {}), dict):
        raise CheckpointError(f"corrupted {CONFIG_FILE} in {str(path)!r}: 'run' is not a dict")
    return meta


def load_checkpoint(trainer: "IPFTrainer", path: str | os.PathLike, force: bool = False,
                    ignore: Iterable[str] = ()) -> "IPFTrainer":
    """Restore ``trainer`` in place from the folder ``path``.

    The checkpoint's method and config (seed and schedule included) and its ``run`` info,
    when saved, must equal the trainer's (keys in ``ignore`` aside), else
    :class:`CheckpointMismatchError` lists the differences; ``force=True`` resumes anyway. Its state must lie within the
    trainer's schedule in any case. Everything is validated before the trainer is touched."""
    meta = read_checkpoint_meta(path)
    where = f"checkpoint {str(path)!r}"
    try:
        saved = IPFConfig.from_dict(meta["config"])
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{where}: invalid config: {e}") from None
    diffs = ([f"method: {meta['method']!r} -> {trainer.method!r}"] if meta["method"] != trainer.method else [])
    diffs += differences(saved.to_dict(), trainer.config.to_dict(), ignore)
    if "run" in meta:  # checkpoints written before run info was saved are compared by config alone
        diffs += differences(meta["run"], getattr(trainer, "run_info", {}), ignore, "run.")
    if diffs and not force:
        raise CheckpointMismatchError(f"{where} was written by a different method or config ("
                                      + "; ".join(diffs) + "); pass force=True (--force) to resume it anyway")
    state = TrainState.from_dict(meta["state"], trainer.config.ipf_iterations, where)
    tensors = load_tensors(Path(path) / STATE_FILE)
    try:
        trainer.load_state_tensors(tensors)
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"{where} does not fit this trainer's networks: {e}") from None
    trainer.state = state
    return trainer


def load_latest_checkpoint(trainer: "IPFTrainer", path: str | os.PathLike, force: bool = False,
                           ignore: Iterable[str] = ()) -> Optional[Path]:
    """Restore from ``path``, or from ``<path>.prev`` with a warning when ``path`` is missing
    or corrupted. Returns the folder used, or None when neither exists."""
    candidates = [p for p in (Path(path), previous_folder(path)) if p.exists()]
    used, _ = load_first_valid(candidates, lambda p: load_checkpoint(trainer, p, force, ignore), "IPF checkpoint")
    return used
