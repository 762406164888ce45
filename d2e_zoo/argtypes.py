"""Argument types for the command lines (training, benchmarks, ``python -m d2e_zoo.samplers``).

Each type checks one value when argparse reads it, so a bad value stops the command before
any work, with an argparse error (exit code 2) that names the flag:

    p.add_argument("--seconds", type=positive_float)        # finite and > 0 ("nan" is refused)
    p.add_argument("--threads", type=positive_int)
    p.add_argument("--save-samples", type=output_file(".npz"))  # its folder exists and is writable
    p.add_argument("--bridges", type=zoo_name("bridge"), nargs="+")
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Callable, Iterable, Optional

__all__ = ["HelpFormatter", "positive_int", "non_negative_int", "positive_float", "non_negative_float", "output_file",
           "existing_folder", "one_of", "zoo_name", "image_suffixes", "plot_suffixes"]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` for every command: the description as written (its examples keep their lines)
    and each option's default appended as ``(default: ...)``, unless its help already says what
    the default is, or there is none to show (``None``, a flag that is off)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (not action.option_strings or "default" in text or action.default is None
                or action.default is False or action.default is argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (counts, steps, threads)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (refuses ``nan`` and ``inf``)."""
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def output_file(*suffixes: str, stdout: bool = False,
                suffixes_from: Optional[Callable[[], tuple]] = None) -> Callable[[str], str]:
    """A type for a file the command will write: not a folder, its folder exists and is
    writable (and the file, if it exists, too); with ``suffixes`` (or ``suffixes_from()``,
    asked only when a value is given), its name ends in one of them (case-insensitive). With
    ``stdout``, ``"-"`` is accepted (standard output). Nothing is created."""

    def check(text: str) -> str:
        if stdout and text == "-":
            return text
        path = Path(text).expanduser()
        if not text or path.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file name" if text else "empty file name")
        allowed = tuple(x.lower() for x in (suffixes_from() if suffixes_from else suffixes))
        if allowed and not path.name.lower().endswith(allowed):
            listed = " or ".join(allowed) if len(allowed) <= 3 else "one of " + ", ".join(allowed)
            raise argparse.ArgumentTypeError(f"{text!r} must end in {listed}")
        folder = path.parent
        if not folder.is_dir():
            raise argparse.ArgumentTypeError(f"the folder {str(folder)!r} of {text!r} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise argparse.ArgumentTypeError(f"{text!r} is not writable")
        return text

    check.__name__ = "output file"
    return check


def existing_folder(text: str) -> str:
    """A folder that exists."""
    if not Path(text).expanduser().is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not an existing folder")
    return text


def one_of(valid: Iterable[str], what: str) -> Callable[[str], str]:
    """A type accepting only the names in ``valid``; the error lists them (shorter than argparse's
    ``choices``, which also repeats them in the usage line)."""
    valid = tuple(valid)

    def check(text: str) -> str:
        if text not in valid:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; valid {what}s: {', '.join(valid)}")
        return text

    check.__name__ = what
    return check


def zoo_name(kind: Optional[str] = None) -> Callable[[str], str]:
    """A zoo entry's name (of ``kind``: ``"bridge"``, ``"generator"``, ...), checked against the
    registry without loading anything."""
    from .zoo.registry import list_models

    return one_of(list_models(kind=kind), f"zoo {kind}" if kind else "zoo model")


def image_suffixes() -> tuple:
    """File suffixes Pillow can write (``.png``, ``.jpg``, ...)."""
    from PIL import Image

    Image.init()
    return tuple(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE)


def plot_suffixes() -> tuple:
    """File suffixes matplotlib can save figures as (``.png``, ``.pdf``, ``.svg``, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return tuple(f".{ext}" for ext in FigureCanvasBase.get_supported_filetypes())
