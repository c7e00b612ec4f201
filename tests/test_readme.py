"""Every command block and Python example of README.md runs as written, on shipped data,
from a fresh temporary folder.

The two install commands of the Quick start are what CI itself runs (``pip install ...``
and ``pytest``); a line's ``pip install ... &&`` prefix is therefore dropped and a bare
``pytest`` is not re-run from inside the test suite. Everything else runs unchanged.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
PIP_PREFIX = re.compile(r"^pip install \S+(?: \S+)*? && ")

if not README.is_file():
    pytest.skip("not a source checkout", allow_module_level=True)


def _blocks(language: tuple[str, ...]) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text()) if lang in language]


def _commands(block: str) -> list[str]:
    """The block's commands, continuation lines joined, install steps and comments left
    out (see the module docstring)."""
    joined = block.replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = PIP_PREFIX.sub("", line)
        if line.startswith("pip install") or line == "pytest":
            continue
        commands.append(line)
    return commands


SHELL_BLOCKS = [b for b in _blocks(("bash", "sh", "console")) if _commands(b)]
PYTHON_BLOCKS = _blocks(("python",))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def test_readme_has_command_and_python_examples():
    assert SHELL_BLOCKS and PYTHON_BLOCKS
    assert any("bayes-ipd demo" in b for b in SHELL_BLOCKS)


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=lambda b: _commands(b)[0][:40])
def test_readme_command_block_runs(block, tmp_path):
    script = "set -euo pipefail\n" + "\n".join(_commands(block)) + "\n"
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, f"{script}\n--- stderr ---\n{done.stderr[-3000:]}"


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: b.splitlines()[0][:40])
def test_readme_python_example_runs(block, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", block], cwd=tmp_path, env=_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, f"{block}\n--- stderr ---\n{done.stderr[-3000:]}"
