"""Every Python block of README.md and docs/*.md runs, each on its own.

Each block is executed in a fresh interpreter (nothing carries over from the block before it),
in an empty working folder, with the Hub switched off (the bundled zoo) and a time cap. A block
that cannot run in a test is preceded by ``<!-- not-run: REASON -->``; those are compiled (so
they are at least valid Python) and must stay few. docs/development.md describes the rule.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from doc_blocks import ROOT, fenced_blocks, python_blocks

BLOCKS = python_blocks()
RUNNABLE = [b for b in BLOCKS if b.not_run is None]
TIME_CAP_S = 180
MAX_NOT_RUN = 3


def test_blocks_are_found_and_few_are_exempt():
    assert len(RUNNABLE) >= 5, [b.id for b in BLOCKS]
    exempt = [b for b in BLOCKS if b.not_run is not None]
    assert len(exempt) <= MAX_NOT_RUN, f"too many not-run blocks: {[b.id for b in exempt]}"
    assert all(b.not_run.strip() for b in exempt), "a not-run marker must give its reason"
    for block in BLOCKS:
        compile(block.code, block.id, "exec")


def test_the_reader_sees_markers_and_indented_blocks(tmp_path):
    doc = tmp_path / "x.md"
    text = ("text\n\n<!-- not-run: needs a server -->\n```python\nimport os\n```\n\n"
            "* item\n\n  ```python\n  x = 1\n  ```\n```bash\nls\n```\n")
    blocks = fenced_blocks(doc, text)
    assert [(b.language, b.not_run, b.code, b.line) for b in blocks] == [
        ("python", "needs a server", "import os\n", 4), ("python", None, "x = 1\n", 10), ("bash", None, "ls\n", 13)]
    with pytest.raises(ValueError, match="never closed"):
        fenced_blocks(doc, "```python\nx = 1\n")


@pytest.mark.slow
@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_block_runs_on_its_own(block, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), D2E_ZOO_USE_HUB="0", HF_HUB_OFFLINE="1", MPLBACKEND="Agg",
               D2E_ZOO_CACHE=str(tmp_path / "cache"))
    try:
        result = subprocess.run([sys.executable, "-c", block.code], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=TIME_CAP_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{block.id}: the block ran longer than {TIME_CAP_S} s; make it smaller")
    assert result.returncode == 0, f"{block.id} failed:\n{block.code}\n--- stderr ---\n{result.stderr[-4000:]}"
