"""The one step-loop driver of the package: the IPF trainer's half-steps and the zoo's
classifier / judge / GAN / VAE trainings all run through :func:`run_loop`.

It calls ``step(i)`` for ``i`` in ``[start, end)`` and owns what every loop needs:

* a progress bar (tqdm);
* a stop on a non-finite metric: ``on_non_finite`` (e.g. restore the last good state) runs,
  then :class:`NonFiniteLossError` is raised, naming the metric, the step and the recovery;
* logging: every ``log_every`` steps (and at ``end``) the metrics' means over the window go
  to the bar, to ``logging`` and to ``on_log(done, means)``;
* periodic checkpoints: ``on_checkpoint(done)`` every ``checkpoint_every`` steps and at
  ``end``;
* a :class:`TimeBudget`, which only ever *stops* a loop early. No schedule may read it:
  schedules are functions of steps done, so one seed gives one model on any machine.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """A loss (or another step metric) became NaN or infinite; training stopped. The message
    says what was kept: the last good state (IPF) or the last good checkpoint (zoo tasks)."""


class TimeBudget:
    """Wall-clock seconds of training, counted across calls (``already`` seconds were spent
    before this one, e.g. before a resume). ``max_seconds=None`` never runs out."""

    def __init__(self, max_seconds: Optional[float] = None, already: float = 0.0):
        if max_seconds is not None and (isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float))
                                        or not math.isfinite(max_seconds) or max_seconds <= 0):
            raise ValueError(f"the time budget must be a positive, finite number of seconds (or None), "
                             f"got {max_seconds!r}")
        self.max_seconds = None if max_seconds is None else float(max_seconds)
        self._start = time.perf_counter() - already

    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def exhausted(self) -> bool:
        return self.max_seconds is not None and self.elapsed() >= self.max_seconds


@dataclass
class LoopResult:
    """What one :func:`run_loop` call did."""

    steps_done: int  # steps completed in this call
    last: dict = field(default_factory=dict)  # the last step's metrics
    stopped_early: bool = False  # the time budget ran out before ``end``


def _as_metrics(out) -> dict:
    return {"loss": float(out)} if isinstance(out, (int, float)) else out


def run_loop(step: Callable[[int], dict | float], start: int, end: int, *, desc: str = "train",
             progress: bool = True, total: Optional[int] = None, leave: bool = True,
             budget: Optional[TimeBudget] = None,
             after_step: Optional[Callable[[int, dict], None]] = None,
             log_every: int = 0, on_log: Optional[Callable[[int, dict], None]] = None,
             checkpoint_every: int = 0, on_checkpoint: Optional[Callable[[int], None]] = None,
             where: Callable[[int], str] = lambda i: f"step {i + 1}",
             on_non_finite: Optional[Callable[[int], None]] = None, recovery: str = "") -> LoopResult:
    """Run ``step(i)`` (returning a metrics dict, or a float loss) for ``i`` in ``[start, end)``.

    ``after_step(i, metrics)`` runs after every finite step. ``where(i)`` names step ``i`` in
    messages; ``recovery`` says what the caller kept, in the :class:`NonFiniteLossError`.
    The budget is checked after each step but the last (a finished loop is never "early")."""
    bar = tqdm(range(start, end), initial=start, total=total or end, desc=desc, disable=not progress,
               leave=leave)
    running: dict = {}
    window = 0
    last: dict = {}
    for i in bar:
        metrics = _as_metrics(step(i))
        bad = next(((k, v) for k, v in metrics.items() if not math.isfinite(v)), None)
        if bad is not None:
            if on_non_finite is not None:
                on_non_finite(i)
            raise NonFiniteLossError(f"non-finite {bad[0]} ({bad[1]}) at {where(i)}: training stopped"
                                     + (f"; {recovery}" if recovery else ""))
        last, done = metrics, i + 1
        if after_step is not None:
            after_step(i, metrics)
        if log_every:
            for k, v in metrics.items():
                running[k] = running.get(k, 0.0) + v
            window += 1
            if done % log_every == 0 or done == end:
                means = {k: v / window for k, v in running.items()}
                running, window = {}, 0
                bar.set_postfix({k: f"{v:.3g}" for k, v in means.items()}, refresh=False)
                logger.debug("%s %s: %s", desc, where(i), ", ".join(f"{k}={v:.4g}" for k, v in means.items()))
                if on_log is not None:
                    on_log(done, means)
        if on_checkpoint is not None and ((checkpoint_every and done % checkpoint_every == 0) or done == end):
            on_checkpoint(done)
        if budget is not None and done < end and budget.exhausted():
            logger.info("%s: the time budget of %.4g s ran out after %s of %d; stopping early "
                        "(the schedule is unchanged: resume to finish it)", desc, budget.max_seconds, where(i), end)
            bar.close()
            return LoopResult(done - start, last, stopped_early=True)
    bar.close()
    return LoopResult(end - start, last)
