"""Every command the README and docs/ show has a working ``--help``: it exits 0, its usage line
is the command as users type it (``python -m d2e_zoo.evaluate``, not ``evaluate.py``), it shows
the options' defaults, and it knows every flag the documents use with it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from doc_blocks import ROOT, commands

# Runs every CLI's --help in one interpreter (torch is imported once), as `python -m` / `python
# script.py` would: runpy sets sys.argv[0] to the module's file, so argparse's default prog is
# what it would be for a user.
RUNNER = r"""
import contextlib, io, json, runpy, sys
results = {}
for cli in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    code = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if cli.startswith("python -m "):
                sys.argv = ["-m", "--help"]
                runpy.run_module(cli.split()[-1], run_name="__main__", alter_sys=True)
            else:
                sys.argv = [cli.split()[-1], "--help"]
                runpy.run_path(cli.split()[-1], run_name="__main__")
        except SystemExit as e:
            code = e.code
        except BaseException as e:
            code = f"{type(e).__name__}: {e}"
    results[cli] = {"code": code, "out": out.getvalue(), "err": err.getvalue()[-1000:]}
print(json.dumps(results))
"""
USAGE_EXEMPT: set = set()  # commands whose usage line may differ from how the docs show them


@pytest.fixture(scope="module")
def helps() -> dict:
    clis = sorted({cli for _, cli, _ in commands()})
    env = dict(os.environ, PYTHONPATH=str(ROOT), D2E_ZOO_USE_HUB="0", HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(clis)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_documents_show_commands():
    clis = {cli for _, cli, _ in commands()}
    assert {"python -m d2e_zoo.evaluate", "python -m d2e_zoo.samplers", "python training/train.py",
            "python -m d2e_zoo.benchmarks.zoo_table", "python app.py"} <= clis, clis


def test_every_help_runs_and_reads_as_typed(helps):
    bad = []
    for cli, r in helps.items():
        if r["code"] not in (0, None):
            bad.append(f"{cli} --help exited with {r['code']}: {r['err']}")
        elif cli not in USAGE_EXEMPT and not r["out"].startswith(f"usage: {cli} "):
            bad.append(f"{cli} --help: usage line is {r['out'].splitlines()[0]!r}")
        elif cli not in USAGE_EXEMPT and "(default: " not in r["out"]:
            bad.append(f"{cli} --help shows no defaults")
    assert not bad, "\n".join(bad)


def unknown_flags(arguments: str, help_text: str) -> list[str]:
    """The ``--flags`` in ``arguments`` that ``help_text`` does not list."""
    flags = re.findall(r"(?<![\w-])(--[a-zA-Z][\w-]*)", arguments)
    return [f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", help_text)]


def test_every_documented_flag_exists(helps):
    unknown, checked = [], 0
    for where, cli, arguments in commands():
        checked += len(re.findall(r"--[a-zA-Z]", arguments))
        unknown += [f"{where}: {cli} {flag}" for flag in unknown_flags(arguments, helps[cli]["out"])]
    assert checked > 30, f"only {checked} documented flags found: is the command parser broken?"
    assert not unknown, "documented flags that --help does not know:\n" + "\n".join(unknown)


def test_a_wrong_flag_is_caught(helps):
    help_text = helps["python -m d2e_zoo.evaluate"]["out"]
    assert unknown_flags("mnist-even --num-samples 10 --corrector-steps 3 --num-sample 5 --jsn", help_text) == [
        "--num-sample", "--jsn"]


def test_train_help_lists_the_recipes(helps):
    import d2e_zoo

    out = helps["python training/train.py"]["out"]
    assert all(name in out for name in d2e_zoo.list_models()), out[-2000:]


def test_every_command_of_the_repository_is_documented():
    """Each module or script with a ``__main__`` entry point appears in the documents, so the
    checks above cover every command."""
    found = set()
    for path in [*(ROOT / "d2e_zoo").rglob("*.py"), *(ROOT / "training").glob("*.py"), ROOT / "app.py"]:
        if 'if __name__ == "__main__"' not in path.read_text(encoding="utf-8") and path.name != "__main__.py":
            continue
        rel = path.relative_to(ROOT)
        if rel.parts[0] == "d2e_zoo":
            parts = rel.with_suffix("").parts
            found.add("python -m " + ".".join(parts[:-1] if parts[-1] == "__main__" else parts))
        else:
            found.add(f"python {rel.as_posix()}")
    documented = {cli for _, cli, _ in commands()}
    assert found - documented == set(), f"commands the documents never show: {sorted(found - documented)}"
    assert len(found) >= 14
