"""Figures of the time-to-event checks: Kaplan-Meier curves over their predictive bands,
the log cumulative hazard against log time (the same curves on the scale where proportional
hazards are parallel lines), and observed against replicated events per trial and interval
(adapters from the checks' values to :mod:`bayes_ipd.plots`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.figure import Figure

from bayes_ipd.checks.kaplan_meier import observed_km
from bayes_ipd.checks.survival_curves import predictive_survival
from bayes_ipd.plots import km_ppc_plot, ppc_plot
from bayes_ipd.plots.log_cumulative_hazard import log_cumulative_hazard_plot

if TYPE_CHECKING:
    from bayes_ipd.data import IPD
    from bayes_ipd.draws import Fit

__all__ = ["interval_event_ppc_plot", "km_ppc", "log_cumulative_hazard_ppc"]


def km_ppc(
    result: Fit,
    ipd: IPD,
    *,
    times: Any = None,
    draws: int | None = 200,
    seed: int | None = None,
    level: float = 0.95,
    studies: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Kaplan-Meier curves of every trial and arm over their posterior predictive bands.

    Parameters are those of :func:`~bayes_ipd.checks.survival_curves.predictive_survival`;
    ``title`` is the figure's title.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per trial (:func:`bayes_ipd.plots.km_ppc_plot`).
    """
    predicted = predictive_survival(
        result, ipd, times=times, draws=draws, seed=seed, level=level, studies=studies
    )
    observed = observed_km(ipd, list(predicted))
    pct = f"{100 * level:g}%"
    default = f"Kaplan-Meier curves over the posterior expected survival ({pct} band)"
    return km_ppc_plot(observed, predicted, title=title or default)


def log_cumulative_hazard_ppc(
    result: Fit,
    ipd: IPD,
    *,
    times: Any = None,
    draws: int | None = 200,
    seed: int | None = None,
    level: float = 0.95,
    studies: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """``log(-log S)`` against ``log t`` of every trial and arm: the Kaplan-Meier curve over
    the posterior predictive band (:func:`km_ppc` on the log-cumulative-hazard scale).

    Parallel observed curves of the two arms agree with proportional hazards; converging,
    diverging or crossing ones show a hazard ratio that changes with time, which a
    proportional-hazards fit's parallel bands then miss. Parameters as :func:`km_ppc`.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per trial
        (:func:`bayes_ipd.plots.log_cumulative_hazard.log_cumulative_hazard_plot`).
    """
    predicted = predictive_survival(
        result, ipd, times=times, draws=draws, seed=seed, level=level, studies=studies
    )
    observed = observed_km(ipd, list(predicted))
    pct = f"{100 * level:g}%"
    default = "Log cumulative hazard: Kaplan-Meier over the posterior expected curve"
    return log_cumulative_hazard_plot(
        observed, predicted, title=title or default, band_label=f"{pct} band"
    )


def interval_event_ppc_plot(
    table: pd.DataFrame,
    *,
    studies: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Observed events per trial and interval over their replicated 95% intervals.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`~bayes_ipd.checks.interval_events.interval_event_ppc` (with its default
        ``level``); only read.
    studies : sequence of str, optional
        Trials to draw (all by default; a few keep the figure short).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        :func:`bayes_ipd.plots.ppc_plot` with one row per trial and interval, the two
        arms side by side and the Bayesian p-values on the right.
    """
    rows = table if studies is None else table[table["study"].isin(list(studies))]
    if rows.empty:
        raise ValueError(f"no rows to draw for trials {list(studies or [])!r}")
    frame = rows.assign(study=rows["study"].astype(str) + "  " + rows["interval_label"])
    return ppc_plot(
        frame,
        statistic_label="Events in the interval",
        title=title or "Posterior predictive check: events per trial, interval and arm",
    )
