"""One-stage vs two-stage: the same meta-analysis by both routes, side by side.

:func:`compare` lines up, on the analysis scale, the pooled effect, the between-trial SD,
the prediction interval of a new trial's effect and every trial's effect:

* two-stage: the pooled estimate with its confidence interval (HKSJ when it was asked
  for), ``tau = sqrt(tau²)`` with the square root of the Q-profile interval of ``tau²``
  (Viechtbauer 2007; the square root is monotone, so coverage carries over), the
  prediction interval of Higgins, Thompson & Spiegelhalter (2009), and each trial's
  stage-one estimate with its Wald interval;
* one-stage: posterior medians with equal-tailed credible intervals of ``mu``, ``tau``,
  ``theta_new`` (:meth:`OneStageResult.predict_new_study`) and each trial's shrunken
  ``theta_k``.

Both routes use the two-stage result's interval level (95% by default), and the same
trials: participant rows only (``IPD only``), or the rows and the aggregate-data trials'
published estimates in both (``IPD + AD``); a comparison of one route's IPD + AD analysis
with the other's IPD-only one is refused. The table, its text and the figure say which
trials they use (:attr:`Comparison.trials_label`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from bayes_ipd.conventions import SCALES, json_ready, method_label
from bayes_ipd.errors import PoolingError
from bayes_ipd.one_stage.result import OneStageResult
from bayes_ipd.plots import LINEAR_SCALES, RATIO_SCALES, ForestRow, comparison_forest_plot
from bayes_ipd.plots.text import TextColumn, decimals_for, fmt_fixed, text_table
from bayes_ipd.two_stage.forest_rows import two_stage_rows

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bayes_ipd.two_stage import TwoStageResult

__all__ = ["Comparison", "compare"]

TABLE_COLUMNS: tuple[str, ...] = (
    "row",
    "kind",
    "two_stage_estimate",
    "two_stage_low",
    "two_stage_high",
    "one_stage_estimate",
    "one_stage_low",
    "one_stage_high",
    "weight",
    "n",
    "note",
)
"""Columns of :attr:`Comparison.table`."""

POOLED_ROW, TAU_ROW, PREDICTION_ROW = "pooled effect", "tau", "prediction interval"
IPD_ONLY, IPD_AD = "IPD only", "IPD + AD"
"""Labels of :attr:`Comparison.data`: which trials both routes use."""


@dataclass(frozen=True, eq=False, repr=False)
class Comparison:
    """A one-stage and a two-stage analysis of the same trials, row by row.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns :data:`TABLE_COLUMNS`. Rows ``pooled effect``, ``tau``,
        ``prediction interval`` (kinds ``pooled``, ``tau``, ``prediction``), then one row
        per trial (kind ``study``; the trial label in ``row``). ``two_stage_*`` hold the
        estimate and interval of the two-stage route (the pooled estimate as the centre of
        its prediction interval), ``one_stage_*`` the posterior median and credible
        interval. ``weight`` is the two-stage percent weight, ``n`` the trial size, ``note``
        why a trial was left out of the two-stage pooling.
    scale : str
        Effect scale (``"MD"``, ``"logOR"``, ``"logHR"``).
    level : float
        Level of every interval.
    two_stage_method : str
        E.g. ``"REML + HKSJ"``.
    two_stage : TwoStageResult
        The two-stage result compared (for :meth:`plot`).
    data : str
        The trials both routes use: ``"IPD only"`` or ``"IPD + AD"``.
    """

    table: pd.DataFrame
    scale: str
    level: float
    two_stage_method: str
    two_stage: TwoStageResult
    data: str = IPD_ONLY

    @property
    def k(self) -> int:
        """Trials in the comparison (one table row each)."""
        return int((self.table["kind"] == "study").sum())

    @property
    def trials_label(self) -> str:
        """``"Trials: IPD only, k = 9"``: which trials both routes use (and how many the
        two-stage route pooled, when it excluded some)."""
        trials = self.table[self.table["kind"] == "study"]
        pooled = int(trials["two_stage_estimate"].notna().sum())
        extra = "" if pooled == self.k else f" (two-stage pools {pooled})"
        return f"Trials: {self.data}, k = {self.k}{extra}"

    @property
    def is_ratio(self) -> bool:
        """Whether the scale is a log ratio (the plot then shows ratios)."""
        return SCALES[self.scale].is_ratio

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``scale``, ``level``, ``two_stage_method`` and ``rows`` (records of
        :attr:`table`, NaN as None)."""
        rows = [json_ready(record) for record in self.table.to_dict(orient="records")]
        return {
            "scale": self.scale,
            "level": self.level,
            "two_stage_method": self.two_stage_method,
            "data": self.data,
            "k": self.k,
            "rows": rows,
        }

    def plot(self, title: str | None = None) -> Figure:
        """Forest plot, trial by trial, of both routes (:func:`plots.comparison_forest_plot`).

        On a log-ratio scale the axis shows ratios; the footer names the trials
        (:attr:`trials_label`) and the title defaults to it.
        """
        two = self.two_stage
        rows_two = _two_stage_rows(two, self.level)
        rows_one = _one_stage_rows(self.table)
        label = RATIO_SCALES[self.scale] if self.is_ratio else LINEAR_SCALES[self.scale]
        return comparison_forest_plot(
            rows_two,
            rows_one,
            title=title or f"One-stage vs two-stage ({self.data}, k = {self.k})",
            exponentiate=self.is_ratio,
            xlabel=label,
            footer=(self.trials_label,),
        )

    def __repr__(self) -> str:
        pct = f"{100 * self.level:g}%"
        head = [
            f"One-stage vs two-stage IPD meta-analysis, effect = {SCALES[self.scale].name}",
            f"two-stage: {self.two_stage_method}, estimate [{pct} CI]; "
            f"one-stage: posterior median [{pct} CrI]",
            self.trials_label,
            "",
        ]
        table = "\n".join(
            text_table(_report_columns(self), rules=(3,) if len(self.table) > 3 else ())
        )
        return "\n".join(head) + "\n" + table


