"""Prior sensitivity sweeps of an analysis spec: its ``[sensitivity]`` grid, the CLI's sweep.

The sweep itself (``sensitivity(result, tau=[...], effect=[...])``, :class:`SensitivityResult`,
:func:`default_grid`) is part of the one-stage route, :mod:`bayes_ipd.one_stage.sensitivity`,
and is re-exported here; this module adds what an analysis spec needs: the sweep of a spec's
``[sensitivity]`` grid (:attr:`bayes_ipd.spec.AnalysisSpec.sensitivity`, checked once by the
spec, :class:`~bayes_ipd.spec_sections.SensitivityGrid`), reading a grid from a TOML file, and
``bayes-ipd run --sensitivity``.

In a TOML spec, a ``[sensitivity]`` section lists the grid::

    [sensitivity]
    tau = ["half_normal(0.5)", "half_normal(1)", "half_cauchy(0.5)", "turner()"]
    effect = ["normal(0, 1)", "normal(0, 10)"]

``bayes-ipd run SPEC --sensitivity`` runs it (without the section: :func:`default_grid`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bayes_ipd.errors import SpecError
from bayes_ipd.one_stage.sensitivity import (
    COLUMNS,
    PARAMETERS,
    SensitivityResult,
    default_grid,
    sensitivity,
    two_stage_reference,
)
from bayes_ipd.plots import save_figure
from bayes_ipd.spec_sections import GRID_SLOTS, SensitivityGrid, grid_from_table

__all__ = [
    "COLUMNS",
    "GRID_SLOTS",
    "PARAMETERS",
    "SensitivityGrid",
    "SensitivityResult",
    "cli_sweep",
    "default_grid",
    "grid_from_table",
    "read_grid",
    "sensitivity",
    "sweep_for_spec",
    "two_stage_reference",
]


def read_grid(path: str | Path) -> dict[str, tuple] | None:
    """The ``[sensitivity]`` section of the TOML file at ``path`` (None when absent).

    Checked as the spec checks it (:class:`~bayes_ipd.spec_sections.SensitivityGrid`); a
    whole analysis spec has it already, in :attr:`bayes_ipd.spec.AnalysisSpec.sensitivity`.
    """
    doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    table = doc.get("sensitivity")
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise SpecError(f"{path}: [sensitivity] must be a table, got {table!r}")
    return SensitivityGrid.from_dict(table).by_slot()


def sweep_for_spec(
    spec: Any, result: Any, say: Callable[[str], None] | None = None
) -> SensitivityResult:
    """The sweep of an analysis spec: its ``[sensitivity]`` grid
    (:attr:`~bayes_ipd.spec.AnalysisSpec.sensitivity`), else :func:`default_grid`."""
    given: SensitivityGrid | None = getattr(spec, "sensitivity", None)
    grid = (given.by_slot() if given is not None else {}) or default_grid(result.built.priors.tau)
    other = [slot for slot in grid if slot not in GRID_SLOTS]  # a network spec's slots
    if other:
        raise SpecError(
            f"unknown key sensitivity.{other[0]}; allowed keys in [sensitivity]: "
            f"{', '.join(GRID_SLOTS)}"
        )
    return sensitivity(result, tau=grid.get("tau"), effect=grid.get("effect"), say=say)


def cli_sweep(
    spec: Any, result: Any, out_dir: str | None, say: Callable[[str], None]
) -> dict[str, Any]:
    """``bayes-ipd run --sensitivity``: the sweep, its report through ``say``, and with
    ``out_dir`` the files ``sensitivity.csv`` and ``sensitivity.png``; returns the JSON
    payload (:meth:`SensitivityResult.to_dict`, plus ``files``)."""
    import sys

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    sweep = sweep_for_spec(spec, result, say=progress if say is not None else None)
    say("\n" + repr(sweep))
    payload = sweep.to_dict()
    if out_dir is not None:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        csv, png = folder / "sensitivity.csv", folder / "sensitivity.png"
        sweep.table.to_csv(csv, index=False)
        save_figure(sweep.plot(), png)
        payload["files"] = {"table": str(csv), "figure": str(png)}
    return payload
