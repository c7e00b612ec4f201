"""Simulation scenarios for individualised effects and the method-grid runner.

A :class:`Scenario` generates trials like those of Mainetti et al.: for trial ``k`` with
``n`` participants, covariates ``x1, x2 ~ N(m_k, 1)`` around a trial mean
``m_k ~ N(0, 0.3^2)``, treatment allocated 1:1 (a random permutation), and

``y = a_k + x1 + 0.5 x2 + t * ITE_k(x) + sigma * e``,  ``a_k ~ N(0, 0.5^2)``, ``e ~ N(0, 1)``

with the ITE surface

* ``"linear"``: ``ITE_k(x) = (mu + u_k) + (gamma + v_k)' x``, ``u_k ~ N(0, tau^2)``,
  ``v_k ~ N(0, tau_interaction^2 I)``;
* ``"nonlinear"``: ``ITE_k(x) = (mu + u_k) + (x1^2 - 1) + 0.5 max(x2, 0)``, which no linear
  model in ``x`` represents.

The truth a method is scored against is the ITE of a patient in the average trial
(``u = v = 0``) on ``n_test`` new patients with ``x ~ N(0, I)``; the score is the median
absolute error of the predicted ITEs (Mainetti et al.).

:func:`run_grid` evaluates every (scenario, replicate, method). Each replicate's seeds come
from ``SeedSequence([seed, scenario_index, replicate])``, so the table is identical
whether it runs in this process or on a Dask cluster (``client=``), in any split.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.conventions import readonly
from bayes_ipd.errors import SpecError
from bayes_ipd.plots.benefit import ite_grid_plot

__all__ = [
    "DEFAULT_METHODS",
    "GridResult",
    "Method",
    "Scenario",
    "SimulationTruth",
    "new_patients",
    "run_grid",
    "simulate_ite",
    "true_ite",
]

SURFACES = ("linear", "nonlinear")
COVARIATES = ("x1", "x2")


@dataclass(frozen=True)
class Scenario:
    """One data-generating scenario (module docstring)."""

    n_trials: int = 8
    n_per_trial: int = 500
    tau: float = 0.1
    tau_interaction: float = 0.0
    surface: str = "linear"
    mu: float = 0.5
    gamma: tuple[float, float] = (0.5, -0.3)
    sigma: float = 1.0
    name: str = ""

    def __post_init__(self) -> None:
        if self.surface not in SURFACES:
            raise SpecError(f"surface {self.surface!r}: use one of {SURFACES}")
        if self.n_trials < 2 or self.n_per_trial < 4:
            raise SpecError("a scenario needs at least 2 trials of at least 4 participants")
        if min(self.tau, self.tau_interaction, self.sigma) < 0:
            raise SpecError("tau, tau_interaction and sigma must be non-negative")

    @property
    def label(self) -> str:
        return self.name or (
            f"{self.surface}, K={self.n_trials}, n={self.n_per_trial}, tau={self.tau:g}"
        )


@dataclass(frozen=True, eq=False)
class SimulationTruth:
    """Each trial's random deviations of the ITE surface (``u``: (K,), ``v``: (K, 2))."""

    scenario: Scenario
    studies: tuple[str, ...]
    u: np.ndarray
    v: np.ndarray

    def trial_ite(self, k: int, x: np.ndarray) -> np.ndarray:
        """The true ITE in trial ``k`` at rows ``x``."""
        return true_ite(self.scenario, x, self.u[k], self.v[k])


def true_ite(scenario: Scenario, x: np.ndarray, u: float = 0.0, v: Any = 0.0) -> np.ndarray:
    """True ITE at covariate rows ``x`` (n, 2); ``u``, ``v`` the trial's deviations (0 for the
    average trial)."""
    x = np.atleast_2d(x)
    base = scenario.mu + u
    if scenario.surface == "linear":
        slope = np.asarray(scenario.gamma) + np.broadcast_to(np.asarray(v, dtype=float), (2,))
        return base + x @ slope
    return base + (x[:, 0] ** 2 - 1.0) + 0.5 * np.maximum(x[:, 1], 0.0)