def compare(one_stage: OneStageResult, two_stage: TwoStageResult) -> Comparison:
    """Line up a one-stage and a two-stage analysis of the same trials.

    Both routes must use the same kind of trials: participant rows only, or rows and
    aggregate-data (AD) trials in both; the result is labelled ``IPD only`` or
    ``IPD + AD``.

    Parameters
    ----------
    one_stage : OneStageResult
    two_stage : TwoStageResult
        Pooling the treatment term (``per_study.term == "treat"``) on the same effect
        scale.

    Returns
    -------
    Comparison

    Raises
    ------
    PoolingError
        The routes disagree on the outcome family or effect scale, the two-stage route
        pooled a term other than the treatment effect, or one route has AD trials and the
        other none (the AD trials are named).

    Examples
    --------
    >>> comparison = compare(fit(ipd, spec), two_stage(ipd))  # doctest: +SKIP
    >>> comparison.plot(title="BCG trials")  # doctest: +SKIP
    """
    _check_comparable(one_stage, two_stage)
    data = _check_same_trials(one_stage, two_stage)
    pooled = two_stage.pooled
    level = float(pooled.level)
    q_lo, q_hi = (1 - level) / 2, (1 + level) / 2
    post = one_stage.idata.posterior
    new = one_stage.predict_new_study().values
    rows = [
        _row(
            POOLED_ROW,
            "pooled",
            (pooled.estimate, pooled.ci_low, pooled.ci_high),
            _posterior_interval(post["mu"].values, q_lo, q_hi),
        ),
        _row(
            TAU_ROW,
            "tau",
            (_sqrt(pooled.tau2), _sqrt(pooled.tau2_ci_low), _sqrt(pooled.tau2_ci_high)),
            _posterior_interval(post["tau"].values, q_lo, q_hi),
        ),
        _row(
            PREDICTION_ROW,
            "prediction",
            (pooled.estimate, pooled.pi_low, pooled.pi_high),
            _posterior_interval(new, q_lo, q_hi),
        ),
    ]
    rows += _trial_rows(one_stage, two_stage, level)
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    return Comparison(
        table=table,
        scale=one_stage.effect_scale,
        level=level,
        two_stage_method=method_label(pooled.method, pooled.hksj),
        two_stage=two_stage,
        data=data,
    )


# ---------------------------------------------------------------------------- helpers


