"""Where an IPF training stands: counters between half-steps and a short loss history.

Kept apart from the trainer so that checkpoints (``ipf/checkpoint.py``) can read and validate
it without importing the trainer (the trainer imports the checkpoint module, not the reverse).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from ..checkpointing import CheckpointError, require_count, require_seconds

PHASES = ("backward", "forward")


@dataclass
class StepRecord:
    """One logged window of training steps (``loss`` is the window's mean)."""

    iteration: int
    phase: str
    step: int  # steps done in this half-step at the end of the window
    loss: float
    seconds: float


@dataclass
class TrainState:
    """Counters that locate training between half-steps (checkpointed)."""

    iteration: int = 0
    phase: str = "backward"  # the next half-step to run
    forward_steps_done: int = 0
    backward_steps_done: int = 0
    seconds: float = 0.0
    history: list = field(default_factory=list)

    def __repr__(self) -> str:
        """One line: the counters, and the history's length and last record (not the whole history)."""
        last = self.history[-1] if self.history else None
        tail = f", last loss {last.loss:.4g} ({last.phase}, iteration {last.iteration + 1})" if last else ""
        return (f"TrainState(iteration={self.iteration}, phase={self.phase!r}, "
                f"backward_steps_done={self.backward_steps_done}, forward_steps_done={self.forward_steps_done}, "
                f"seconds={self.seconds:.1f}, history=<{len(self.history)} records{tail}>)")

    @classmethod
    def from_dict(cls, d, ipf_iterations: int, where: str = "checkpoint") -> "TrainState":
        """Validate a saved state against a schedule of ``ipf_iterations`` IPF iterations:
        a missing or malformed counter, or an iteration beyond the schedule, is a
        :class:`CheckpointError` naming it."""
        if not isinstance(d, dict):
            raise CheckpointError(f"{where}: the training state must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CheckpointError(f"{where}: unknown training-state keys {unknown}; valid keys: {sorted(known)}")
        iteration = require_count(d, "iteration", where, ipf_iterations, "the schedule's IPF iterations")
        if d.get("phase") not in PHASES:
            raise CheckpointError(f"{where}: phase must be one of {', '.join(PHASES)}, got {d.get('phase')!r}")
        history = d.get("history", [])
        try:
            records = [StepRecord(**r) for r in history]
        except TypeError as e:
            raise CheckpointError(f"{where}: malformed loss history: {e}") from None
        if any(not isinstance(r.loss, (int, float)) or not math.isfinite(r.loss) for r in records):
            raise CheckpointError(f"{where}: the loss history holds a non-finite or non-numeric loss")
        return cls(iteration=iteration, phase=d["phase"],
                   forward_steps_done=require_count(d, "forward_steps_done", where),
                   backward_steps_done=require_count(d, "backward_steps_done", where),
                   seconds=require_seconds(d, "seconds", where), history=records)
