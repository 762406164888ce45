"""The repository documents itself: no pointers to documents outside it, and every
"docs/method.md section N" cited anywhere names a section that exists."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METHOD = ROOT / "docs" / "method.md"
# spelled in pieces so that this file does not match itself
FORBIDDEN = ("DESIGN" + ".md", ".." + "/shared")
# build outputs and caches that are not part of the repository
SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", "runs", ".venv", "venv", "node_modules", "build", "dist"}
CITATION = re.compile(r"docs/method\.md,?\s+sections?\s+(\d+(?:\s*(?:,|and)\s*\d+)*)")


def repository_files() -> list[Path]:
    """Tracked and untracked-but-not-ignored files (git), or a walk without build outputs."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, timeout=30, check=True).stdout
        files = [ROOT / p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.SubprocessError):
        files = []
        for folder, dirs, names in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            files += [Path(folder) / n for n in names]
    return [f for f in files if f.is_file()]


def method_sections() -> set[int]:
    return {int(m) for m in re.findall(r"^## (\d+)\. ", METHOD.read_text(encoding="utf-8"), flags=re.M)}


def test_method_document_has_numbered_sections():
    sections = method_sections()
    assert sections, "docs/method.md has no '## N. Title' headings"
    assert sections == set(range(1, max(sections) + 1)), f"sections are not numbered 1..n: {sorted(sections)}"


def test_no_file_points_outside_the_repository():
    offenders = []
    for path in repository_files():
        data = path.read_bytes()
        offenders += [f"{path.relative_to(ROOT)}: {word}" for word in FORBIDDEN if word.encode() in data]
    assert not offenders, "files refer to a document outside the repository:\n" + "\n".join(offenders)


def cited_sections(text: str) -> list[int]:
    return [int(n) for m in CITATION.finditer(text) for n in re.findall(r"\d+", m.group(1))]


def test_citation_parser():
    text = "see docs/method.md section 3, and (docs/method.md sections 1 and 5); docs/method.md, section 12"
    assert cited_sections(text) == [3, 1, 5, 12]


def test_every_cited_section_exists():
    sections, missing, count = method_sections(), [], 0
    for path in repository_files():
        if path.suffix not in (".py", ".md", ".toml", ".txt", ".cfg") or path == Path(__file__).resolve():
            continue
        for n in cited_sections(path.read_text(encoding="utf-8", errors="replace")):
            count += 1
            if n not in sections:
                missing.append(f"{path.relative_to(ROOT)}: section {n}")
    assert count > 0, "no file cites docs/method.md by section"
    assert not missing, (f"cited sections missing from docs/method.md (it has {sorted(sections)}):\n"
                         + "\n".join(missing))


def test_readme_links_the_method():
    assert "docs/method.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_slow_tier_is_registered_and_ci_runs_every_tier():
    """`-m "not slow"` is the quick loop; the README's command and CI's run everything."""
    import tomllib

    markers = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert any(m.startswith("slow:") for m in markers.get("markers", [])), "the 'slow' marker is not registered"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line for line in ci.splitlines() if "python -m pytest" in line and not line.startswith("#"))
    pytest_args = command.split("python -m pytest", 1)[1]
    assert " -m " not in pytest_args and "slow" not in pytest_args, command
    assert 'python -m pytest -q -m "not slow"' in (ROOT / "README.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------- README and docs/ --
README_MAX_BYTES = 15_000
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def test_slug_matches_github():
    assert _slug("Bridges, K = 20") == "bridges-k--20"
    assert _slug("Corrector steps: the mix") == "corrector-steps-the-mix"


def test_readme_is_a_landing_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) <= README_MAX_BYTES, f"README.md is {len(readme.encode())} bytes"
    assert "arxiv.org/abs/2509.26364" in readme and "docs/images/app.png" in readme
    for doc in ("method", "zoo", "app", "energies", "benchmarks", "findings", "development"):
        assert f"docs/{doc}.md" in readme, f"README does not link docs/{doc}.md"


def test_links_between_documents_resolve():
    """Every relative link of README.md and docs/*.md names an existing file and, for a
    markdown file, an existing heading. Pictures must live in docs/images/."""
    broken = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = re.sub(r"^```.*?^```", "", doc.read_text(encoding="utf-8"), flags=re.S | re.M)
        for target in LINK.findall(text):
            if re.match(r"^[a-z]+://", target):
                continue
            file_part, _, anchor = target.partition("#")
            path = (doc.parent / file_part).resolve() if file_part else doc
            if path.suffix in (".png", ".gif", ".jpg", ".webp"):
                if path.parent != ROOT / "docs" / "images":
                    broken.append(f"{doc.name}: picture {target} is not in docs/images/")
                continue
            if not path.exists():
                broken.append(f"{doc.name}: {target} does not exist")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                broken.append(f"{doc.name}: {target}: no such heading (has {sorted(_anchors(path))})")
    assert not broken, "\n".join(broken)


def test_documents_name_no_issue_or_machine():
    pattern = re.compile(r"issue \d|#\d+\b|this machine|this CPU|earlier (round|session)|a second process was running",
                         re.I)
    offenders = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        offenders += [f"{doc.name}: {m.group(0)!r}" for m in pattern.finditer(doc.read_text(encoding="utf-8"))]
    assert not offenders, offenders


def test_model_counts_in_the_docs_match_the_registry():
    """The README and the zoo page state how many models ship; a new model must update them."""
    import d2e_zoo

    total, fashion = len(d2e_zoo.list_models()), len(d2e_zoo.list_models(domain="fashion"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    zoo = (ROOT / "docs" / "zoo.md").read_text(encoding="utf-8")
    assert f"All {total} models" in readme
    assert f"the {fashion} Fashion-MNIST models; no filter: all {total}" in zoo
    assert f"({len(d2e_zoo.list_models(domain='mnist'))} on MNIST digits, {fashion} on Fashion-MNIST" in zoo
