"""The app's temporary files: one folder per process, removed at exit (also on SIGTERM, see
``app.py``), and a size bound on the files in it.

``process_folder("gifs")`` is where the animations go; ``app.py`` points Gradio's cache
(``GRADIO_TEMP_DIR``: its copies of every picture it serves, and uploads) at
``process_folder("gradio")``, and :func:`start_sweeper` keeps that under a size bound,
deleting the oldest files first (only files older than ``min_age_s``: the browser fetches a
picture within a second of its event).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

logger = logging.getLogger(__name__)

CACHE_BYTES = 200 * 2**20  # Gradio's cache is trimmed to this
SWEEP_EVERY_S = 30.0
MIN_AGE_S = 60.0

_root: Optional[Path] = None
_lock = threading.Lock()


def _remove_root() -> None:
    if _root is not None:
        shutil.rmtree(_root, ignore_errors=True)


def process_folder(name: str) -> Path:
    """``<temporary folder of this process>/<name>``, created on first use; the whole
    temporary folder is removed when the process exits."""
    global _root
    with _lock:
        if _root is None:
            _root = Path(tempfile.mkdtemp(prefix="d2e_zoo_app_"))
            atexit.register(_remove_root)
    folder = _root / name
    folder.mkdir(exist_ok=True)
    return folder


def cleanup() -> None:
    """Remove this process's temporary folder now (what exit does)."""
    _remove_root()


def trim(folder: Path, max_bytes: int, min_age_s: float = MIN_AGE_S) -> int:
    """Delete the oldest files under ``folder`` (older than ``min_age_s``) until the files
    there take at most ``max_bytes``; returns the bytes freed."""
    now = time.time()
    files = []
    for dirpath, _, names in os.walk(folder):
        for n in names:
            p = Path(dirpath) / n
            try:
                st = p.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, p))
    total = sum(size for _, size, _ in files)
    freed = 0
    for mtime, size, p in sorted(files):
        if total - freed <= max_bytes:
            break
        if now - mtime < min_age_s:
            break
        try:
            p.unlink()
            freed += size
        except OSError:
            pass
    return freed


def start_sweeper(folder: Path, max_bytes: int = CACHE_BYTES, every_s: float = SWEEP_EVERY_S) -> threading.Thread:
    """A daemon thread that calls :func:`trim` on ``folder`` every ``every_s`` seconds."""

    def sweep():
        while True:
            time.sleep(every_s)
            try:
                freed = trim(folder, max_bytes)
                if freed:
                    logger.info("temporary files: %.1f MB of old pictures removed", freed / 2**20)
            except Exception:  # never let the sweeper die: log and go on
                logger.exception("trimming %s failed", folder)

    t = threading.Thread(target=sweep, daemon=True, name="temp-sweeper")
    t.start()
    return t