def _check_comparable(one: OneStageResult, two: TwoStageResult) -> None:
    family = getattr(two, "family", None)
    if family is not None and family != one.family:
        raise PoolingError(
            f"cannot compare a one-stage {one.family} model with a two-stage analysis of "
            f"{family} outcomes"
        )
    scale = two.pooled.scale or two.per_study.scale
    if scale is not None and scale != one.effect_scale:
        raise PoolingError(
            f"cannot compare: the one-stage effect is a {one.effect_scale} but the two-stage "
            f"estimates are on the {scale} scale"
        )
    term = two.per_study.term
    if term != "treat":
        raise PoolingError(
            f"the two-stage analysis pooled the term {term!r}; the one-stage comparison is of "
            "the treatment effect ('treat')"
        )


def _ad_trials(one: OneStageResult, two: TwoStageResult) -> tuple[list[str], list[str]]:
    """The aggregate-data trials of each route (one-stage, two-stage)."""
    aggregate = getattr(one.built.design, "aggregate", None)
    one_ad = [] if aggregate is None else [str(s) for s in aggregate.labels]
    sources = getattr(two, "sources", None) or {}
    two_ad = [str(s) for s, source in sources.items() if source != "IPD"]
    return one_ad, two_ad


def _check_same_trials(one: OneStageResult, two: TwoStageResult) -> str:
    """``"IPD only"`` or ``"IPD + AD"``; refuses an IPD + AD route beside an IPD-only one
    (their pooled effects would describe different trials)."""
    one_ad, two_ad = _ad_trials(one, two)
    if bool(one_ad) != bool(two_ad):
        route, ad = ("one-stage", one_ad) if one_ad else ("two-stage", two_ad)
        raise PoolingError(
            f"cannot compare: the {route} analysis includes aggregate-data trials "
            f"({', '.join(map(repr, ad))}) and the other route does not; compare both "
            "routes on IPD only or both on IPD + AD"
        )
    return IPD_AD if one_ad else IPD_ONLY


def _row(
    label: str,
    kind: str,
    two: tuple[float, float, float],
    one: tuple[float, float, float],
    weight: float = math.nan,
    n: float = math.nan,
    note: str | None = None,
) -> list[Any]:
    return [label, kind, *map(float, two), *map(float, one), weight, n, note]


def _posterior_interval(draws: Any, q_lo: float, q_hi: float) -> tuple[float, float, float]:
    """Median and equal-tailed interval of posterior draws."""
    flat = np.asarray(draws, dtype=np.float64).ravel()
    lo, median, hi = np.quantile(flat, [q_lo, 0.5, q_hi])
    return float(median), float(lo), float(hi)


def _trial_rows(one: OneStageResult, two: TwoStageResult, level: float) -> list[list[Any]]:
    """One row per trial: one-stage trials in design order, then two-stage-only trials."""
    design = one.built.design
    agg, pooled = two.per_study, two.pooled
    z = float(stats.norm.isf((1 - level) / 2))
    weights = dict(zip(pooled.studies, np.asarray(pooled.weights, dtype=float), strict=True))
    reasons = tuple(agg.excluded) or (None,) * agg.k
    index = {s: i for i, s in enumerate(agg.studies)}
    post = one.idata.posterior
    q_lo, q_hi = (1 - level) / 2, (1 + level) / 2
    n_one = dict(zip(design.studies, design.n_arm.sum(axis=1), strict=True))
    ad_draws = _ad_effect_draws(one)
    rows = []
    for study in [*design.studies, *(s for s in agg.studies if s not in n_one)]:
        nan3 = (math.nan, math.nan, math.nan)
        if study in n_one:
            one_cells = _posterior_interval(post["theta"].sel(study=study).values, q_lo, q_hi)
        elif study in ad_draws:
            one_cells = _posterior_interval(ad_draws[study], q_lo, q_hi)
        else:
            one_cells = nan3
        two_cells, note, n = nan3, None, float(n_one.get(study, math.nan))
        if study in index:
            i = index[study]
            note = reasons[i]
            est, se = float(agg.estimate[i]), float(agg.se[i])
            if note is None:
                two_cells = (est, est - z * se, est + z * se)
            if agg.n is not None:
                n = float(agg.n[i])
        else:
            note = "not in the two-stage analysis"
        rows.append(
            _row(study, "study", two_cells, one_cells, weights.get(study, math.nan), n, note)
        )
    return rows


