"""The hybrid sensitivity analysis: IPD-only beside IPD + aggregate data, both routes.

PRISMA-IPD (Stewart et al. 2015, item 13) asks whether adding the trials that did not
share their rows (their published estimates) changes the conclusion. A
:class:`HybridComparison` holds, for the one-stage and the two-stage route, the pooled
effect with its interval, τ and the 95% prediction interval of the IPD-only analysis and of
the IPD + AD one, and draws a forest plot whose ``Data`` column marks each trial ``IPD`` or
``AD only``. It only reads results; it computes no new estimate.

:func:`~bayes_ipd.analysis.run_analysis` builds it for a hybrid spec;
:mod:`bayes_ipd.report` re-exports it and puts it in the HTML report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.figure import Figure

from bayes_ipd.conventions import json_ready
from bayes_ipd.plots import ForestRow, forest_plot

if TYPE_CHECKING:
    from bayes_ipd.one_stage.result import OneStageResult
    from bayes_ipd.two_stage import TwoStageResult

__all__ = [
    "COLUMNS",
    "HybridComparison",
    "HybridRow",
    "hybrid_comparison",
    "one_stage_trials",
    "trials_text",
    "two_stage_trials",
]

COLUMNS = ("route", "data", "k", "k_ad", "estimate", "ci_low", "ci_high", "tau")
COLUMNS += ("pi_low", "pi_high")
"""Columns of :meth:`HybridComparison.table`."""


@dataclass(frozen=True)
class HybridRow:
    """One analysis: route (``one-stage`` / ``two-stage``), data (``IPD only`` /
    ``IPD + AD``), trials (of which AD only), the pooled effect and its interval
    (posterior median and equal-tailed credible interval, or the estimate and CI), τ
    (posterior median, or √τ²) and the 95% prediction interval, on the analysis scale."""

    route: str
    data: str
    k: int
    k_ad: int
    estimate: float
    ci_low: float
    ci_high: float
    tau: float
    pi_low: float
    pi_high: float

    @property
    def label(self) -> str:
        """``"One-stage, IPD + AD (k = 13)"`` etc.: the route, its trials and how many."""
        return f"{self.route.capitalize()}, {self.data} (k = {self.k})"

    @property
    def trials_text(self) -> str:
        """``"IPD + AD: 13 trials (4 AD only)"``."""
        ad = f" ({self.k_ad} AD only)" if self.k_ad else ""
        return f"{self.data}: {self.k} trials{ad}"


def trials_text(k: int, k_ad: int) -> str:
    """``"IPD only, k = 9"``, ``"IPD + AD, k = 13 (4 AD only)"`` or ``"AD only, k = 4"``:
    the trials an analysis uses, for a table caption or a figure."""
    if k_ad == 0:
        return f"IPD only, k = {k}"
    if k_ad == k:
        return f"AD only, k = {k}"
    return f"IPD + AD, k = {k} ({k_ad} AD only)"


def one_stage_trials(result: OneStageResult) -> str:
    """:func:`trials_text` of a one-stage fit."""
    design = result.built.design
    ad = getattr(design, "aggregate", None)
    k_ad = 0 if ad is None else len(ad.labels)
    return trials_text(design.k + k_ad, k_ad)


def two_stage_trials(result: TwoStageResult) -> str:
    """:func:`trials_text` of a two-stage result (the trials it pooled)."""
    p = result.pooled
    return trials_text(int(p.k), sum(1 for s in p.studies if result.sources.get(s, "IPD") != "IPD"))


def one_stage_row(result: OneStageResult, data: str) -> HybridRow:
    """The summary row of a one-stage fit."""
    table = result.summary()
    effect, tau, new = (table.loc[p] for p in ("effect", "tau", "new-trial effect"))
    ad = getattr(result.built.design, "aggregate", None)
    k_ad = 0 if ad is None else len(ad.labels)
    return HybridRow(
        route="one-stage",
        data=data,
        k=result.built.design.k + (0 if ad is None else ad.k),
        k_ad=k_ad,
        estimate=float(effect["median"]),
        ci_low=float(effect["q025"]),
        ci_high=float(effect["q975"]),
        tau=float(tau["median"]),
        pi_low=float(new["q025"]),
        pi_high=float(new["q975"]),
    )


def two_stage_row(result: TwoStageResult, data: str) -> HybridRow:
    """The summary row of a two-stage result."""
    p = result.pooled
    k_ad = sum(1 for s in p.studies if result.sources.get(s, "IPD") != "IPD")
    return HybridRow(
        route="two-stage",
        data=data,
        k=int(p.k),
        k_ad=k_ad,
        estimate=float(p.estimate),
        ci_low=float(p.ci_low),
        ci_high=float(p.ci_high),
        tau=math.sqrt(max(float(p.tau2), 0.0)),
        pi_low=float(p.pi_low),
        pi_high=float(p.pi_high),
    )


@dataclass(frozen=True)
class HybridComparison:
    """IPD-only and IPD + AD analyses side by side.

    Attributes
    ----------
    rows : tuple of HybridRow
        One per analysis that was run.
    trials : tuple of (str, str, float, float, float)
        ``(label, data, estimate, ci_low, ci_high)`` per trial: the trial's own estimate
        (its stage-one estimate for IPD, the published one for AD) for the forest plot.
    scale : str
        Effect scale code (``"MD"``, ``"logOR"``, ``"logHR"``).
    is_ratio : bool
        Whether the scale is a log ratio (the plot is then drawn exponentiated).
    notes : tuple of str
        What was not run and why (e.g. no two-stage route without participant rows).
    measure : str or None
        The plot's effect label (``"Odds ratio"``, ``"Mean difference"``, ...).
    """

    rows: tuple[HybridRow, ...]
    trials: tuple[tuple[str, str, float, float, float], ...]
    scale: str
    is_ratio: bool
    notes: tuple[str, ...] = ()
    measure: str | None = None

    def table(self) -> pd.DataFrame:
        """One row per analysis (:data:`COLUMNS`)."""
        return pd.DataFrame([[getattr(r, c) for c in COLUMNS] for r in self.rows], columns=COLUMNS)

    def to_dict(self) -> dict[str, Any]:
        """``{"scale", "analyses": [...], "ad_only_trials", "notes"}`` (JSON-ready)."""
        return json_ready(
            {
                "scale": self.scale,
                "analyses": self.table().to_dict(orient="records"),
                "ad_only_trials": [t[0] for t in self.trials if t[1] != "IPD"],
                "notes": list(self.notes),
            }
        )

    def trials_line(self) -> str:
        """Which trials each analysis uses: ``"Trials: IPD only: 9 trials; IPD + AD: 13
        trials (4 AD only)"`` (one entry per kind of analysis)."""
        ordered = sorted(self.rows, key=lambda r: r.data != "IPD only")  # IPD only first
        seen = dict.fromkeys(r.trials_text for r in ordered)
        return "Trials: " + "; ".join(seen)

    def __repr__(self) -> str:
        body = self.table().to_string(index=False, float_format=lambda x: f"{x:.4g}")
        lines = [f"Hybrid sensitivity analysis: IPD only vs IPD + AD ({self.scale})"]
        lines += [self.trials_line(), body]
        return "\n".join([*lines, *self.notes])

    def plot(self, *, title: str | None = None) -> Figure:
        """Forest plot: each trial's own estimate, marked ``IPD`` or ``AD only`` in the
        ``Data`` column, then the pooled effect of every analysis and the IPD + AD
        prediction interval of the first route."""
        rows = [
            ForestRow(label, est, lo, hi, extra=(data,)) for label, data, est, lo, hi in self.trials
        ]
        rows += [
            ForestRow(r.label, r.estimate, r.ci_low, r.ci_high, extra=("",), style="pooled")
            for r in self.rows
        ]
        full = [r for r in self.rows if r.data == "IPD + AD"]
        if full and math.isfinite(full[0].pi_low):
            r = full[0]
            label = f"Prediction, {r.route} IPD + AD"
            rows.append(
                ForestRow(label, math.nan, r.pi_low, r.pi_high, extra=("",), style="prediction")
            )
        return forest_plot(
            rows,
            extra_headers=("Data",),
            title=title or "Hybrid sensitivity analysis: IPD only vs IPD + aggregate data",
            exponentiate=self.is_ratio,
            measure=self.measure,
            show_weights=False,
            heterogeneity=(self.trials_line(),),
        )


