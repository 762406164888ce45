"""Safety checks on the folder a training run writes to, done before the first step.

* :func:`check_writable` creates the folder and writes a probe file in it, so a read-only or
  misspelt location fails at once instead of at the first checkpoint.
* :class:`RunLock` holds ``<folder>/.lock`` (the owner's PID and host) for the whole run, so
  two runs cannot share one folder; a lock left by a dead process on this host is taken
  over with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

LOCK_FILE = ".lock"


class RunFolderError(RuntimeError):
    """The run folder cannot be used: not writable, or in use by another run."""


def check_writable(folder: str | os.PathLike) -> Path:
    """Create ``folder`` (with parents) and check a file can be written there."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise RunFolderError(f"cannot write to the output folder {str(folder)!r} ({e.strerror or e}); "
                             "choose another folder (e.g. --output_dir) or fix its permissions") from None
    return folder


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """``with RunLock(folder):`` - exclusive use of ``folder`` by this process.

    Raises :class:`RunFolderError` naming the owner when a live process (or one on another
    host, which cannot be checked) holds the lock."""

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder) / LOCK_FILE
        self.held = False

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump({"pid": os.getpid(), "host": socket.gethostname()}, f)
        return True

    def _owner(self) -> dict:
        try:
            owner = json.loads(self.path.read_text())
            return owner if isinstance(owner, dict) else {}
        except (OSError, ValueError):
            return {}

    def acquire(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # another process may take over a stale lock at the same moment
            if self._create():
                self.held = True
                return self
            owner = self._owner()
            pid, host = owner.get("pid"), owner.get("host")
            same_host = host == socket.gethostname()
            if isinstance(pid, int) and same_host and not _pid_alive(pid):
                logger.warning("taking over the stale lock %s left by process %d, which is no longer running",
                               self.path, pid)
                self.path.unlink(missing_ok=True)
                continue
            if not owner:
                raise RunFolderError(f"the run folder {str(self.path.parent)!r} has an unreadable lock file "
                                     f"{str(self.path)!r}; delete it if no other run uses this folder")
            raise RunFolderError(f"the run folder {str(self.path.parent)!r} is in use by process {pid} on {host} "
                                 f"(lock file {str(self.path)!r}); wait for that run to end, choose another "
                                 "--output_dir, or delete the lock file if that run is gone")
        raise RunFolderError(f"could not take the lock {str(self.path)!r}: it keeps changing owner")

    def release(self):
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
