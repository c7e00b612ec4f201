"""``run_calibration``: a study on Dask, and its result (tables, figures, JSON)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_ipd.calibration.design import CalibrationStudy
from bayes_ipd.calibration.engine import CONNECT_TIMEOUT, connect, run_rows
from bayes_ipd.calibration.replicate import PARAMETERS
from bayes_ipd.calibration.summary import ecdf_band, rank_counts, study_summary
from bayes_ipd.conventions import json_ready
from bayes_ipd.errors import BayesIPDError
from bayes_ipd.plots.sbc import ecdf_difference_plot, rank_histogram_plot

__all__ = ["CalibrationResult", "run_calibration"]


@dataclass(frozen=True, eq=False)
class CalibrationResult:
    """A finished calibration study.

    Attributes
    ----------
    study : CalibrationStudy
    table : pandas.DataFrame
        One row per successful replicate (truths, ranks, coverage flags, two-stage flags
        ``ts_<method>``, divergences, R-hat, ESS, seconds), by replicate index.
    failures : tuple of (int, str)
        Replicates whose fit raised, with the error.
    workers : int
        Dask workers that ran it.
    seconds : float
        Wall time.
    """

    study: CalibrationStudy
    table: pd.DataFrame
    failures: tuple[tuple[int, str], ...]
    workers: int
    seconds: float

    def summary(self) -> dict[str, Any]:
        """The JSON contract: ``replications, engine, workers, parameters{NAME: {rank_chi2_p,
        coverage_95, coverage_mcse, mean_rank}}, two_stage{METHOD: {coverage_95,
        coverage_mcse}}, divergent_replications, seconds`` (plus ``rhat_failures``,
        ``failed_replications``, ``design``)."""
        out = study_summary(self.table, self.study.sbc_draws, self.study.rank_bins)
        out = {
            "replications": out["replications"],
            "engine": "dask",
            "workers": self.workers,
            "parameters": out["parameters"],
            "two_stage": out["two_stage"],
            "divergent_replications": out["divergent_replications"],
            "rhat_failures": out["rhat_failures"],
            "failed_replications": len(self.failures),
            "excluded_trials": out["excluded_trials"],
            "seconds": self.seconds,
            "design": self.study.to_dict(),
        }
        return json_ready(out)

    def rank_counts(self) -> dict[str, np.ndarray]:
        """Rank counts per bin, by parameter."""
        s = self.study
        return {
            p: rank_counts(self.table[f"rank_{p}"], s.sbc_draws, s.rank_bins) for p in PARAMETERS
        }

    def rank_plot(self, *, title: str | None = None) -> Figure:
        """Rank histograms (:func:`bayes_ipd.plots.sbc.rank_histogram_plot`)."""
        return rank_histogram_plot(self.rank_counts(), title=title)

    def ecdf_plot(self, *, title: str | None = None) -> Figure:
        """ECDF differences with simultaneous 95% bands
        (:func:`bayes_ipd.plots.sbc.ecdf_difference_plot`)."""
        draws = self.study.sbc_draws
        z, lower, upper = ecdf_band(len(self.table), draws)
        ecdfs = {}
        for p in PARAMETERS:
            u = (self.table[f"rank_{p}"].to_numpy() + 1) / (draws + 1)
            ecdfs[p] = np.searchsorted(np.sort(u), z, side="right") / max(len(u), 1)
        return ecdf_difference_plot(ecdfs, z, (lower, upper), title=title)

    def __repr__(self) -> str:
        s = self.summary()
        lines = [
            f"Calibration: {s['replications']} replicates on {s['workers']} Dask workers "
            f"in {s['seconds']:.0f} s; {s['divergent_replications']} with divergences, "
            f"{s['rhat_failures']} with R-hat > 1.01, {s['failed_replications']} failed"
        ]
        for name, v in s["parameters"].items():
            lines.append(
                f"  {name:10s} rank chi2 p {v['rank_chi2_p']:.3g}, mean rank {v['mean_rank']:.3f}, "
                f"95% CrI coverage {v['coverage_95']:.3f} (MCSE {v['coverage_mcse']:.3f})"
            )
        for name, v in s["two_stage"].items():
            lines.append(
                f"  two-stage {name:9s} coverage {v['coverage_95']:.3f} "
                f"(MCSE {v['coverage_mcse']:.3f}, n {v['n']})"
            )
        return "\n".join(lines)


def run_calibration(
    study: CalibrationStudy,
    replications: int,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    timeout: float = CONNECT_TIMEOUT,
    say: Callable[[str], None] | None = None,
) -> CalibrationResult:
    """Run a calibration study, every replicate a Dask task.

    Parameters
    ----------
    study : CalibrationStudy
    replications : int
        Simulated meta-analyses (>= 1).
    workers : int, optional
        Local worker processes (default: the machine's cores).
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``) instead of a local cluster; not
        reachable within ``timeout`` seconds: :class:`SchedulerError`.
    client : distributed.Client, optional
        An existing client (then ``workers`` and ``scheduler`` are ignored).
    say : callable, optional
        Progress messages.

    Returns
    -------
    CalibrationResult
        Identical tables for the same study and replications, however many workers.
    """
    if isinstance(replications, bool) or not isinstance(replications, int) or replications < 1:
        raise BayesIPDError(f"replications = {replications!r} must be an integer >= 1")
    t0 = time.perf_counter()
    own = client is None
    cluster = None
    if own:
        client, cluster = connect(workers, scheduler, timeout)
    try:
        n_workers = len(client.scheduler_info().get("workers", {}))
        if say is not None:
            say(f"calibration: {replications} replicates on {n_workers} Dask workers")
        rows = run_rows(study, replications, client, say)
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()
    good = [r for r in rows if "error" not in r]
    failures = tuple((r["replicate"], r["error"]) for r in rows if "error" in r)
    table = pd.DataFrame(good)
    if table.empty:
        raise BayesIPDError(f"every replicate failed; first error: {failures[0][1]}")
    return CalibrationResult(study, table, failures, n_workers, time.perf_counter() - t0)