def _trial_estimates(
    one: OneStageResult, two: TwoStageResult | None
) -> tuple[tuple[str, str, float, float, float], ...]:
    """Each trial's own estimate: the two-stage per-trial one when available, else the
    published AD estimate and, for IPD trials, the one-stage shrunken effect."""
    from bayes_ipd.one_stage.aggregate_trials import trial_effects

    z = 1.959963984540054
    out: list[tuple[str, str, float, float, float]] = []
    if two is not None:
        per = two.per_study
        for s, est, se, reason in zip(per.studies, per.estimate, per.se, per.excluded, strict=True):
            if reason is None:
                data = "IPD" if two.sources.get(s, "IPD") == "IPD" else "AD only"
                out.append((s, data, float(est), float(est - z * se), float(est + z * se)))
        return tuple(out)
    effects = trial_effects(one)
    ad = one.built.design.aggregate
    published = (
        {}
        if ad is None
        else dict(zip(ad.studies, zip(ad.estimate, ad.se, strict=True), strict=True))
    )
    for s, row in effects.iterrows():
        if s in published:
            est, se = published[s]
            out.append((str(s), "AD only", float(est), float(est - z * se), float(est + z * se)))
        else:
            data = "IPD" if row["source"] == "IPD" else "AD only"
            out.append((str(s), data, float(row["median"]), float(row["q025"]), float(row["q975"])))
    return tuple(out)


def hybrid_comparison(
    one_full: OneStageResult,
    one_ipd: OneStageResult | None,
    two_full: TwoStageResult | None = None,
    two_ipd: TwoStageResult | None = None,
    notes: Sequence[str] = (),
) -> HybridComparison:
    """Assemble the hybrid table from the fits that were run.

    Parameters
    ----------
    one_full, one_ipd : OneStageResult
        The one-stage fit with and without the AD trials (``one_ipd`` None when there are
        no IPD trials).
    two_full, two_ipd : TwoStageResult, optional
        The two-stage route with and without the AD trials.
    notes : sequence of str
        Lines printed under the table.

    Returns
    -------
    HybridComparison
    """
    rows: list[HybridRow] = []
    if one_ipd is not None:
        rows.append(one_stage_row(one_ipd, "IPD only"))
    rows.append(one_stage_row(one_full, "IPD + AD" if one_full.built.design.k else "AD only"))
    if two_ipd is not None:
        rows.append(two_stage_row(two_ipd, "IPD only"))
    if two_full is not None:
        rows.append(two_stage_row(two_full, "IPD + AD"))
    return HybridComparison(
        rows=tuple(rows),
        trials=_trial_estimates(one_full, two_full),
        scale=one_full.effect_scale,
        is_ratio=one_full.is_ratio,
        notes=tuple(notes),
        measure=(
            one_full.scale.ratio_name if one_full.is_ratio else one_full.scale.name
        ).capitalize(),
    )
