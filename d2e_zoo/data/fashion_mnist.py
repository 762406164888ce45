"""Fashion-MNIST (Zalando), read from its IDX files with gzip + numpy (no pickles, no network).

Where the files are looked for (the first folder holding both files of the split wins):

1. ``root``, when given: only there (an explicit folder is never silently replaced);
2. ``$D2E_ZOO_FASHION_DATA``;
3. ``/usr/share/datasets/fashion-mnist`` (Debian/Ubuntu: ``apt-get install dataset-fashion-mnist``);
4. torchvision's raw folder ``$D2E_ZOO_DATA/FashionMNIST/raw`` (default data root
   ``~/.cache/d2e_zoo``, as for MNIST).

Each file may be gzipped (``t10k-images-idx3-ubyte.gz``) or not (``t10k-images-idx3-ubyte``,
as torchvision leaves it after extraction). Images are float tensors ``(N, 1, 28, 28)`` in
``[0, 1]``; labels ``(N,)`` int64 in 0..9 (:data:`FASHION_CLASS_NAMES`).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from ..domains import FASHION
from .mnist import SPLITS, default_root

__all__ = ["FASHION_CLASS_NAMES", "FashionMNISTNotFoundError", "IDXFormatError", "fashion_mnist_files",
           "load_fashion_mnist", "read_idx"]

FASHION_CLASS_NAMES = FASHION.class_names  # the official label order, owned by the domain
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "D2E_ZOO_FASHION_DATA"
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049  # unsigned bytes, 3 dims / 1 dim
INSTALL_HINT = ("install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or download it with "
                "torchvision.datasets.FashionMNIST(root=$D2E_ZOO_DATA, download=True), or set "
                f"${ENV_VAR} to a folder holding the IDX files")


class FashionMNISTNotFoundError(FileNotFoundError):
    """No folder searched holds the Fashion-MNIST files of the requested split."""


class IDXFormatError(ValueError):
    """A file is not a well-formed IDX file of the expected kind."""


def read_idx(path, expected_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (gzipped when its name ends in ``.gz``) into a ``uint8`` array.

    Only unsigned-byte IDX data (type code 0x08) is supported; raises :class:`IDXFormatError`
    on a wrong magic number, an unexpected one (``expected_magic``) or a truncated file.
    """
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise IDXFormatError(f"{path}: cannot read ({type(e).__name__}: {e})") from None
    if len(raw) < 4:
        raise IDXFormatError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    zeros, dtype_code, ndim = raw[0:2], raw[2], raw[3]
    if zeros != b"\x00\x00" or dtype_code != 0x08 or ndim == 0:
        raise IDXFormatError(f"{path}: bad IDX magic number {magic} (0x{magic:08x}); expected an unsigned-byte "
                             f"IDX file such as {IMAGES_MAGIC} (images) or {LABELS_MAGIC} (labels)")
    if expected_magic is not None and magic != expected_magic:
        raise IDXFormatError(f"{path}: IDX magic number {magic}, expected {expected_magic} "
                             f"({'images' if expected_magic == IMAGES_MAGIC else 'labels'})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXFormatError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise IDXFormatError(f"{path}: header says shape {shape} ({size} bytes of data), "
                             f"file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _candidates(root) -> list[Path]:
    if root is not None:
        return [Path(root)]
    dirs = []
    if os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]))
    dirs += [SYSTEM_DIR, default_root() / "FashionMNIST" / "raw"]
    return dirs


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def fashion_mnist_files(split: str = "test", root=None) -> tuple[Path, Path]:
    """``(images_file, labels_file)`` of a split: the first folder searched (module
    docstring) holding both; raises :class:`FashionMNISTNotFoundError` naming every folder."""
    if split not in SPLITS:
        raise ValueError(f"unknown Fashion-MNIST split {split!r}; valid splits: {', '.join(SPLITS)}")
    tried = _candidates(root)
    for folder in tried:
        found = [_find(folder, name) for name in FILES[split]]
        if all(found):
            return found[0], found[1]
    names = " and ".join(f"{n}[.gz]" for n in FILES[split])
    raise FashionMNISTNotFoundError(f"Fashion-MNIST {split} files ({names}) not found; looked in: "
                                    f"{', '.join(str(d) for d in tried)}. To get them, {INSTALL_HINT}")


def load_fashion_mnist(split: str = "test", root=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a split of Fashion-MNIST (60,000 train / 10,000 test in the standard release).

    Returns:
        ``(images, labels)``: float32 ``(N, 1, 28, 28)`` in [0, 1] and int64 ``(N,)``.
    """
    images_file, labels_file = fashion_mnist_files(split, root)
    images = read_idx(images_file, IMAGES_MAGIC)
    labels = read_idx(labels_file, LABELS_MAGIC)
    if images.shape[1:] != (28, 28):
        raise IDXFormatError(f"{images_file}: images must be 28x28, got {images.shape[1:]}")
    if len(images) != len(labels):
        raise IDXFormatError(f"{images_file} holds {len(images)} images but {labels_file} {len(labels)} labels")
    if labels.size and labels.max() >= len(FASHION_CLASS_NAMES):
        raise IDXFormatError(f"{labels_file}: label {int(labels.max())} outside 0..{len(FASHION_CLASS_NAMES) - 1}")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))
