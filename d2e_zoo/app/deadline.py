"""A wall-clock deadline for one request's sampling run (``LIMITS.seconds``).

Bridge runs are short and bounded by the step and sample limits; the deadline is checked
between their stages (:meth:`Deadline.check` raises :class:`~.choices.InputError`). MALA
runs stop early at the deadline instead (:class:`DeadlineSteps`, a stopping rule for
:func:`d2e_zoo.samplers.sample`) and say so.
"""

from __future__ import annotations

import time
from typing import Optional

from ..samplers.stopping import FixedSteps
from .choices import LIMITS, InputError


class Deadline:
    """``seconds`` from now (default :data:`LIMITS.seconds <d2e_zoo.app.choices.Limits>`)."""

    def __init__(self, seconds: Optional[float] = None):
        self.seconds = float(LIMITS.seconds if seconds is None else seconds)
        self.ends = time.perf_counter() + self.seconds

    def left(self) -> float:
        return self.ends - time.perf_counter()

    def passed(self) -> bool:
        return self.left() <= 0

    def check(self, stage: str) -> None:
        """:class:`InputError` if the deadline has passed (``stage``: what was being done)."""
        if self.passed():
            raise InputError(f"The request took longer than the app's limit of {self.seconds:.0f} s ({stage}); "
                             "the server may be busy: try fewer samples or steps, or try again.")


class DeadlineSteps(FixedSteps):
    """``num_steps`` steps, or fewer if ``deadline`` passes first (``stopped_early`` then is True)."""

    def __init__(self, budget: int, deadline: Deadline):
        super().__init__(budget)
        self.deadline, self.stopped_early = deadline, False

    def should_stop(self, progress) -> bool:
        if self.deadline.passed():
            self.stopped_early = True
        return self.stopped_early

    def reason(self, progress) -> str:
        if self.stopped_early:
            return f"stopped at the app's time limit ({self.deadline.seconds:.0f} s) after {progress.step} steps"
        return super().reason(progress)
