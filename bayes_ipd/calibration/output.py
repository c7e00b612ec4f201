"""Files of a calibration study: the replicate table, the summary and the figures."""

from __future__ import annotations

import json
from pathlib import Path

from bayes_ipd.calibration.study import CalibrationResult
from bayes_ipd.plots import save_figure

__all__ = ["CALIBRATION_FILES", "write_outputs"]


CALIBRATION_FILES = {
    "table": "replicates.csv",
    "summary": "summary.json",
    "ranks": "ranks.png",
    "ecdf": "ecdf.png",
}
"""The files :func:`write_outputs` writes, by kind."""


def write_outputs(result: CalibrationResult, out_dir: str | Path) -> dict[str, str]:
    """Write ``replicates.csv``, ``summary.json``, ``ranks.png`` and ``ecdf.png``."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {k: folder / n for k, n in CALIBRATION_FILES.items()}
    result.table.to_csv(paths["table"], index=False)
    paths["summary"].write_text(
        json.dumps(result.summary(), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    save_figure(result.rank_plot(title="SBC rank histograms"), paths["ranks"])
    save_figure(result.ecdf_plot(title="SBC ECDF difference, 95% simultaneous band"), paths["ecdf"])
    return {k: str(v) for k, v in paths.items()}
