"""The Hugging Face Hub side of loading: downloads with a deadline, and one report per load.

huggingface_hub (2.x) puts no timeout on some requests (the repository metadata of
``snapshot_download``), so a Hub endpoint that accepts the connection and never answers
would hang a load for ever. Here every download runs against a deadline: ``hub_timeout=``
seconds, else ``$D2E_ZOO_HUB_TIMEOUT``, else 10, for *all* Hub requests of one ``load`` call
(a bridge and the components it names share it). ``HF_HUB_OFFLINE``, ``HF_ENDPOINT`` and the
Hub cache are honoured as huggingface_hub reads them.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

logger = logging.getLogger(__name__)

HUB_TIMEOUT_ENV = "D2E_ZOO_HUB_TIMEOUT"
DEFAULT_HUB_TIMEOUT = 10.0  # seconds for all Hub requests of one load call
MAX_HUB_TIMEOUT = 600.0


class HubTimeoutError(TimeoutError):
    """The Hub did not answer within the load's deadline (and nothing was cached)."""


def use_hub_default(use_hub: Optional[bool]) -> bool:
    """``use_hub`` if given, else whether ``$D2E_ZOO_USE_HUB`` allows the Hub (default: yes)."""
    if use_hub is not None:
        return use_hub
    return os.environ.get("D2E_ZOO_USE_HUB", "1").lower() not in ("0", "false", "no")


def hub_timeout_seconds(seconds=None) -> float:
    """Seconds allowed for all Hub requests of one load: ``seconds``, else
    ``$D2E_ZOO_HUB_TIMEOUT``, else 10. Must lie in ``(0, 600]``."""
    source = "hub_timeout" if seconds is not None else HUB_TIMEOUT_ENV
    raw = seconds if seconds is not None else os.environ.get(HUB_TIMEOUT_ENV, DEFAULT_HUB_TIMEOUT)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not 0 < value <= MAX_HUB_TIMEOUT:  # NaN fails too
        raise ValueError(f"{source} must be a number of seconds in (0, {MAX_HUB_TIMEOUT:g}], got {raw!r}")
    return value


def download_snapshot(repo_id: str, revision: str, timeout: float) -> Path:
    """``snapshot_download(repo_id, revision)`` that returns or raises within ``timeout`` seconds.

    huggingface_hub puts no timeout on some of its requests (the repository metadata), so the
    download runs in a daemon thread; if it has not finished by the deadline, the thread is left
    to finish or fail on its own (a later call finds its files in the cache) and the Hub cache
    alone is consulted (``local_files_only``, no network). Raises :class:`HubTimeoutError` when
    the deadline passes and nothing is cached, or the download's own error."""
    from huggingface_hub import constants, snapshot_download

    done, box = threading.Event(), {}

    def download():
        try:
            box["folder"] = snapshot_download(repo_id, revision=revision, etag_timeout=timeout)
        except BaseException as e:  # handed to the caller (if it still waits)
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=download, name=f"d2e-zoo hub {repo_id}", daemon=True).start()
    if done.wait(timeout):
        if "error" in box:
            raise box["error"]
        return Path(box["folder"])
    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:
        raise HubTimeoutError(f"no answer from the Hub ({constants.ENDPOINT}) within {timeout:.3g} s "
                              f"(set {HUB_TIMEOUT_ENV} or hub_timeout= to change this)") from None


@dataclass
class HubBudget:
    """The Hub deadline of one load call, shared by a bridge and its components, and what
    fell back to the bundled copy (reported once, by :meth:`report`)."""

    enabled: bool
    timeout: float
    deadline: float
    bundled: list = field(default_factory=list)
    reasons: list = field(default_factory=list)
    timed_out: bool = False

    @classmethod
    def start(cls, use_hub: Optional[bool], seconds=None) -> "HubBudget":
        timeout = hub_timeout_seconds(seconds)
        return cls(use_hub_default(use_hub), timeout, time.monotonic() + timeout)

    def fetch(self, repo_id: str, revision: str) -> Optional[Path]:
        """The snapshot's folder, or None (the reason is kept) if the Hub is off or failed."""
        if not self.enabled:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.timed_out = True
            if not self.reasons:
                self.reasons.append(f"no time left of the Hub's {self.timeout:g} s")
            return None
        try:
            return download_snapshot(repo_id, revision, left)
        except Exception as e:  # offline, not cached, no such repo, network errors, timeout: fall back
            self.timed_out = self.timed_out or isinstance(e, TimeoutError)
            first = str(e).splitlines()[0] if str(e) else ""
            self.reasons.append(f"{type(e).__name__}: {first}")
            return None

    def report(self, name: str) -> None:
        """One log line (warning after a timeout, else info) if anything fell back to the bundled copy."""
        if not (self.enabled and self.bundled):
            return
        logger.log(logging.WARNING if self.timed_out else logging.INFO,
                   "%s: not available from the Hub (%s); using the bundled copy of %s", name,
                   "; ".join(dict.fromkeys(self.reasons)), ", ".join(self.bundled))
