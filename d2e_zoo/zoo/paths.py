"""Where the package keeps its bundled snapshots."""

from pathlib import Path


def bundled_dir() -> Path:
    """``d2e_zoo/zoo/bundled``: one folder per zoo entry, in Hugging Face Hub layout."""
    return Path(__file__).resolve().parent / "bundled"