def _ad_effect_draws(one: OneStageResult) -> dict[str, Any]:
    """Posterior draws of each AD trial's effect (``theta_ad`` [ad_study]) by label."""
    post = one.idata.posterior
    if "theta_ad" not in post:
        return {}
    theta = post["theta_ad"]
    return {str(s): theta.sel(ad_study=s).values for s in theta["ad_study"].values}


def _sqrt(x: float) -> float:
    return math.sqrt(x) if math.isfinite(x) and x >= 0 else math.nan


_ROUTES = ("two_stage", "one_stage")


def _report_columns(comparison: Comparison) -> list[TextColumn]:
    """Columns of the printed comparison: row label, each route's interval (and ratio
    interval), the exclusion note. Both routes share one number of decimals per scale,
    chosen from the interval widths (:func:`decimals_for`)."""
    table = comparison.table
    z = float(stats.norm.isf((1 - comparison.level) / 2))
    triples = {r: [_values(rec, r) for rec in table.itertuples(index=False)] for r in _ROUTES}
    spreads = [(hi - lo) / (2 * z) for r in _ROUTES for _, lo, hi in triples[r]]
    decimals = decimals_for(spreads)
    columns = [TextColumn("", tuple(str(r) for r in table["row"]), "left")]
    columns += [TextColumn(r.replace("_", "-"), _cells(triples[r], decimals)) for r in _ROUTES]
    ratio = SCALES[comparison.scale].ratio_label
    if ratio:
        is_tau = [kind == "tau" for kind in table["kind"]]
        exp = {
            r: [_NAN3 if tau else _exp3(v) for v, tau in zip(triples[r], is_tau, strict=True)]
            for r in _ROUTES
        }
        ratio_spreads = [(hi - lo) / (2 * z) for r in _ROUTES for _, lo, hi in exp[r]]
        ratio_decimals = decimals_for(ratio_spreads)
        columns += [
            TextColumn(f"{ratio} {r.replace('_', '-')}", _cells(exp[r], ratio_decimals))
            for r in _ROUTES
        ]
    notes = tuple(f"excluded: {n}" if isinstance(n, str) else "" for n in table["note"])
    if any(notes):
        columns.append(TextColumn("", notes, "left"))
    return columns


_NAN3 = (math.nan, math.nan, math.nan)


def _values(rec: Any, route: str) -> tuple[float, float, float]:
    return tuple(float(getattr(rec, f"{route}_{c}")) for c in ("estimate", "low", "high"))


def _exp3(values: tuple[float, float, float]) -> tuple[float, float, float]:
    return tuple(math.exp(v) if math.isfinite(v) else math.nan for v in values)


def _cells(triples: list[tuple[float, float, float]], decimals: int) -> tuple[str, ...]:
    """``estimate [low, high]`` cells, the three numbers aligned down the column."""
    texts = [[fmt_fixed(v, decimals) or "NA" for v in t] for t in triples]
    blank = [math.isnan(t[0]) and math.isnan(t[1]) for t in triples]
    widths = [max((len(t[j]) for t in texts), default=0) for j in range(3)]
    return tuple(
        "" if empty else f"{t[0]:>{widths[0]}} [{t[1]:>{widths[1]}}, {t[2]:>{widths[2]}}]"
        for t, empty in zip(texts, blank, strict=True)
    )


def _two_stage_rows(two: TwoStageResult, level: float) -> list[ForestRow]:
    return two_stage_rows(two.pooled, two.per_study, level=level)


def _one_stage_rows(table: pd.DataFrame) -> list[ForestRow]:
    """Forest rows of the one-stage route: shrunken trials, posterior of mu, new trial."""
    rows = []
    trials = table[(table["kind"] == "study") & table["one_stage_estimate"].notna()]
    for rec in trials.itertuples(index=False):
        rows.append(
            ForestRow(
                rec.row,
                rec.one_stage_estimate,
                rec.one_stage_low,
                rec.one_stage_high,
                n=None if math.isnan(rec.n) else int(rec.n),
                style="shrunken",
            )
        )
    for kind, label, style in (
        ("pooled", "Pooled (one-stage)", "pooled"),
        ("prediction", "Prediction (new trial)", "prediction"),
    ):
        rec = table[table["kind"] == kind].iloc[0]
        rows.append(
            ForestRow(
                label, rec.one_stage_estimate, rec.one_stage_low, rec.one_stage_high, style=style
            )
        )
    return rows
