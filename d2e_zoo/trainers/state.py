"""Training checkpoints for the zoo's step-based trainers: safetensors + JSON, no pickle.

A checkpoint is a folder ``<run>/checkpoints/step-00001234/`` holding
``state.safetensors`` (model weights ``model.<name>.*``, Adam moments ``optim.<name>.*``,
RNG states ``rng.*``) and ``meta.json`` (step counter and the recipe).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Optional

import torch
from safetensors.torch import load_file, save_file

from ..ipf.checkpoint import CheckpointError, flatten_optimizer, unflatten_optimizer

STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_root(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / "checkpoints"


def latest_checkpoint(run_dir: str | os.PathLike) -> Optional[Path]:
    """The checkpoint with the highest step under ``run_dir``, or None."""
    root = checkpoint_root(run_dir)
    if not root.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := STEP_DIR.match(p.name)) and p.is_dir()]
    return max(found)[1] if found else None


def save_training_state(run_dir, step: int, modules: dict, optimizers: dict, generators: dict, meta: dict,
                        keep: int = 2) -> Path:
    """Write a checkpoint for ``step`` (atomically) and keep only the newest ``keep``."""
    root = checkpoint_root(run_dir)
    final = root / f"step-{step:08d}"
    tmp = root / f".tmp-step-{step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tensors = {}
    for name, module in modules.items():
        tensors.update({f"model.{name}.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()})
    for name, opt in optimizers.items():
        tensors.update({k: v.cpu().contiguous() for k, v in flatten_optimizer(f"optim.{name}", opt).items()})
    for name, gen in generators.items():
        tensors[f"rng.{name}"] = gen.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(tmp / "state.safetensors"))
    (tmp / "meta.json").write_text(json.dumps({**meta, "step": step}, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    steps = sorted(int(m.group(1)) for p in root.iterdir() if (m := STEP_DIR.match(p.name)))
    for old in steps[:-keep]:
        shutil.rmtree(root / f"step-{old:08d}", ignore_errors=True)
    return final


def load_training_state(path, modules: dict, optimizers: dict, generators: dict) -> dict:
    """Restore a checkpoint written by :func:`save_training_state`; returns its meta."""
    path = Path(path)
    st, meta_file = path / "state.safetensors", path / "meta.json"
    if not st.is_file() or not meta_file.is_file():
        raise CheckpointError(f"no training checkpoint at {str(path)!r}: expected state.safetensors and meta.json")
    try:
        tensors = load_file(str(st))
        meta = json.loads(meta_file.read_text())
    except Exception as e:  # safetensors raises several types on corrupted files
        raise CheckpointError(f"corrupted training checkpoint at {str(path)!r}: {e}") from None
    for name, module in modules.items():
        prefix = f"model.{name}."
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    for name, opt in optimizers.items():
        prefix = f"optim.{name}."
        unflatten_optimizer(opt, {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    for name, gen in generators.items():
        gen.set_state(tensors[f"rng.{name}"])
    torch.set_rng_state(tensors["rng.torch"])
    return meta
