"""Reading the documentation's code: fenced blocks and inline commands of README.md and docs/*.md.

Used by tests/test_doc_snippets.py (every Python block runs) and tests/test_cli_help.py (every
command shown has a working ``--help`` that knows the flags the documents use).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(.*?)\s*-->$")
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
# a command as users type it: the module or script, then its arguments up to the end of the span
COMMAND = re.compile(r"(?:python -m (d2e_zoo[\w.]*)|python (training/\w+\.py|app\.py)|launch (training/\w+\.py))"
                     r"([^`#&|;\n]*)")


@dataclass
class Block:
    """One fenced code block: ``path:line`` of its opening fence, its language, its code and,
    when the line before the fence is ``<!-- not-run: REASON -->``, that reason."""

    path: Path
    line: int
    language: str
    code: str
    not_run: Optional[str] = None

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def fenced_blocks(path: Path, text: Optional[str] = None) -> list[Block]:
    """Every fenced block of a markdown text (indented fences in lists included, dedented)."""
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, language, start = m.group(1), m.group(2), i
        body = []
        i += 1
        while i < len(lines) and not re.match(rf"^{indent}```\s*$", lines[i]):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        if i == len(lines):
            raise ValueError(f"{path}:{start + 1}: a code block is never closed")
        previous = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        reason = NOT_RUN.match(previous)
        blocks.append(Block(path, start + 1, language, "\n".join(body) + "\n", reason.group(1) if reason else None))
        i += 1
    return blocks


def python_blocks() -> list[Block]:
    return [b for path in documents() for b in fenced_blocks(path) if b.language == "python"]


def commands() -> list[tuple[str, str, str]]:
    """``(where, cli, arguments)`` for every command shown: in bash blocks (line by line) and in
    inline code spans of the prose. ``cli`` is ``python -m MODULE`` or ``python SCRIPT``."""
    found = []
    for path in documents():
        text = path.read_text(encoding="utf-8")
        spans = []
        for block in fenced_blocks(path, text):
            if block.language in ("bash", "sh", "shell"):
                spans += [(f"{block.id}", line) for line in block.code.splitlines()]
        prose = re.sub(r"^\s*```.*?^\s*```", "", text, flags=re.S | re.M)
        spans += [(str(path.relative_to(ROOT)), " ".join(s.split())) for s in re.findall(r"`([^`]+)`", prose)]
        for where, span in spans:
            for m in COMMAND.finditer(span):
                cli = f"python -m {m.group(1)}" if m.group(1) else f"python {m.group(2) or m.group(3)}"
                found.append((where, cli, m.group(4)))
    return found