def simulate_ite(
    scenario: Scenario, seed: int | np.random.Generator = 0
) -> tuple[pd.DataFrame, SimulationTruth]:
    """Participant rows (``trial, treat, x1, x2, y, true_ite``) and the truth.

    Examples
    --------
    >>> frame, truth = simulate_ite(Scenario(n_trials=3, n_per_trial=10), seed=1)
    >>> list(frame.columns)
    ['trial', 'treat', 'x1', 'x2', 'y', 'true_ite']
    """
    rng = np.random.default_rng(seed)
    k, n = scenario.n_trials, scenario.n_per_trial
    studies = tuple(f"T{i + 1:02d}" for i in range(k))
    u = rng.normal(0.0, scenario.tau, k)
    v = rng.normal(0.0, scenario.tau_interaction, (k, 2))
    frames = []
    for i in range(k):
        centre = rng.normal(0.0, 0.3, 2)
        x = centre + rng.standard_normal((n, 2))
        t = rng.permutation(np.arange(n) < n // 2).astype(float)
        ite = true_ite(scenario, x, u[i], v[i])
        y = rng.normal(0.0, 0.5) + x[:, 0] + 0.5 * x[:, 1] + t * ite
        y = y + scenario.sigma * rng.standard_normal(n)
        frames.append(
            pd.DataFrame(
                {
                    "trial": studies[i],
                    "treat": t,
                    "x1": x[:, 0],
                    "x2": x[:, 1],
                    "y": y,
                    "true_ite": ite,
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    return frame, SimulationTruth(scenario, studies, readonly(u), readonly(v))


def new_patients(
    scenario: Scenario, n: int, seed: int | np.random.Generator = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` new patients ``x ~ N(0, I)`` and their true ITE in the average trial."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    return x, true_ite(scenario, x)


@dataclass(frozen=True)
class Method:
    """One stage-1 x stage-2 combination with its options."""

    stage1: str
    stage2: str
    weights: str = "auxiliary"
    meta: str = "T"
    random: str = "all"

    @property
    def label(self) -> str:
        extra = f" ({self.weights})" if self.stage2 == "weighted" else ""
        return f"{self.stage1}+{self.stage2}{extra}"


DEFAULT_METHODS: tuple[Method, ...] = (
    Method("ols", "mvma"),
    Method("ols", "weighted"),
    Method("bayes", "mvma"),
    Method("bayes", "mvbayes"),
    Method("bayes", "mixing"),
    Method("ridge", "weighted"),
    Method("lasso", "weighted"),
    Method("forest", "weighted"),
    Method("forest", "weighted", weights="bootstrap"),
    Method("boosting", "weighted"),
    Method("boosting", "weighted", weights="bootstrap"),
)
"""Every feasible combination (ML learners only pool by weighted averaging)."""


def replicate_seeds(seed: int, scenario_index: int, replicate: int) -> tuple[int, int, int]:
    """(data, test-set, method) seeds of one replicate."""
    state = np.random.SeedSequence([int(seed), int(scenario_index), int(replicate)])
    return tuple(int(s) for s in state.generate_state(3))  # type: ignore[return-value]


def evaluate_replicate(
    scenario_index: int,
    scenario: Scenario,
    replicate: int,
    methods: Sequence[Method],
    seed: int,
    n_test: int = 500,
    n_boot: int = 10,
) -> list[dict[str, Any]]:
    """Rows ``scenario, replicate, method, stage1, stage2, weights, mae, seconds`` of one
    replicate (``seconds`` is wall time, the only column that varies between runs)."""
    from bayes_ipd.ite.data import ite_data
    from bayes_ipd.ite.fit import fit_ite

    data_seed, test_seed, method_seed = replicate_seeds(seed, scenario_index, replicate)
    frame, _ = simulate_ite(scenario, data_seed)
    data = ite_data(frame, study="trial", treatment="treat", outcome="y", covariates=COVARIATES)
    x, truth = new_patients(scenario, n_test, test_seed)
    rows = []
    for method in methods:
        start = time.perf_counter()
        result = fit_ite(
            data,
            method.stage1,
            method.stage2,
            random=method.random,
            weights=method.weights,
            meta=method.meta,
            n_boot=n_boot,
            seed=method_seed,
        )
        pred = result.predict(x)
        rows.append(
            {
                "scenario": scenario.label,
                "scenario_index": scenario_index,
                "replicate": replicate,
                "method": method.label,
                **{k: v for k, v in asdict(method).items()},
                "mae": float(np.median(np.abs(pred.ite - truth))),
                "seconds": time.perf_counter() - start,
            }
        )
    return rows


@dataclass(frozen=True, eq=False)
class GridResult:
    """The tidy table of a grid run (one row per scenario x replicate x method)."""

    table: pd.DataFrame = field(repr=False)

    def summary(self) -> pd.DataFrame:
        """Median (over replicates) of the median absolute error, and its Monte Carlo
        spread, per scenario and method."""
        g = self.table.groupby(["scenario", "method"], sort=False)["mae"]
        out = g.agg(["median", "mean", "std", "count"]).rename(
            columns={
                "median": "mae_median",
                "mean": "mae_mean",
                "std": "mae_sd",
                "count": "replicates",
            }
        )
        out["mae_mcse"] = out["mae_sd"] / np.sqrt(out["replicates"])
        return out.reset_index()

    def plot(self, title: str | None = None) -> Any:
        """:func:`bayes_ipd.plots.benefit.ite_grid_plot` of the table."""
        return ite_grid_plot(self.table, title=title)


def run_grid(
    scenarios: Sequence[Scenario],
    methods: Sequence[Method] = DEFAULT_METHODS,
    replicates: int = 10,
    *,
    seed: int = 2024,
    client: Any = None,
    n_test: int = 500,
    n_boot: int = 10,
    progress: Callable[[str], None] | None = None,
) -> GridResult:
    """Evaluate every method on every scenario, ``replicates`` times.

    Parameters
    ----------
    scenarios : sequence of Scenario
    methods : sequence of Method
    replicates : int
    seed : int
        Study seed; see the module docstring.
    client : dask.distributed.Client, optional
        Run the replicates as Dask tasks (in-process by default).
    n_test, n_boot : int
        New patients scored per replicate; bootstrap refits per trial.
    progress : callable, optional
        Called with a line of text per finished replicate (in-process runs).

    Returns
    -------
    GridResult
    """
    tasks = [
        (i, scenario, r, tuple(methods), int(seed), n_test, n_boot)
        for i, scenario in enumerate(scenarios)
        for r in range(replicates)
    ]
    if client is not None:
        futures = client.map(_run_task, tasks, pure=False)
        parts = client.gather(futures)
    else:
        parts = []
        for j, task in enumerate(tasks):
            parts.append(_run_task(task))
            if progress is not None:
                progress(f"replicate {j + 1}/{len(tasks)} done")
    rows = [row for part in parts for row in part]
    return GridResult(pd.DataFrame.from_records(rows))


def _run_task(task: tuple) -> list[dict[str, Any]]:
    return evaluate_replicate(*task)
