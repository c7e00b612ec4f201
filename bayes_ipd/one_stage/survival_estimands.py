"""The survival estimands of a one-stage result, as methods: RMST differences, each arm's
survival curve in each trial and a new trial, the pooled hazard ratio over time, median
survival, and their figures (:class:`SurvivalEstimands`, a base of
:class:`~bayes_ipd.one_stage.result.OneStageResult`).

The computations are functions of draws in :mod:`bayes_ipd.checks` (where the new trial and
the extrapolation beyond follow-up are defined: :mod:`~bayes_ipd.checks.arm_hazards`,
:mod:`~bayes_ipd.checks.rmst`, :mod:`~bayes_ipd.checks.survival_estimands`); the figures are
:mod:`bayes_ipd.plots.survival_curves` and
:mod:`bayes_ipd.plots.log_cumulative_hazard`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from bayes_ipd.checks.baseline_hazard import has_baseline_hazard
from bayes_ipd.checks.kaplan_meier import observed_km
from bayes_ipd.checks.rmst import AVERAGE, follow_up_times, rmst_difference
from bayes_ipd.checks.survival_curves import predictive_survival
from bayes_ipd.checks.survival_estimands import (
    hazard_ratio_curve,
    median_survival,
    survival_curves,
)
from bayes_ipd.checks.survival_plots import log_cumulative_hazard_ppc
from bayes_ipd.errors import SpecError
from bayes_ipd.plots import km_ppc_plot
from bayes_ipd.plots.log_cumulative_hazard import log_cumulative_hazard_plot
from bayes_ipd.plots.survival_curves import hazard_ratio_curve_plot, survival_curves_plot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bayes_ipd.data import IPD

__all__ = [
    "SURVIVAL_FIGURES",
    "SurvivalEstimands",
    "rmst_lines",
    "survival_figures",
    "survival_tables",
]


def _band(level: float) -> str:
    return f"{100 * level:g}% band"


class SurvivalEstimands:
    """Survival estimands as methods of a one-stage fit (``self`` is a
    :class:`~bayes_ipd.one_stage.posterior.Posterior` of a survival model)."""

    def _follow_up(self, ipd: IPD | None) -> dict[str, float] | None:
        if ipd is None:
            return None
        return follow_up_times(ipd, self.built.design.studies)  # type: ignore[attr-defined]

    def rmst_difference(
        self, horizons: Any = None, *, level: float = 0.95, ipd: IPD | None = None
    ) -> pd.DataFrame:
        """Posterior RMST difference (experimental minus control) up to each horizon, per
        trial and averaged over trials with equal weights
        (:func:`bayes_ipd.checks.rmst.rmst_difference`).

        Parameters
        ----------
        horizons : float or sequence of float, optional
            Times > 0; default: the spec's ``rmst_horizons``.
        level : float
            Coverage of the equal-tailed interval.
        ipd : IPD, optional
            The fitted participant rows: horizons beyond a trial's last follow-up are then
            named in a warning (an extrapolation with the last interval's constant hazard)
            and flagged in the ``extrapolated`` column.

        Returns
        -------
        pandas.DataFrame
            ``study, horizon, mean, sd, median, q025, q975, ess_bulk, r_hat, p_gt_0,
            extrapolated``.

        Raises
        ------
        SpecError
            No horizon given nor in the spec, or a horizon ``<= 0``.

        Examples
        --------
        >>> result.rmst_difference([24, 36])  # doctest: +SKIP
        """
        if horizons is None:
            horizons = getattr(self.built.spec, "rmst_horizons", ())  # type: ignore[attr-defined]
            if not horizons:
                raise SpecError("no RMST horizon: give horizons= or set model.rmst_horizons")
        return rmst_difference(self, horizons, level=level, follow_up=self._follow_up(ipd))  # type: ignore[arg-type]

    def survival_curves(
        self,
        *,
        times: Any = None,
        level: float = 0.95,
        new_trial: bool = True,
        baseline: str = "average",
        seed: int | None = None,
        end: float | None = None,
    ) -> pd.DataFrame:
        """Each arm's posterior survival curve in each trial and a new trial, at the
        trial's covariate means (:func:`bayes_ipd.checks.survival_estimands.survival_curves`)."""
        return survival_curves(
            self,  # type: ignore[arg-type]
            times=times,
            level=level,
            new_trial=new_trial,
            baseline=baseline,
            seed=seed,
            end=end,
        )

    def hazard_ratio_curve(
        self, *, level: float = 0.95, new_trial: bool = True, seed: int | None = None
    ) -> pd.DataFrame:
        """The pooled hazard ratio in each interval with its band, and a new trial's
        (:func:`bayes_ipd.checks.survival_estimands.hazard_ratio_curve`)."""
        return hazard_ratio_curve(self, level=level, new_trial=new_trial, seed=seed)  # type: ignore[arg-type]

    def median_survival(
        self,
        *,
        level: float = 0.95,
        until: float | Mapping[str, float] | None = None,
        ipd: IPD | None = None,
        new_trial: bool = True,
        baseline: str = "average",
        seed: int | None = None,
    ) -> pd.DataFrame:
        """Posterior median survival per arm, "not reached" (NaN) beyond ``until`` (each
        trial's last follow-up when ``ipd`` is given)
        (:func:`bayes_ipd.checks.survival_estimands.median_survival`)."""
        if until is None and ipd is not None:
            until = self._follow_up(ipd)
        return median_survival(
            self,  # type: ignore[arg-type]
            level=level,
            until=until,
            new_trial=new_trial,
            baseline=baseline,
            seed=seed,
        )

    def survival_curves_plot(
        self, *, level: float = 0.95, title: str | None = None, **options: Any
    ) -> Figure:
        """:meth:`survival_curves` drawn, one panel per trial and the new trial last
        (:func:`bayes_ipd.plots.survival_curves.survival_curves_plot`)."""
        frame = self.survival_curves(level=level, **options)
        default = "Posterior survival per arm, at the trials' covariate means"
        return survival_curves_plot(frame, title=title or default, band_label=_band(level))

    def hazard_ratio_plot(
        self, *, level: float = 0.95, title: str | None = None, end: float | None = None
    ) -> Figure:
        """:meth:`hazard_ratio_curve` drawn (pooled and new trial, log axis)
        (:func:`bayes_ipd.plots.survival_curves.hazard_ratio_curve_plot`)."""
        frame = self.hazard_ratio_curve(level=level)
        return hazard_ratio_curve_plot(
            frame, end=end, title=title or "Hazard ratio over time", band_label=_band(level)
        )

    def log_cumulative_hazard_ppc(self, ipd: IPD, **options: Any) -> Figure:
        """``log(-log S)`` against ``log t`` per trial and arm, Kaplan-Meier over the
        predictive band (:func:`bayes_ipd.checks.survival_plots.log_cumulative_hazard_ppc`)."""
        return log_cumulative_hazard_ppc(self, ipd, **options)  # type: ignore[arg-type]


SURVIVAL_FIGURES = {
    "survival_curves": "Posterior survival per arm in each trial and in a new trial",
    "hazard_ratio": "Pooled hazard ratio over time (and in a new trial)",
    "km_ppc": "Kaplan-Meier curves over the posterior expected survival",
    "log_cumulative_hazard": "Log cumulative hazard against log time: Kaplan-Meier over the "
    "posterior expected curve (parallel arms under proportional hazards)",
}
"""The figures of a survival fit by kind (``run --out`` writes ``<kind>.png``), with the
report's captions; the last two need participant rows."""


def _rows_trials(result: Any, ipd: IPD | None) -> list[str]:
    """The fit's trials with participant rows in ``ipd``."""
    if ipd is None or getattr(ipd, "family", None) != result.family:
        return []
    return [s for s in result.built.design.studies if s in ipd.studies]


def survival_figures(result: Any, ipd: IPD | None = None) -> dict[str, Figure]:
    """Every figure of :data:`SURVIVAL_FIGURES` a survival fit can draw, by kind (empty for
    another family or a fit without participant-row trials); the two predictive checks
    only for the trials with rows in ``ipd``."""
    if not result.built.design.k or not has_baseline_hazard(result.family):
        return {}
    trials = _rows_trials(result, ipd)
    # the curves span the follow-up when the rows give it, else the default grid
    end = max(follow_up_times(ipd, trials).values()) if trials else None
    figures: dict[str, Figure] = {}
    if end is not None or result.built.design.cutpoints:
        figures["survival_curves"] = result.survival_curves_plot(end=end)
    figures["hazard_ratio"] = result.hazard_ratio_plot(end=end)
    if trials:  # one predictive computation for both checks (their default draws and seed)
        predicted = predictive_survival(result, ipd, studies=trials)
        observed = observed_km(ipd, trials)
        figures["km_ppc"] = km_ppc_plot(observed, predicted, title=SURVIVAL_FIGURES["km_ppc"])
        figures["log_cumulative_hazard"] = log_cumulative_hazard_plot(
            observed,
            predicted,
            title="Log cumulative hazard: Kaplan-Meier over the posterior expected curve",
        )
    return figures


def survival_tables(result: Any, ipd: IPD | None = None) -> dict[str, pd.DataFrame]:
    """The report's survival tables: ``"median"`` (median survival per arm, "not reached"
    beyond each trial's follow-up when rows are given) and, with the spec's
    ``rmst_horizons``, ``"rmst"`` (empty for another family)."""
    if not has_baseline_hazard(result.family) or not result.built.design.k:
        return {}
    trials = _rows_trials(result, ipd)
    follow_up = follow_up_times(ipd, trials) if trials else None
    tables = {"median": result.median_survival(until=follow_up or None)}
    horizons = getattr(result.built.spec, "rmst_horizons", ())
    if horizons:
        tables["rmst"] = rmst_difference(result, horizons, follow_up=follow_up)
    return tables


def rmst_lines(result: Any) -> list[str]:
    """The RMST block of the printed summary: the equal-weight average over trials at each
    of the spec's ``rmst_horizons`` (empty without them)."""
    horizons = getattr(result.built.spec, "rmst_horizons", ())
    if not horizons or not result.built.design.k:
        return []
    table = rmst_difference(result, horizons)
    average = table[table["study"] == AVERAGE]
    lines = [
        "RMST difference (experimental minus control; average of the trials, equal weights; "
        "per trial: rmst_difference()):"
    ]
    for row in average.itertuples(index=False):
        lines.append(
            f"  up to {row.horizon:g}: median {row.median:.4g}, 95% CrI "
            f"[{row.q025:.4g}, {row.q975:.4g}], P(> 0) = {row.p_gt_0:.3f}"
        )
    return lines
