"""B9: the two-stage ITE method grid, seconds per replication, vs a plain library loop.

One replication: simulate 8 trials x 500 rows (:class:`bayes_ipd.ite.Scenario`, linear
surface), fit every method of :data:`bayes_ipd.ite.DEFAULT_METHODS` (stage 1 in each trial,
stage 2, ITE for 500 new patients) with :func:`bayes_ipd.ite.fit_ite`.

Baseline: the same stage-1 models written as a plain loop of statsmodels / scikit-learn
calls per trial (``sm.OLS``, ``RidgeCV`` / ``LassoCV`` pipelines, random forest and
histogram gradient boosting T-learners, the conjugate update in numpy), pooled by an
inverse-variance average of the trials' predictions at each patient (weights from the
per-trial OLS prediction variance; for bootstrap weights the same refits), run with one
BLAS / OpenMP thread as :func:`bayes_ipd.ite.fit_ite` runs its learners (on a shared
machine, scikit-learn's default of one OpenMP thread per core made the baseline's
histogram boosting up to 70x slower under load, which measures the load, not the code).
It has no multivariate REML, no Bayesian stage 2 and no checks, so it is a floor for what
the grid costs: ratio = baseline / ours (1 = no overhead; below 1 = the framework's extra
work: REML optimisation, MCMC of mvbayes, mixture draws, validation).

Run: ``python benchmarks/b9_ite_grid.py [--smoke] [--no-isolate] [--replicates N]``.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from benchmarks.common import Row

NAME = "b9_ite_grid"


@dataclass(frozen=True)
class Config:
    """Sizes of one B9 run."""

    n_trials: int = 8
    n_per_trial: int = 500
    replicates: int = 2
    n_test: int = 500
    n_boot: int = 10
    seed: int = 909


FULL = Config()
SMOKE = Config(n_trials=3, n_per_trial=60, replicates=1, n_test=20, n_boot=2)


# --------------------------------------------------------------------- the baseline loop


def _plain_stage1(stage1: str, x: np.ndarray, t: np.ndarray, y: np.ndarray, seed: int) -> Any:
    """One trial's model as plain library calls; returns a function x -> ITE."""
    import statsmodels.api as sm
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import LassoCV, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    design = np.column_stack([np.ones(len(y)), x, t, t[:, None] * x])
    p = x.shape[1]
    if stage1 in ("ols", "bayes"):
        if stage1 == "ols":
            b = np.asarray(sm.OLS(y, design).fit().params)[1 + p :]
        else:
            xtx = design.T @ design
            b = (len(y) / (len(y) + 1.0)) * np.linalg.solve(xtx, design.T @ y)[1 + p :]
        return lambda z: b[0] + z @ b[1:]
    if stage1 in ("ridge", "lasso"):
        reg = (
            RidgeCV(alphas=np.logspace(-3, 3, 13))
            if stage1 == "ridge"
            else LassoCV(alphas=30, cv=5, max_iter=5000)
        )
        model = make_pipeline(StandardScaler(), reg).fit(design[:, 1:], y)
        one = lambda z, a: np.column_stack([z, np.full(len(z), a), a * z])  # noqa: E731
        return lambda z: model.predict(one(z, 1.0)) - model.predict(one(z, 0.0))
    make = (
        (lambda s: RandomForestRegressor(n_estimators=60, min_samples_leaf=10, random_state=s))
        if stage1 == "forest"
        else (lambda s: HistGradientBoostingRegressor(max_iter=100, max_depth=3, random_state=s))
    )
    arm = t == 1
    m1, m0 = make(seed).fit(x[arm], y[arm]), make(seed + 1).fit(x[~arm], y[~arm])
    return lambda z: m1.predict(z) - m0.predict(z)


