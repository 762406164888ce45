"""The one step loop and the one checkpoint helper: import layering, the time budget, the
non-finite stop, run-folder safety (writable, lock) and checkpoint validation/fallback."""

import ast
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from d2e_zoo import step_loop
from d2e_zoo.checkpointing import (CheckpointError, CheckpointMismatchError, load_first_valid, read_json,
                                   require_count, staged_folder)
from d2e_zoo.run_folder import RunFolderError, RunLock, check_writable
from d2e_zoo.step_loop import NonFiniteLossError, TimeBudget, run_loop

ROOT = Path(__file__).resolve().parents[1]


def test_step_trainers_do_not_import_the_ipf_engine():
    code = ("import sys, d2e_zoo.trainers.state, d2e_zoo.trainers.loop, d2e_zoo.checkpointing, d2e_zoo.step_loop; "
            "print(sorted(m for m in sys.modules if m.startswith('d2e_zoo.ipf')))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def _runtime_imports(path: Path) -> list[tuple[str, str]]:
    """``(enclosing function or '<module>', imported module)`` for every import that runs
    (imports under ``if TYPE_CHECKING:`` are skipped)."""
    found = []

    def visit(node, scope):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", None) == "TYPE_CHECKING":
                continue
            if isinstance(child, ast.ImportFrom):
                found.append((scope, "." * child.level + (child.module or "")))
            elif isinstance(child, ast.Import):
                found.extend((scope, a.name) for a in child.names)
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else scope
            visit(child, inner)

    visit(ast.parse(path.read_text()), "<module>")
    return found


def test_ipf_trainer_and_checkpoint_have_no_import_cycle():
    ipf = ROOT / "d2e_zoo" / "ipf"
    assert not [m for _, m in _runtime_imports(ipf / "checkpoint.py") if m in (".trainer", "d2e_zoo.ipf.trainer")]
    assert not [(f, m) for f, m in _runtime_imports(ipf / "trainer.py") if f != "<module>"], \
        "ipf/trainer.py imports inside functions"


def test_one_non_finite_loss_error_type():
    from d2e_zoo import ipf
    from d2e_zoo.ipf import trainer
    from d2e_zoo.trainers import loop

    assert ipf.NonFiniteLossError is trainer.NonFiniteLossError is loop.NonFiniteLossError is NonFiniteLossError


# ------------------------------------------------------------------ the driver --
class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_time_budget_only_stops_early_and_says_so(monkeypatch, caplog):
    clock = FakeClock()
    monkeypatch.setattr(step_loop.time, "perf_counter", clock)
    budget = TimeBudget(10.0, already=4.0)
    assert budget.elapsed() == 4.0 and not budget.exhausted()
    seen = []

    def step(i):
        seen.append(i)
        clock.now += 2.0  # each step takes 2 s: 4 + 3 * 2 >= 10 after the third step
        return {"loss": 1.0}

    with caplog.at_level(logging.INFO):
        res = run_loop(step, 0, 10, progress=False, budget=budget)
    assert seen == [0, 1, 2] and res.steps_done == 3 and res.stopped_early
    assert "time budget of 10 s ran out after step 3 of 10; stopping early" in caplog.text
    # a loop whose last step ends past the budget finished: it is not "early"
    assert not run_loop(step, 0, 1, progress=False, budget=TimeBudget(1.0)).stopped_early
    for bad in (float("nan"), 0.0, -1.0, float("inf"), "60"):
        with pytest.raises(ValueError, match="positive, finite number of seconds"):
            TimeBudget(bad)


def test_non_finite_metric_restores_and_names_step_and_recovery():
    restored, logged, saved = [], [], []

    def step(i):
        return {"loss": 1.0, "acc": float("inf") if i == 6 else 0.5}

    with pytest.raises(NonFiniteLossError, match=r"non-finite acc \(inf\) at step 7: training stopped; kept X"):
        run_loop(step, 0, 10, progress=False, log_every=3, on_log=lambda d, m: logged.append((d, m)),
                 checkpoint_every=5, on_checkpoint=saved.append, on_non_finite=restored.append, recovery="kept X")
    assert restored == [6] and saved == [5]
    assert logged == [(3, {"loss": 1.0, "acc": 0.5}), (6, {"loss": 1.0, "acc": 0.5})]
    # a float return is the loss; means are over the window; the last (partial) window is logged at the end
    logged.clear()
    res = run_loop(lambda i: float(i), 2, 7, progress=False, log_every=2, on_log=lambda d, m: logged.append((d, m)))
    assert logged == [(4, {"loss": 2.5}), (6, {"loss": 4.5}), (7, {"loss": 6.0})]
    assert res.steps_done == 5 and res.last == {"loss": 6.0}


# ------------------------------------------------------------------ run folders --
def test_unwritable_output_folder_fails_clearly(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(RunFolderError, match="cannot write to the output folder .*a-file/run"):
        check_writable(blocker / "run")
    assert check_writable(tmp_path / "new" / "run").is_dir()
    assert os.listdir(tmp_path / "new" / "run") == []  # the probe is gone


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_run_lock_refuses_a_live_owner_and_takes_over_a_stale_one(tmp_path, caplog):
    with RunLock(tmp_path) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
        with pytest.raises(RunFolderError, match=f"in use by process {os.getpid()} .*delete the lock file"):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / ".lock").exists()  # released
    (tmp_path / ".lock").write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}))
    with caplog.at_level(logging.WARNING), RunLock(tmp_path):
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    assert "taking over the stale lock" in caplog.text
    (tmp_path / ".lock").write_text(json.dumps({"pid": 1, "host": "another-host"}))  # cannot be checked: refused
    with pytest.raises(RunFolderError, match="in use by process 1 on another-host"):
        RunLock(tmp_path).acquire()


