"""Checkpoint files, shared by every trainer: safetensors for tensors, JSON for the rest.

Nothing is pickled. A checkpoint is a folder written under a temporary name and renamed into
place only when complete (:func:`staged_folder`), so an interrupted save never destroys the
last good checkpoint; the replaced folder can be kept as ``<folder>.prev``. Readers raise
:class:`CheckpointError` (never a raw ``KeyError`` or a safetensors exception) and
:func:`load_first_valid` falls back from a corrupted checkpoint to an older one with a warning.

This module imports neither the IPF engine nor the zoo's step trainers: both build on it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, TypeVar

import torch
from safetensors.torch import load_file, save_file

logger = logging.getLogger(__name__)

T = TypeVar("T")
PathLike = str | os.PathLike


class CheckpointError(ValueError):
    """A missing, corrupted or mismatched checkpoint."""


class CheckpointMismatchError(CheckpointError):
    """A readable checkpoint that belongs to another run (seed, schedule, recipe or config)."""


# ------------------------------------------------------------------ optimizers --
def flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer) -> dict:
    """Optimizer moments as ``{f"{prefix}.{param_index}.{field}": tensor}``."""
    out = {}
    for idx, st in optimizer.state_dict()["state"].items():
        for name, value in st.items():
            out[f"{prefix}.{idx}.{name}"] = torch.as_tensor(value).clone()
    return out


def unflatten_optimizer(optimizer: torch.optim.Optimizer, flat: dict):
    """Inverse of :func:`flatten_optimizer` (param groups are kept as configured)."""
    state: dict = {}
    for key, value in flat.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    sd = optimizer.state_dict()
    sd["state"] = state
    optimizer.load_state_dict(sd)


# ----------------------------------------------------------------------- files --
def save_tensors(tensors: dict, path: PathLike):
    """Write ``{name: tensor}`` to a safetensors file (moved to the CPU, made contiguous)."""
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path))


def load_tensors(path: PathLike) -> dict:
    """Read a safetensors file; :class:`CheckpointError` when it is missing or corrupted."""
    if not os.path.isfile(path):
        raise CheckpointError(f"missing {os.path.basename(path)} in {str(Path(path).parent)!r}")
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises several types for bad files
        raise CheckpointError(f"corrupted {os.path.basename(path)} in {str(Path(path).parent)!r}: {e}") from None


def write_json(path: PathLike, obj: dict):
    Path(path).write_text(json.dumps(obj, indent=2))


def read_json(path: PathLike) -> dict:
    """Read a JSON object; :class:`CheckpointError` when missing, corrupted or not an object."""
    name, folder = os.path.basename(path), str(Path(path).parent)
    if not os.path.isfile(path):
        raise CheckpointError(f"missing {name} in {folder!r}")
    try:
        obj = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"corrupted {name} in {folder!r}: {e}") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"corrupted {name} in {folder!r}: expected a JSON object, got {type(obj).__name__}")
    return obj


def require_count(meta: dict, key: str, where: str, maximum: Optional[int] = None,
                  schedule: str = "the schedule") -> int:
    """``meta[key]`` as a count in ``[0, maximum]``, else a :class:`CheckpointError` naming it."""
    if key not in meta:
        raise CheckpointError(f"{where} has no {key!r}: the checkpoint is incomplete or corrupted")
    value = meta[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CheckpointError(f"{where}: {key!r} must be a count >= 0, got {value!r}")
    if maximum is not None and value > maximum:
        raise CheckpointError(f"{where}: {key} {value} is beyond {schedule} ({maximum}); it belongs to "
                              "another run or is corrupted")
    return value


def require_seconds(meta: dict, key: str, where: str) -> float:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise CheckpointError(f"{where}: {key!r} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def differences(saved: dict, current: dict, ignore: Iterable[str] = (), prefix: str = "") -> list[str]:
    """Human-readable ``key: saved -> current`` lines for two nested dicts (keys in
    ``ignore`` are skipped at any depth)."""
    ignore = set(ignore)
    out = []
    for key in sorted(set(saved) | set(current), key=str):
        if key in ignore:
            continue
        a, b = saved.get(key, "<unset>"), current.get(key, "<unset>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, ignore, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


# --------------------------------------------------------------------- folders --
def previous_folder(path: PathLike) -> Path:
    """Where :func:`staged_folder` keeps the checkpoint it replaced."""
    path = Path(path)
    return path.with_name(path.name + ".prev")


@contextmanager
def staged_folder(path: PathLike, keep_previous: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder; when the block ends without an error it replaces
    ``path`` (renames only). With ``keep_previous`` the replaced folder becomes
    ``<path>.prev`` (older ``.prev`` deleted), else it is deleted."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = previous_folder(path) if keep_previous else path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    if not keep_previous:
        shutil.rmtree(old, ignore_errors=True)


def load_first_valid(candidates: Iterable[Path], load: Callable[[Path], T], what: str = "checkpoint"
                     ) -> tuple[Optional[Path], Optional[T]]:
    """``(path, load(path))`` for the first candidate (newest first) that loads.

    A corrupted candidate (:class:`CheckpointError`) is skipped with a warning naming it; a
    :class:`CheckpointMismatchError` (another run's checkpoint) is raised at once. ``(None,
    None)`` when there are no candidates; a :class:`CheckpointError` listing every failure
    when none loads."""
    failures = []
    for path in candidates:
        try:
            result = load(path)
        except CheckpointMismatchError:
            raise
        except CheckpointError as e:
            failures.append(f"{path}: {e}")
            logger.warning("skipping unusable %s %s (%s); trying the previous one", what, path, e)
            continue
        if failures:
            logger.warning("resumed from the older %s %s because the newer one is unusable", what, path)
        return path, result
    if failures:
        raise CheckpointError(f"no usable {what}: " + "; ".join(failures))
    return None, None
