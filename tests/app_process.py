"""Test helper: run the repository's ``python app.py`` as a subprocess on a free local port.

    with AppProcess() as app:        # waits until the page answers
        print(app.url, app.ready_seconds)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Optional

APP_FILE = Path(__file__).resolve().parents[1] / "app.py"  # the repository's app.py


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class AppProcess:
    """``python app.py --host 127.0.0.1 --port <free>`` with its output in a log file
    (removed by :meth:`stop`; :meth:`log` reads its end, e.g. for a failing assertion).

    ``ready_seconds``: from starting the process until ``GET /`` answered 200."""

    def __init__(self, *args: str, port: Optional[int] = None, app_file=APP_FILE, env: Optional[dict] = None,
                 timeout: float = 90.0):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.args = [sys.executable, str(app_file), "--host", "127.0.0.1", "--port", str(self.port), *args]
        self.env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
                    "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", **(env or {})}
        self.timeout = timeout
        self.log_path = Path(tempfile.mkstemp(prefix="d2e_app_", suffix=".log")[1])
        self.proc: Optional[subprocess.Popen] = None
        self.ready_seconds: Optional[float] = None

    def start(self) -> "AppProcess":
        self._log = open(self.log_path, "w")
        start = time.perf_counter()
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, env=self.env,
                                     cwd=str(Path(self.args[1]).parent))
        deadline = start + self.timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited with code {self.proc.returncode}:\n{self.log()}")
            if self.answers():
                self.ready_seconds = time.perf_counter() - start
                return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"the app did not answer within {self.timeout} s:\n{self.log()}")

    def answers(self, timeout: float = 2.0) -> bool:
        """Whether ``GET /`` answers 200 now."""
        try:
            with urllib.request.urlopen(self.url, timeout=timeout) as r:
                return r.status == 200
        except OSError:
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> "AppProcess":
        return self.start()

    def __exit__(self, *exc):
        self.stop()
