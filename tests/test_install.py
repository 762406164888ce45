"""The install: the library works without the app's dependencies (Gradio is the `app` extra),
the set-up commands in the README are the ones CI runs, and the licence file matches the
declared licence."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A meta-path finder that makes `import gradio` (and its submodules) fail, as if it were not installed.
BLOCK_GRADIO = """
import importlib.abc, sys
class _NoGradio(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("gradio", "gradio_client"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None
sys.meta_path.insert(0, _NoGradio())
"""


def _run(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), D2E_ZOO_USE_HUB="0", HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-c", BLOCK_GRADIO + code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=240)


def test_library_and_zoo_work_without_gradio():
    result = _run("""
import torch, d2e_zoo, d2e_zoo.app, d2e_zoo.samplers, d2e_zoo.ipf, d2e_zoo.evaluate
pipe = d2e_zoo.load("mnist-even")
out = pipe(num_samples=3, generator=torch.Generator().manual_seed(0))
assert tuple(out.images.shape) == (3, 1, 28, 28), out.images.shape
assert not any(m == "gradio" or m.startswith("gradio.") for m in sys.modules), "gradio was imported"
print("ok")
""")
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def test_the_page_without_gradio_names_the_extra():
    result = _run("import d2e_zoo.app.ui")
    assert result.returncode != 0
    assert 'pip install -e ".[app]"' in result.stderr, result.stderr[-2000:]


def test_the_blocker_blocks():
    """The finder above really hides Gradio (else the first test could not fail)."""
    result = _run("import gradio")
    assert result.returncode != 0 and "blocked by the test" in result.stderr


def test_gradio_is_the_app_extra_and_ci_installs_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not any(d.startswith("gradio") for d in project["dependencies"])
    assert any(d.startswith("gradio==") for d in project["optional-dependencies"]["app"])
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert '".[app,test]"' in ci


def _readme_bash_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [b.strip() for b in text.split("```bash\n")[1:] for b in [b.split("```", 1)[0]]]


def test_readme_set_up_commands_are_ci_and_the_app():
    """The README's test command is .ci/run's, character for character; its main command installs the app."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_command = next(line for line in ci.splitlines() if "python -m pytest" in line and not line.startswith("#"))
    commands = [line for block in _readme_bash_blocks() for line in block.splitlines()]
    assert ci_command in commands, f"README has no line equal to .ci/run's test command:\n{ci_command}"
    main = next(line for line in commands if line.endswith("python app.py") and "pip install" in line)
    assert '-e ".[app]"' in main, main
    pins = [re.search(r"(torch==\S+ torchvision==\S+)", c).group(1) for c in (ci_command, main)]
    assert pins[0] == pins[1], f"the two set-up commands pin different torch: {pins}"
    assert "--index-url https://download.pytorch.org/whl/cpu" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_licence_file_matches_the_declared_licence():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == {"text": "MIT"}
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