# ------------------------------------------------------------- checkpoint files --
def test_staged_folder_keeps_the_previous_and_survives_a_failed_write(tmp_path):
    path = tmp_path / "ckpt"
    for version in ("one", "two"):
        with staged_folder(path, keep_previous=True) as tmp:
            (tmp / "v").write_text(version)
    assert (path / "v").read_text() == "two" and (tmp_path / "ckpt.prev" / "v").read_text() == "one"
    with pytest.raises(OSError):
        with staged_folder(path, keep_previous=True) as tmp:
            raise OSError("disk full")
    assert (path / "v").read_text() == "two" and not (tmp_path / "ckpt.tmp").exists()


def test_meta_validation_and_fallback(tmp_path, caplog):
    with pytest.raises(CheckpointError, match="has no 'step'"):
        require_count({}, "step", "meta.json")
    with pytest.raises(CheckpointError, match="step 999999 is beyond the schedule \\(100\\)"):
        require_count({"step": 999999}, "step", "meta.json", 100)
    with pytest.raises(CheckpointError, match="must be a count >= 0, got -1"):
        require_count({"step": -1}, "step", "meta.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupted bad.json"):
        read_json(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(CheckpointError, match="expected a JSON object"):
        read_json(tmp_path / "list.json")

    def load(p):
        if p.name == "corrupt":
            raise CheckpointError("corrupted state")
        if p.name == "other-run":
            raise CheckpointMismatchError("another seed")
        return p.name

    with caplog.at_level(logging.WARNING):
        assert load_first_valid([Path("corrupt"), Path("good")], load) == (Path("good"), "good")
    assert "skipping unusable checkpoint corrupt (corrupted state)" in caplog.text
    with pytest.raises(CheckpointMismatchError):  # another run's checkpoint: no silent fallback
        load_first_valid([Path("other-run"), Path("good")], load)
    with pytest.raises(CheckpointError, match="no usable checkpoint: corrupt: corrupted state"):
        load_first_valid([Path("corrupt")], load)
    assert load_first_valid([], load) == (None, None)


def test_optimizer_round_trip():
    from d2e_zoo.checkpointing import flatten_optimizer, unflatten_optimizer

    w = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(w.parameters(), lr=0.1)
    w(torch.randn(4, 3)).sum().backward()
    opt.step()
    flat = flatten_optimizer("o", opt)
    fresh = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=0.1)
    unflatten_optimizer(fresh, {k[2:]: v for k, v in flat.items()})
    assert flatten_optimizer("o", fresh).keys() == flat.keys()
    assert all(torch.equal(flatten_optimizer("o", fresh)[k], v) for k, v in flat.items())
