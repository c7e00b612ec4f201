"""The result of the two-stage repeated-measures analysis and its report (JSON, text).

See :func:`bayes_ipd.two_stage.repeated.two_stage_repeated`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from bayes_ipd.conventions import json_ready
from bayes_ipd.plots.text import fmt
from bayes_ipd.plots.visits import effect_over_visits_plot, visit_forest_plot, visit_means_plot
from bayes_ipd.two_stage.forest_rows import two_stage_rows
from bayes_ipd.two_stage.mvma import MultivariateMA
from bayes_ipd.two_stage.result import TwoStageResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["RepeatedTwoStageResult"]

_TITLE = "Two-stage IPD meta-analysis of repeated measures (stage one: MMRM per trial, REML"


@dataclass(frozen=True, eq=False)
class RepeatedTwoStageResult(TwoStageResult):
    """A two-stage repeated-measures analysis: the primary visit's result, and every visit's.

    It is the :class:`~bayes_ipd.two_stage.result.TwoStageResult` of the primary visit
    (``per_study``, ``pooled``, the forest plot, the summary frame), with

    Attributes
    ----------
    visits : tuple of str
        The visits in order.
    primary : int
        Index of the primary visit (default: the last).
    by_visit : tuple of TwoStageResult
        One per visit, in order.
    stage_one : RepeatedStageOne
        Per-trial MMRM effects per visit and their within-trial covariances.
    counts : DataFrame
        Observed participants per trial, arm and visit (``study, arm, visit, n``).
    multivariate : MultivariateMA or None
        Joint REML pooling across visits (two or more visits).
    multivariate_note : str or None
        Why the joint pooling is missing or doubtful.
    between_structure : str
        ``"unstructured"`` or ``"cs"``.
    means : DataFrame
        Observed outcome per trial, arm and visit (``study, arm, visit, n, mean, sd, se``;
        :func:`bayes_ipd.data.visit_means.observed_visit_means`), for :meth:`plot_means`.
    """

    visits: tuple[str, ...] = ()
    primary: int = -1
    by_visit: tuple[TwoStageResult, ...] = ()
    stage_one: Any = None
    counts: pd.DataFrame = field(default_factory=pd.DataFrame)
    multivariate: MultivariateMA | None = None
    multivariate_note: str | None = None
    between_structure: str = "unstructured"
    means: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def primary_visit(self) -> str:
        """The primary visit's label."""
        return self.visits[self.primary]

    def to_dict(self) -> dict[str, Any]:
        """The primary visit's two-stage JSON (``pooled``, ``per_study``, ``term``,
        ``family``, ``dropped``) with ``visit`` (the primary visit), ``visits``,
        ``residual_covariance`` (the MMRM's structure), ``by_visit: [{"visit", "pooled",
        "per_study"}]`` (visits in order; each per-study record adds ``covariance``, the
        trial's covariance of its visit effects in visit order, None where it lacks a
        visit; ``n`` is the participants observed at that visit), ``multivariate`` (see
        :meth:`multivariate_dict`) and ``visit_counts`` (records ``study, arm, visit, n``)."""
        base = TwoStageResult.to_dict(self)
        out = {k: v for k, v in base.items() if k not in ("pooled", "per_study")}
        out |= {"visit": self.primary_visit, **self._visit_dict(self.primary)}
        out["visits"] = list(self.visits)
        out["residual_covariance"] = self.stage_one.covariance_structure
        out["by_visit"] = [{"visit": v, **self._visit_dict(j)} for j, v in enumerate(self.visits)]
        out["multivariate"] = self.multivariate_dict()
        out["visit_counts"] = [json_ready(r) for r in self.counts.to_dict(orient="records")]
        return out

    def _visit_dict(self, index: int) -> dict[str, Any]:
        result = self.by_visit[index]
        records = result.to_dict()["per_study"]
        blocks = [json_ready(c.tolist()) for c in self.stage_one.covariance]
        return {
            "pooled": result.pooled.to_dict(),
            "per_study": [r | {"covariance": c} for r, c in zip(records, blocks, strict=True)],
        }

    def summary_by_visit(self) -> pd.DataFrame:
        """One row per visit: ``visit, k, estimate, se, ci_low, ci_high, tau2`` of the
        per-visit pooling, then ``mv_estimate, mv_se, mv_tau2`` of the joint pooling (NaN
        without it)."""
        fit = self.multivariate
        rows = []
        for j, (visit, result) in enumerate(zip(self.visits, self.by_visit, strict=True)):
            p = result.pooled
            joint = (
                (fit.estimate[j], fit.se[j], fit.between[j, j])
                if fit is not None
                else (np.nan,) * 3
            )
            rows.append(
                {
                    "visit": visit,
                    "k": p.k,
                    "estimate": p.estimate,
                    "se": p.se,
                    "ci_low": p.ci_low,
                    "ci_high": p.ci_high,
                    "tau2": p.tau2,
                    "mv_estimate": float(joint[0]),
                    "mv_se": float(joint[1]),
                    "mv_tau2": float(joint[2]),
                }
            )
        return pd.DataFrame(rows)

    # --- figures ------------------------------------------------------------------------

    def effect_frames(self) -> dict[str, pd.DataFrame]:
        """The per-visit pooled effects (``"per visit"``) and, when fitted, the joint ones
        (``"multivariate"``) as frames ``visit, estimate, lower, upper`` (intervals at the
        pooled results' level; the joint ones are Wald intervals from its SEs)."""
        rows = self.summary_by_visit()
        out = {
            "per visit": pd.DataFrame(
                {
                    "visit": rows["visit"],
                    "estimate": rows["estimate"],
                    "lower": rows["ci_low"],
                    "upper": rows["ci_high"],
                }
            )
        }
        if self.multivariate is not None and np.isfinite(rows["mv_se"]).all():
            z = float(stats.norm.isf((1.0 - self.pooled.level) / 2.0))
            out["multivariate"] = pd.DataFrame(
                {
                    "visit": rows["visit"],
                    "estimate": rows["mv_estimate"],
                    "lower": rows["mv_estimate"] - z * rows["mv_se"],
                    "upper": rows["mv_estimate"] + z * rows["mv_se"],
                }
            )
        return out

    def trial_effects(self) -> pd.DataFrame:
        """Each trial's MMRM effect per visit it has: ``study, visit, estimate, se``."""
        stage = self.stage_one
        k, v = np.nonzero(stage.observed)
        return pd.DataFrame(
            {
                "study": [stage.studies[i] for i in k],
                "visit": [stage.visits[j] for j in v],
                "estimate": stage.estimate[k, v],
                "se": np.sqrt(stage.covariance[k, v, v]),
            }
        )

    def plot_means(self, **kw: Any) -> Figure:
        """Observed mean outcome over visits per arm, one panel per trial, with error bars
        (:func:`bayes_ipd.plots.visits.visit_means_plot`; keywords passed on)."""
        if self.means.empty:
            raise ValueError("this result holds no observed means (it was made without rows)")
        kw.setdefault("visits", self.visits)
        kw.setdefault("level", self.pooled.level)
        return visit_means_plot(self.means, **kw)

    def plot_effect(
        self,
        overlay: Mapping[str, pd.DataFrame] | None = None,
        *,
        show_trials: bool = True,
        show_multivariate: bool = True,
        **kw: Any,
    ) -> Figure:
        """The pooled effect over visits with its CI band, the multivariate estimates as
        points and the trials' own effects as faint lines
        (:func:`bayes_ipd.plots.visits.effect_over_visits_plot`).

        Parameters
        ----------
        overlay : mapping of str to DataFrame, optional
            Further banded series (columns ``visit, estimate, lower, upper``), e.g. the
            one-stage posterior's effect per visit, drawn over the two-stage one.
        show_trials, show_multivariate : bool
        **kw
            Passed on (``title``, ``effect_label``, ``reference``, ...).
        """
        frames = self.effect_frames()
        label = f"two-stage, per visit ({self.pooled.method})"
        series = {label: frames["per visit"], **dict(overlay or {})}
        points = None
        if show_multivariate and "multivariate" in frames:
            points = {f"multivariate REML ({self.between_structure})": frames["multivariate"]}
        kw.setdefault("visits", self.visits)
        kw.setdefault("level", self.pooled.level)
        trials = self.trial_effects() if show_trials else None
        return effect_over_visits_plot(series, points=points, trials=trials, **kw)

    def plot_forest_by_visit(self, **kw: Any) -> Figure:
        """One forest panel per visit: trials, the pooled diamond and the prediction
        interval, with the pooled estimate and tau2 under each panel
        (:func:`bayes_ipd.plots.visits.visit_forest_plot`; keywords passed on)."""
        level = self.pooled.level
        panels = {
            visit: two_stage_rows(result.pooled, result.per_study, level=level)
            for visit, result in zip(self.visits, self.by_visit, strict=True)
        }
        notes = {
            visit: (
                f"{fmt(r.pooled.estimate)} [{fmt(r.pooled.ci_low)}, {fmt(r.pooled.ci_high)}], "
                f"tau\u00b2 = {fmt(r.pooled.tau2, 3)}"
            )
            for visit, r in zip(self.visits, self.by_visit, strict=True)
        }
        kw.setdefault("level", level)
        kw.setdefault("notes", notes)
        return visit_forest_plot(panels, **kw)

    def multivariate_dict(self) -> dict[str, Any]:
        """``{"estimates": {VISIT: {"estimate", "se"}}, "tau2": {VISIT: value},
        "correlation": [[...]]}``: the pooled effect per visit, the between-trial variance
        per visit and the between-trial correlation matrix in visit order (None where a
        variance is 0), plus ``structure``, ``method``, ``k`` and ``note`` (why the fields
        are None, when they are)."""
        fit = self.multivariate
        head = {"structure": self.between_structure, "method": "REML"}
        if fit is None:
            empty = dict.fromkeys(("estimates", "tau2", "correlation", "k"))
            return head | empty | {"note": self.multivariate_note}
        cor = fit.between_cor
        cor[~np.isfinite(cor)] = np.nan
        return json_ready(
            head
            | {
                "estimates": {
                    v: {"estimate": float(e), "se": float(s)}
                    for v, e, s in zip(self.visits, fit.estimate, fit.se, strict=True)
                },
                "tau2": {
                    v: float(t) for v, t in zip(self.visits, np.diag(fit.between), strict=True)
                },
                "correlation": cor.tolist(),
                "k": fit.k,
                "note": self.multivariate_note,
            }
        )

    def __str__(self) -> str:
        head = (
            f"{_TITLE}, {self.stage_one.covariance_structure} covariance of the visits)\n"
            f"Observed participants per trial, arm and visit:\n{self._counts_text()}"
        )
        blocks = [head]
        for j, (visit, result) in enumerate(zip(self.visits, self.by_visit, strict=True)):
            text = TwoStageResult.__str__(result).split("\n", 1)[1]
            mark = " (primary)" if j == self.primary else ""
            blocks.append(f"Visit {visit}{mark}: {result.pooled.k} trial(s) pooled\n{text}")
        if len(self.visits) > 1:
            blocks.append(self._multivariate_text())
        return "\n\n".join(blocks)

    def __repr__(self) -> str:
        return self.__str__()

    def _counts_text(self) -> str:
        table = self.counts.pivot_table(
            index=["study", "arm"], columns="visit", values="n", sort=False, observed=False
        )
        table = table.reindex(columns=list(self.visits)).fillna(0).astype(np.int64)
        return table.to_string()

    def _multivariate_text(self) -> str:
        head = (
            "Multivariate REML pooling across visits "
            f"({self.between_structure} between-trial covariance)"
        )
        fit = self.multivariate
        if fit is None:
            return f"{head}: not available ({self.multivariate_note})"
        lines = [f"{head}, k = {fit.k}:", "  visit     estimate       se        tau2"]
        for v, est, se, t2 in zip(
            self.visits, fit.estimate, fit.se, np.diag(fit.between), strict=True
        ):
            lines.append(f"  {v:<8} {est:>9.4f} {se:>8.4f} {t2:>11.4f}")
        lines.append("  between-trial correlation:")
        lines += ["    " + " ".join(f"{c:7.3f}" for c in row) for row in fit.between_cor]
        if self.multivariate_note:
            lines.append(f"  note: {self.multivariate_note}")
        return "\n".join(lines)
