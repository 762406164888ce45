"""Checkpoints: safetensors for every tensor, JSON for everything else. Nothing is pickled.

Layout of a checkpoint folder::

    config.json         {"method": ..., "config": {...}, "state": {...}, "optimizers": {...}}
    state.safetensors   kernels, log Z, optimizer moments, replay buffers, RNG state

Writes go to a temporary folder that replaces the old one only when complete, so an
interrupted save never destroys the last good checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict

import torch
from safetensors.torch import load_file, save_file

from .config import IPFConfig
from .trainer import IPFTrainer, StepRecord, TrainState

STATE_FILE = "state.safetensors"
CONFIG_FILE = "config.json"


class CheckpointError(ValueError):
    """A missing, corrupted or mismatched checkpoint."""


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


def save_checkpoint(trainer: IPFTrainer, path: str):
    """Write ``trainer``'s full state to the folder ``path`` (atomically)."""
    tmp = f"{path}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    tensors = {k: v.contiguous() for k, v in trainer.state_tensors().items()}
    save_file(tensors, os.path.join(tmp, STATE_FILE))
    state = asdict(trainer.state)
    meta = {"method": trainer.method, "config": trainer.config.to_dict(), "state": state}
    with open(os.path.join(tmp, CONFIG_FILE), "w") as f:
        json.dump(meta, f, indent=2)
    old = f"{path}.old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(path):
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def read_checkpoint_meta(path: str) -> dict:
    cfg = os.path.join(path, CONFIG_FILE)
    if not os.path.isfile(cfg) or not os.path.isfile(os.path.join(path, STATE_FILE)):
        raise CheckpointError(f"no checkpoint at {path!r}: expected {CONFIG_FILE} and {STATE_FILE}")
    try:
        with open(cfg) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"corrupted {CONFIG_FILE} in {path!r}: {e}") from None


def load_checkpoint(trainer: IPFTrainer, path: str) -> IPFTrainer:
    """Restore ``trainer`` in place from the folder ``path``; the config must match."""
    meta = read_checkpoint_meta(path)
    if meta["method"] != trainer.method or IPFConfig.from_dict(meta["config"]) != trainer.config:
        raise CheckpointError(f"checkpoint at {path!r} was written by a different method or config")
    try:
        tensors = load_file(os.path.join(path, STATE_FILE))
    except Exception as e:  # safetensors raises several types for bad files
        raise CheckpointError(f"corrupted {STATE_FILE} in {path!r}: {e}") from None
    trainer.load_state_tensors(tensors)
    state = meta["state"]
    state["history"] = [StepRecord(**r) for r in state["history"]]
    trainer.state = TrainState(**state)
    return trainer
