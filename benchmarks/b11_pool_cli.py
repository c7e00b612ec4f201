"""B11: ``bayes-ipd pool`` on the BCG aggregate file vs importing what it needs.

Every case is a fresh process, run in rounds one after the other (so that they share the
machine's load); the fastest of each case counts:

* baseline: ``python -c "import statsmodels.api, matplotlib"`` — the libraries a
  two-stage analysis is expected to load;
* ours: README's ``bayes-ipd pool`` example, ``python -m bayes_ipd.cli pool
  bayes_ipd/datasets/bcg.csv --estimate yi --var vi --study trial --scale logRR --method
  REML --hksj --forest <tmp>/forest.png --json``: REML + HKSJ pooling of the 13 BCG log
  risk ratios, the forest plot written as PNG, the result printed as JSON (no PyMC,
  PyTensor or numba is imported on this route).

Figure: process wall seconds. Ratio: ours / baseline (target <= 1.5).
Run: ``python benchmarks/b11_pool_cli.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from benchmarks.common import Row

NAME = "b11_pool_cli"
POOL_OVER_IMPORT_MAX = 1.5
BASELINE = "import statsmodels.api, matplotlib"
POOL_ARGS = (
    "pool",
    "bayes_ipd/datasets/bcg.csv",
    "--estimate",
    "yi",
    "--var",
    "vi",
    "--study",
    "trial",
    "--scale",
    "logRR",
    "--method",
    "REML",
    "--hksj",
    "--json",
)


def _timed(argv: list[str]) -> float:
    run = common.run_process(argv)
    if run.returncode != 0:
        raise RuntimeError(f"{argv!r} failed ({run.returncode}):\n{run.stderr[-2000:]}")
    return run.wall_seconds


def run(repeats: int = 3, results_dir: Path | None = None) -> dict:
    """``repeats`` rounds of baseline then ours; writes ``<results_dir>/b11_pool_cli.json``."""
    info = common.machine_info()
    walls: dict[str, list[float]] = {"baseline": [], "pool": []}
    with tempfile.TemporaryDirectory() as tmp:
        ours = [sys.executable, "-m", "bayes_ipd.cli", *POOL_ARGS, "--forest", f"{tmp}/f.png"]
        for _ in range(repeats):
            walls["baseline"].append(_timed([sys.executable, "-c", BASELINE]))
            walls["pool"].append(_timed(ours))
    best = {case: min(seconds) for case, seconds in walls.items()}
    rows = [
        Row(
            f"wall: bayes-ipd pool vs python -c '{BASELINE}' (target <= 1.5)",
            best["pool"],
            best["baseline"],
            best["pool"] / best["baseline"],
            unit="x",
        )
    ]
    payload: dict[str, Any] = {
        "benchmark": NAME,
        "machine": info,
        "all_process_wall_seconds": walls,
        "fastest": best,
        "pool_over_import": best["pool"] / best["baseline"],
        "pool_over_import_target": POOL_OVER_IMPORT_MAX,
        "rows": [r.to_dict() for r in rows],
        "load_average_at_end": common.load_average(),
    }
    path = common.write_results(NAME, payload, results_dir)
    common.print_report("B11 bayes-ipd pool, BCG aggregate file", rows, payload, path)
    return payload


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line: ``python benchmarks/b11_pool_cli.py [--repeats N]``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="rounds of both cases")
    p.add_argument("--results-dir", type=Path, default=None)
    args = p.parse_args(argv)
    return run(args.repeats, args.results_dir)


if __name__ == "__main__":
    main()