def _ols_variance(x: np.ndarray, t: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    import statsmodels.api as sm

    design = np.column_stack([np.ones(len(y)), x, t, t[:, None] * x])
    p = x.shape[1]
    cov = np.asarray(sm.OLS(y, design).fit().cov_params())[1 + p :, 1 + p :]
    c = np.column_stack([np.ones(len(z)), z])
    return np.einsum("ij,jk,ik->i", c, cov, c)


def baseline_method(method: Any, trials: list, z: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Inverse-variance average of the trials' plain-loop predictions."""
    preds, variances = [], []
    for i, (x, t, y) in enumerate(trials):
        preds.append(_plain_stage1(method.stage1, x, t, y, seed + i)(z))
        if method.weights == "bootstrap" and method.stage2 == "weighted":
            rng = np.random.default_rng(seed + i)
            boots = []
            for b in range(n_boot):
                idx = rng.choice(len(y), len(y))
                boots.append(_plain_stage1(method.stage1, x[idx], t[idx], y[idx], seed + b)(z))
            variances.append(np.var(boots, axis=0, ddof=1))
        else:
            variances.append(_ols_variance(x, t, y, z))
    w = 1.0 / np.maximum(np.asarray(variances), 1e-12)
    return (w * np.asarray(preds)).sum(axis=0) / w.sum(axis=0)


# --------------------------------------------------------------------------- the case


def grid_case(
    n_trials: int, n_per_trial: int, replicates: int, n_test: int, n_boot: int, seed: int
) -> dict[str, Any]:
    """Per method: seconds per replication, ours and baseline, in this process."""
    from threadpoolctl import threadpool_limits

    from bayes_ipd.ite import DEFAULT_METHODS, Scenario, fit_ite, ite_data, simulate_ite
    from bayes_ipd.ite.simulation import new_patients, true_ite

    scenario = Scenario(n_trials=n_trials, n_per_trial=n_per_trial)
    ours: dict[str, list[float]] = {m.label: [] for m in DEFAULT_METHODS}
    base: dict[str, list[float]] = {m.label: [] for m in DEFAULT_METHODS}
    mae: dict[str, list[float]] = {m.label: [] for m in DEFAULT_METHODS}
    for r in range(replicates):
        frame, _ = simulate_ite(scenario, seed + r)
        data = ite_data(
            frame, study="trial", treatment="treat", outcome="y", covariates=["x1", "x2"]
        )
        z, _ = new_patients(scenario, n_test, seed + 1000 + r)
        truth = true_ite(scenario, z)
        trials = [(tr.x, tr.treat, tr.y) for tr in data.trials]
        for m in DEFAULT_METHODS:
            t0 = time.perf_counter()
            result = fit_ite(
                data,
                m.stage1,
                m.stage2,
                weights=m.weights,
                meta=m.meta,
                n_boot=n_boot,
                seed=seed + r,
            )
            ite = result.predict(z).ite
            ours[m.label].append(time.perf_counter() - t0)
            mae[m.label].append(float(np.median(np.abs(ite - truth))))
            t0 = time.perf_counter()
            with threadpool_limits(1):  # as fit_ite runs its learners
                baseline_method(m, trials, z, n_boot, seed + r)
            base[m.label].append(time.perf_counter() - t0)
    return {"ours": ours, "baseline": base, "mae": mae}


def table_rows(out: dict[str, Any]) -> list[Row]:
    rows = []
    for label in out["ours"]:
        o, b = statistics.fmean(out["ours"][label]), statistics.fmean(out["baseline"][label])
        rows.append(Row(f"{label}: s per replication", o, b, common.ratio(b, o)))
    total_o = sum(statistics.fmean(v) for v in out["ours"].values())
    total_b = sum(statistics.fmean(v) for v in out["baseline"].values())
    rows.append(
        Row("whole grid: s per replication", total_o, total_b, common.ratio(total_b, total_o))
    )
    return rows


def run(
    config: Config = FULL,
    *,
    isolate: bool = True,
    results_dir: Path | None = None,
    wait_load: float | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run B9 and write ``<results_dir>/b9_ite_grid.json``; returns the payload."""
    info, out = common.single_case(NAME, "grid_case", config, isolate, wait_load)
    rows = table_rows(out)
    targets = {"note": "no target: the baseline is a floor (no stage-2 work)"}
    payload = common.result_payload(NAME, config, info, rows, cases=out, targets=targets)
    path = common.write_results(NAME, payload, results_dir)
    if verbose:
        title = (
            f"B9 ITE grid, {config.n_trials} trials x {config.n_per_trial} rows, "
            f"{config.replicates} replications: ours = fit_ite + predict, baseline = plain loop"
        )
        common.print_report(title, rows, payload, path)
    return payload


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line: ``python benchmarks/b9_ite_grid.py [--smoke] [--no-isolate]
    [--replicates N]``."""
    counts = {"replicates": "replications of the grid (default 2)"}
    return common.standard_main(run, SMOKE, FULL, __doc__.splitlines()[0], argv, counts)


if __name__ == "__main__":
    main()
