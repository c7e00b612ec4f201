"""The full calibration run behind docs/calibration.md: every design, in chunks, resumable.

Each design is a shipped spec in ``models/calibration/`` with, for the variants, some
``[design]`` values replaced (``DESIGNS``). Replicates run in chunks of ``--chunk`` on one
Dask LocalCluster, one chunk per design in turn; after each chunk the replicate table is appended to
``benchmarks/results/calibration/<design>.csv`` (values rounded to 6 significant digits),
so a stopped run keeps what it did and a rerun resumes at the next replicate index (seeds
depend on the study seed and the index only, so chunks give the table one run would).
``--figures`` turns the tables into ``docs/figures/calibration_<design>_{ranks,ecdf}.png``
and ``docs/figures/calibration_summary.json``.

Run (long: under ``nice``, in the background)::

    nice -n 19 python benchmarks/calibration_full_run.py --workers 2 \
        --design gaussian=1000 --design binomial=1000 > /tmp/calibration.log 2>&1 &
    python benchmarks/calibration_full_run.py --figures
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import warnings
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common

SPECS = common.REPO_ROOT / "models" / "calibration"
TABLES = common.RESULTS_DIR / "calibration"
FIGURES = common.REPO_ROOT / "docs" / "figures"

#: design name -> (spec file, [design] values replaced)
DESIGNS: dict[str, tuple[str, dict]] = {
    "gaussian": ("calibration_gaussian.toml", {}),
    "binomial": ("calibration_binomial.toml", {}),
    "binomial_sparse": ("calibration_binomial.toml", {"control_risk": 0.02}),
    "binomial_3_trials": ("calibration_binomial.toml", {"trials": 3}),
    "binomial_15_trials": ("calibration_binomial.toml", {"trials": 15}),
    "gaussian_3_trials": ("calibration_gaussian.toml", {"trials": 3}),
    "gaussian_15_trials": ("calibration_gaussian.toml", {"trials": 15}),
    "binomial_dense": ("calibration_binomial.toml", {"control_risk": 0.5}),
    "survival": ("calibration_survival.toml", {}),
    "poisson": ("calibration_poisson.toml", {}),
}


def design_study(name: str):
    """The :class:`CalibrationStudy` of design ``name``."""
    from bayes_ipd.calibration import read_calibration_spec

    spec, changes = DESIGNS[name]
    study = read_calibration_spec(SPECS / spec)
    if "trials" in changes:
        changes = {**changes, "participants": study.participants[0]}
    return dataclasses.replace(study, **changes)


def _done(path: Path) -> int:
    if not path.exists():
        return 0
    import pandas as pd

    return len(pd.read_csv(path))


def run_chunk(name: str, target: int, chunk: int, client) -> bool:
    """Run the next chunk of design ``name`` (up to ``target`` replicates in all) and append
    it to its table; False when the design already has ``target``."""
    import pandas as pd

    from bayes_ipd.calibration.engine import run_rows

    study = design_study(name)
    path = TABLES / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    start = _done(path)
    if start < target:
        n = min(chunk, target - start)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = run_rows(study, n, client, start=start)
        errors = [r for r in rows if "error" in r]
        good = pd.DataFrame([r for r in rows if "error" not in r])
        good.to_csv(path, mode="a", header=not path.exists(), index=False, float_format="%.6g")
        if errors:
            with (TABLES / f"{name}_failures.jsonl").open("a", encoding="utf-8") as f:
                for r in errors:
                    f.write(json.dumps(r) + "\n")
        print(
            f"{time.strftime('%H:%M:%S')} {name}: {start + n}/{target} "
            f"({n / (time.perf_counter() - t0) * 60:.1f} per minute, {len(errors)} failed)",
            flush=True,
        )
    return start < target


def result_of(name: str):
    """A :class:`CalibrationResult` from the saved table of design ``name``."""
    import pandas as pd

    from bayes_ipd.calibration import CalibrationResult

    table = pd.read_csv(TABLES / f"{name}.csv")
    failures: list[tuple[int, str]] = []
    fail_path = TABLES / f"{name}_failures.jsonl"
    if fail_path.exists():
        for line in fail_path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            failures.append((r["replicate"], r["error"]))
    seconds = float(table["seconds"].sum())
    return CalibrationResult(design_study(name), table, tuple(failures), 2, seconds)


def _coverage_rows(s: dict) -> dict[str, tuple[float, float]]:
    p, two = s["parameters"], s["two_stage"]
    pairs = {
        "one-stage CrI mu": p["mu"],
        "DL CI": two["DL"],
        "REML CI": two["REML"],
        "REML+HKSJ CI": two["REML+HKSJ"],
        "one-stage CrI tau": p["tau"],
        "one-stage PI": p["theta_new"],
        "REML PI": two["REML PI"],
    }
    return {k: (v["coverage_95"], v["coverage_mcse"]) for k, v in pairs.items()}


def figures() -> None:
    """Figures and the summary JSON of every design with a table."""
    from bayes_ipd.plots import save_figure

    summary = {}
    for name in DESIGNS:
        if not (TABLES / f"{name}.csv").exists():
            continue
        result = result_of(name)
        s = result.summary()
        s["seconds_per_replicate"] = float(result.table["seconds"].median())
        s["ess_bulk_min_median"] = float(result.table["ess_bulk_min"].median())
        s["rhat_max_over_1_05"] = int((result.table["r_hat_max"] > 1.05).sum())
        summary[name] = s
        n = s["replications"]
        save_figure(
            result.rank_plot(title=f"{name}: SBC rank histograms ({n} replicates)"),
            FIGURES / f"calibration_{name}_ranks.png",
        )
        save_figure(
            result.ecdf_plot(title=f"{name}: ECDF difference, 95% simultaneous band ({n})"),
            FIGURES / f"calibration_{name}_ecdf.png",
        )
        print(f"== {name}\n{result!r}")
    if summary:
        from bayes_ipd.plots.sbc import coverage_plot

        rows = {name: _coverage_rows(s) for name, s in summary.items()}
        save_figure(
            coverage_plot(rows, title="Coverage of 95% intervals"),
            FIGURES / "calibration_coverage.png",
        )
    out = FIGURES / "calibration_summary.json"
    out.write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    print(markdown_tables(summary))


def _cell(v: dict) -> str:
    return f"{v['coverage_95']:.3f} ({v['coverage_mcse']:.3f})"


def markdown_tables(summary: dict) -> str:
    """The tables of docs/calibration.md: SBC, coverage, sampler, per design."""
    out = [
        "| design | replicates | rank χ² p: mu | tau | theta_new | mean rank mu | tau |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        p = s["parameters"]
        out.append(
            f"| {name} | {s['replications']} | {p['mu']['rank_chi2_p']:.3f} | "
            f"{p['tau']['rank_chi2_p']:.3f} | {p['theta_new']['rank_chi2_p']:.3f} | "
            f"{p['mu']['mean_rank']:.3f} | {p['tau']['mean_rank']:.3f} |"
        )
    out += [
        "",
        "| design | one-stage CrI mu | DL CI | REML CI | REML+HKSJ CI | one-stage CrI tau "
        "| one-stage PI | REML PI (n) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        p, two = s["parameters"], s["two_stage"]
        out.append(
            f"| {name} | {_cell(p['mu'])} | {_cell(two['DL'])} | {_cell(two['REML'])} | "
            f"{_cell(two['REML+HKSJ'])} | {_cell(p['tau'])} | {_cell(p['theta_new'])} | "
            f"{_cell(two['REML PI'])} ({two['REML PI']['n']}) |"
        )
    out += [
        "",
        "| design | with divergences | R-hat > 1.01 | R-hat > 1.05 | median min bulk ESS "
        "| failed | trials excluded (two-stage) | median s per replicate |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        out.append(
            f"| {name} | {s['divergent_replications']} | {s['rhat_failures']} | "
            f"{s['rhat_max_over_1_05']} | {s['ess_bulk_min_median']:.0f} | "
            f"{s['failed_replications']} | {s['excluded_trials']} | "
            f"{s['seconds_per_replicate']:.2f} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", action="append", default=[], metavar="NAME=N")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--figures", action="store_true")
    args = parser.parse_args(argv)
    if args.design:
        from bayes_ipd.calibration.engine import connect

        plan = [(d.split("=")[0], int(d.split("=")[1])) for d in args.design]
        for name, _ in plan:
            design_study(name)  # a bad design fails before the cluster starts
        client, cluster = connect(args.workers)
        try:
            # round robin, one chunk per design in turn: a stopped run has all designs
            # at similar counts; a design listed twice gets two chunks per round
            while any([run_chunk(name, target, args.chunk, client) for name, target in plan]):
                pass
        finally:
            client.close()
            cluster.close()
    if args.figures:
        figures()


if __name__ == "__main__":
    main()
