"""The layers of ARCHITECTURE.md as a contract that counts every import.

The contract lives in ``pyproject.toml`` (``[tool.importlinter]``) and is checked by
import-linter's ``lint-imports``, which reads every import statement of a module: at module
level, inside a function and under ``TYPE_CHECKING`` alike (a lazy import is still a
dependency). These tests run it, prove once that a planted upward import fails it, check
that every module of ``bayes_ipd`` sits in exactly one layer, and that no import cycle joins
two packages or two files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "bayes_ipd"

# Files that may import each other: a value and its own reader typed on each other. None
# today; an entry names the pair and says why.
ALLOWED_FILE_CYCLES: dict[frozenset[str], str] = {}

_LINT = (
    "import sys; from importlinter.cli import lint_imports_command; "
    "sys.exit(lint_imports_command(['--no-cache']))"
)


def _contract() -> Mapping:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = doc["tool"]["importlinter"]["contracts"]
    return contract


def _layers() -> list[tuple[str, ...]]:
    """The contract's layers, highest first, each as its module names."""
    layers = []
    for line in _contract()["layers"]:
        sep = "|" if "|" in line else ":"
        layers.append(tuple(name.strip().strip("()") for name in line.split(sep)))
    return layers


def _lint_imports(cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _LINT],
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # exclude_type_checking_imports stays False: type-only imports count.
    return grimp.build_graph(PACKAGE, cache_dir=None)


def test_layer_contract_holds() -> None:
    run = _lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Contracts: 1 kept, 0 broken." in run.stdout


def _copy_sources(target: Path) -> None:
    def ignore(folder: str, names: Iterable[str]) -> set[str]:
        return {n for n in names if not (n.endswith(".py") or (Path(folder) / n).is_dir())}

    shutil.copytree(ROOT / PACKAGE, target / PACKAGE, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")


PLANTS = {
    "function-level": "\n\ndef _planted() -> None:\n"
    "    from bayes_ipd.cli import main  # noqa: F401\n",
    "type-only": "\nfrom typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
    "    from bayes_ipd.cli import main  # noqa: F401\n",
}


@pytest.mark.parametrize("kind", sorted(PLANTS))
def test_planted_upward_import_breaks_the_contract(tmp_path: Path, kind: str) -> None:
    _copy_sources(tmp_path)
    errors = tmp_path / PACKAGE / "errors.py"
    errors.write_text(errors.read_text(encoding="utf-8") + PLANTS[kind], encoding="utf-8")
    run = _lint_imports(tmp_path, {"PYTHONPATH": str(tmp_path)})
    assert run.returncode != 0, run.stdout
    assert "bayes_ipd.errors -> bayes_ipd.cli" in run.stdout, run.stdout


def _layer_of(module: str, layers: list[tuple[str, ...]]) -> list[int]:
    return [
        i
        for i, names in enumerate(layers)
        for name in names
        if module == name or module.startswith(name + ".")
    ]


def test_every_module_sits_in_exactly_one_layer(graph: grimp.ImportGraph) -> None:
    layers = _layers()
    names = [name for layer in layers for name in layer]
    assert len(names) == len(set(names)), "a module is listed twice"
    assert not [n for n in names if n not in graph.modules], "a listed module does not exist"
    misplaced = {
        m: _layer_of(m, layers)
        for m in sorted(graph.modules)
        if m != PACKAGE and len(_layer_of(m, layers)) != 1
    }
    assert not misplaced, f"modules in no layer or in several: {misplaced}"


def test_nothing_imports_the_root_package(graph: grimp.ImportGraph) -> None:
    # bayes_ipd/__init__.py is the public face above every layer (its names resolve lazily).
    assert not graph.find_modules_that_directly_import(PACKAGE)


def _strongly_connected(edges: Mapping[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components with more than one member."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _edges(graph: grimp.ImportGraph, unit: callable) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for m in graph.modules - {PACKAGE}:
        for imported in graph.find_modules_directly_imported_by(m):
            a, b = unit(m), unit(imported)
            if a != b:
                edges.setdefault(a, set()).add(b)
    return edges


def _top_level(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_import_cycle_between_packages(graph: grimp.ImportGraph) -> None:
    assert not _strongly_connected(_edges(graph, _top_level))


def test_no_import_cycle_between_files(graph: grimp.ImportGraph) -> None:
    cycles = [
        c
        for c in _strongly_connected(_edges(graph, str))
        if frozenset(c) not in ALLOWED_FILE_CYCLES
    ]
    assert not cycles
