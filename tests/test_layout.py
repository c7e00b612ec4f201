"""The package's shape: routes that must not load a sampler, families as plug-ins, size.

Each check reads the installed package itself (its source files or a fresh interpreter's
``sys.modules``), so it fails the moment a change breaks the layout.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bayes_ipd

PACKAGE = Path(bayes_ipd.__file__).parent
FAMILY_BRANCH = re.compile(r"family\s*(==|!=)\s*[\"']|family\s+(not\s+)?in\s*[(\[{]")
MAX_LINES = 700


def _loaded_after(statement: str) -> set[str]:
    code = f"{statement}; import sys; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "statement",
    [
        "import bayes_ipd.two_stage",
        "import bayes_ipd",
        "from bayes_ipd import fit_two_stage, IPD, AggregateData",
        "from bayes_ipd.cli import build_parser",
        "import bayes_ipd.one_stage.summaries, bayes_ipd.one_stage.design",
    ],
)
def test_two_stage_route_and_summaries_load_no_sampler(statement):
    loaded = _loaded_after(statement)
    assert not {"pymc", "pytensor", "nutpie", "numba"} & loaded


def test_one_stage_route_does_load_pymc():
    # the check above is meaningful only if the probe sees a sampler when one is imported
    assert "pymc" in _loaded_after("from bayes_ipd import fit")


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_family_name_branch_outside_families():
    offenders = []
    for path in _sources():
        if "families" in path.relative_to(PACKAGE).parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if FAMILY_BRANCH.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []


def test_family_branch_pattern_catches_a_branch():
    assert FAMILY_BRANCH.search('if design.family == "gaussian":')
    assert FAMILY_BRANCH.search("if ipd.family in ('binomial', 'survival'):")
    assert not FAMILY_BRANCH.search("if part.family != spec.family:")


def test_no_module_over_the_size_limit():
    sizes = {
        p.relative_to(PACKAGE): len(p.read_text(encoding="utf-8").splitlines()) for p in _sources()
    }
    assert {str(p): n for p, n in sizes.items() if n > MAX_LINES} == {}


def _function_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import statement inside a function body."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom):
                    found.append((inner.lineno, inner.module or ""))
                elif isinstance(inner, ast.Import):
                    found += [(inner.lineno, alias.name) for alias in inner.names]
    return found


def test_no_function_level_import_of_plotting_code():
    # figure code is imported at the top of the modules that use it; only the CLI defers it
    # (a command loads matplotlib when it writes a figure, so `bayes-ipd pool` starts fast)
    cli = PACKAGE / "cli"
    offenders = [
        f"{p.relative_to(PACKAGE)}:{line} {module}"
        for p in _sources()
        if cli not in p.parents
        for line, module in _function_imports(p)
        if module.startswith(("matplotlib", "bayes_ipd.plots"))
    ]
    assert offenders == []


def test_the_command_line_parser_loads_no_plotting_code():
    loaded = _loaded_after("from bayes_ipd.cli import build_parser; build_parser()")
    assert not {m for m in loaded if m.startswith(("matplotlib", "bayes_ipd.plots"))}
