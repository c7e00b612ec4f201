"""What the report says about its own making: run date, software versions, and the
sampler's diagnostics in words."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bayes_ipd.conventions import distribution_version
from bayes_ipd.report.cells import MISSING, column_cells

__all__ = ["SOFTWARE", "diagnostic_rows", "run_date", "software_versions"]

SOFTWARE: tuple[str, ...] = ("bayes_ipd", "pymc", "nutpie", "arviz", "numpy")
"""Distributions whose versions the report lists (after Python's)."""

_DIAGNOSTIC_LABELS: dict[str, str] = {
    "backend": "Sampler",
    "draws": "Draws per chain",
    "tune": "Tuning steps per chain",
    "chains": "Chains",
    "seed": "Seed",
    "divergences": "Divergent transitions",
    "r_hat_max": "Largest R-hat",
    "ess_bulk_min": "Smallest bulk ESS",
    "ess_tail_min": "Smallest tail ESS",
    "compile_seconds": "Compile or cache-load time (s)",
    "sampling_seconds": "Sampling time (s)",
    "seconds": "Total time (s)",
}
_COMPILED_FROM: dict[str, str] = {
    "memory": "reused from memory (compiled earlier in this session)",
    "disk": "loaded from the disk cache (compiled by an earlier run)",
    "compiled": "compiled for this run",
    "": "not applicable (PyMC's own sampler)",
}


def run_date(now: datetime | None = None) -> str:
    """``2026-12-07 08:45 UTC``: when the report was written."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")


def software_versions() -> tuple[tuple[str, str], ...]:
    """``(name, version)`` of Python and of :data:`SOFTWARE`, read from the installed
    distributions' metadata (nothing is imported)."""
    return (
        ("python", platform.python_version()),
        *((n, distribution_version(n, missing="not installed")) for n in SOFTWARE),
    )


def diagnostic_rows(diagnostics: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The sampler's diagnostics (``SamplingDiagnostics.to_dict()``) as labelled rows.

    ``reused_compiled`` and ``compiled_from`` become one row, ``Compiled model``, saying
    where the compiled model came from: the two flags side by side read as a contradiction
    (``reused_compiled False`` beside ``compiled_from disk``)."""
    rows: list[tuple[str, str]] = []
    for key, value in diagnostics.items():
        if key in ("reused_compiled", "warnings"):
            continue
        if key == "compiled_from":
            text = _COMPILED_FROM.get(str(value), str(value))
            rows.append(("Compiled model", text))
            continue
        label = _DIAGNOSTIC_LABELS.get(key, key.replace("_", " ").capitalize())
        rows.append((label, column_cells(key, [value])[0]))
    warnings = diagnostics.get("warnings") or []
    rows.append(("Warnings", "; ".join(map(str, warnings)) if warnings else MISSING))
    return tuple(rows)
