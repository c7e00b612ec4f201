"""The two-stage network meta-analysis result: effects, league table, P-scores, JSON.

Intervals are z-based (``estimate +- z_{0.975} se``), as ``metafor``'s, or t-based on
``N - (T - 1)`` df with the HKSJ factor (``hksj=True``). P-scores follow
Ruecker & Schwarzer (2015, BMC Med Res Methodol 15:58): treatment ``i``'s P-score is the
mean over the other treatments ``j`` of ``Phi((d_i - d_j) / se(d_i - d_j))`` when large
effects are desirable (``small_values="undesirable"``), and of ``Phi((d_j - d_i) / se)``
when small effects are desirable (``small_values="desirable"``, ``netmeta``'s
``small.values`` default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayes_ipd.conventions import json_ready
from bayes_ipd.data.network import Network, comparison_label
from bayes_ipd.families import get_family
from bayes_ipd.plots.network import network_figure
from bayes_ipd.two_stage.network_classes import class_labels
from bayes_ipd.two_stage.network_contrasts import NetworkStageOne
from bayes_ipd.two_stage.network_inconsistency import Decomposition, NodeSplit
from bayes_ipd.two_stage.network_pooling import NetworkFit

__all__ = ["SMALL_VALUES", "NetworkResult", "p_scores"]

SMALL_VALUES = ("desirable", "undesirable")


def _effect(estimate: float, se: float, critical: float) -> dict[str, float]:
    return {
        "estimate": estimate,
        "se": se,
        "ci_low": estimate - critical * se,
        "ci_high": estimate + critical * se,
    }


def _full(fit: NetworkFit) -> tuple[np.ndarray, np.ndarray]:
    """Effects of every treatment vs the reference (reference 0) and their covariance."""
    d = np.concatenate([[0.0], fit.estimate])
    cov = np.zeros((d.size, d.size))
    cov[1:, 1:] = fit.covariance
    return d, cov


def p_scores(fit: NetworkFit, small_values: str = "desirable") -> np.ndarray:
    """P-score of each treatment (network order; module docstring).

    Parameters
    ----------
    fit : NetworkFit
    small_values : {"desirable", "undesirable"}

    Returns
    -------
    numpy.ndarray
    """
    d, cov = _full(fit)
    sign = -1.0 if small_values == "desirable" else 1.0
    n = d.size
    scores = np.zeros(n)
    for i in range(n):
        for j in range(n):
            if i != j:
                se = math.sqrt(cov[i, i] + cov[j, j] - 2.0 * cov[i, j])
                scores[i] += stats.norm.cdf(sign * (d[i] - d[j]) / se)
    return scores / (n - 1)


@dataclass(frozen=True, eq=False)
class NetworkResult:
    """A two-stage network meta-analysis (frozen).

    Attributes
    ----------
    data : Network
        The network's rows and structure.
    stage_one : NetworkStageOne
    fit : NetworkFit
        The consistency model.
    inconsistency : Decomposition
    splits : tuple of NodeSplit
    small_values : str
    interactions : Mapping[str, NetworkFit]
        With interaction covariates: per covariate, the pooled within-trial interaction
        (each non-reference treatment vs the reference; :mod:`network_covariates`).
    classes : tuple of str
        With treatment classes: one class label per treatment (reference first); the
        interactions are then their classes' (:mod:`network_classes`). Empty: none given.
    class_interactions : Mapping[str, NetworkFit]
        With classes: per covariate, each non-reference class's interaction (in
        :func:`~bayes_ipd.two_stage.network_classes.class_labels` order).
    """

    data: Network
    stage_one: NetworkStageOne
    fit: NetworkFit
    inconsistency: Decomposition
    splits: tuple[NodeSplit, ...]
    small_values: str
    interactions: Mapping[str, NetworkFit] = field(default_factory=lambda: MappingProxyType({}))
    classes: tuple[str, ...] = ()
    class_interactions: Mapping[str, NetworkFit] = field(
        default_factory=lambda: MappingProxyType({})
    )

    @property
    def treatments(self) -> tuple[str, ...]:
        return self.data.treatments

    @property
    def k(self) -> int:
        """Trials pooled."""
        return self.fit.k

    def effects(self) -> pd.DataFrame:
        """Each non-reference treatment vs the reference: ``estimate, se, ci_low, ci_high``."""
        se = np.sqrt(np.diag(self.fit.covariance))
        return pd.DataFrame(
            [
                _effect(float(e), float(s), self.fit.critical_value)
                for e, s in zip(self.fit.estimate, se, strict=True)
            ],
            index=pd.Index(self.treatments[1:], name="treatment"),
        )

    def prediction(self) -> pd.DataFrame:
        """A new trial's effect of each treatment vs the reference: the estimate, ``se`` and
        the 95% prediction interval ``estimate +- crit sqrt(se^2 + tau^2)`` (``crit``: z, or t
        on the HKSJ df), as R metafor's ``predict(rma.mv(...))`` gives ``pi.lb, pi.ub``."""
        se = np.sqrt(np.diag(self.fit.covariance))
        half = self.fit.critical_value * np.sqrt(se**2 + self.fit.tau2)
        return pd.DataFrame(
            {
                "estimate": self.fit.estimate,
                "se": se,
                "pi_low": self.fit.estimate - half,
                "pi_high": self.fit.estimate + half,
            },
            index=pd.Index(self.treatments[1:], name="treatment"),
        )

    def league(self) -> dict[str, dict[str, dict[str, float]]]:
        """``league[A][B]``: A vs B (``d_A - d_B``) for every ordered pair."""
        d, cov = _full(self.fit)
        table: dict[str, dict[str, dict[str, float]]] = {}
        for i, a in enumerate(self.treatments):
            table[a] = {}
            for j, b in enumerate(self.treatments):
                if i != j:
                    se = math.sqrt(cov[i, i] + cov[j, j] - 2.0 * cov[i, j])
                    table[a][b] = _effect(float(d[i] - d[j]), se, self.fit.critical_value)
        return table

    def league_table(self) -> pd.DataFrame:
        """The league as a square frame of ``"estimate (ci_low, ci_high)"`` texts (row vs
        column; treatment names on the diagonal)."""
        league = self.league()
        cells = [
            [
                a
                if a == b
                else "{estimate:.3f} ({ci_low:.3f}, {ci_high:.3f})".format(**league[a][b])
                for b in self.treatments
            ]
            for a in self.treatments
        ]
        return pd.DataFrame(cells, index=self.treatments, columns=self.treatments)

    def ranking(self) -> pd.DataFrame:
        """P-scores, best first."""
        scores = p_scores(self.fit, self.small_values)
        frame = pd.DataFrame({"p_score": scores}, index=pd.Index(self.treatments, name="treatment"))
        return frame.sort_values("p_score", ascending=False)

    def node_split_table(self) -> pd.DataFrame:
        """Direct, indirect and network estimates per split comparison."""
        return pd.DataFrame(
            [
                {
                    "comparison": comparison_label(s.first, s.second),
                    "k_direct": s.k_direct,
                    "direct": s.direct,
                    "direct_se": s.direct_se,
                    "indirect": s.indirect,
                    "indirect_se": s.indirect_se,
                    "network": s.network,
                    "difference": s.difference,
                    "p": s.p,
                }
                for s in self.splits
            ]
        )

    def excluded(self) -> list[dict[str, str]]:
        """Excluded trials with their reasons (and trials left out of an interaction)."""
        out = [{"study": s, "reason": r} for s, r in self.stage_one.excluded.items()]
        for name, trials in self.stage_one.interaction_excluded.items():
            out += [
                {
                    "study": s,
                    "reason": f"interaction with {name!r} not estimable: {r} (its adjusted "
                    "main contrasts are pooled)",
                }
                for s, r in trials.items()
            ]
        return out

    def interaction_effects(self) -> dict[str, pd.DataFrame]:
        """Per interaction covariate: each non-reference treatment's within-trial
        interaction vs the reference (``estimate, se, ci_low, ci_high``)."""
        out = {}
        for name, fit in self.interactions.items():
            se = np.sqrt(np.diag(fit.covariance))
            out[name] = pd.DataFrame(
                [
                    _effect(float(e), float(s), fit.critical_value)
                    for e, s in zip(fit.estimate, se, strict=True)
                ],
                index=pd.Index(self.treatments[1:], name="treatment"),
            )
        return out

    def class_effects(self) -> dict[str, pd.DataFrame]:
        """With treatment classes: per interaction covariate, each non-reference class's
        within-trial interaction vs the reference's class (``estimate, se, ci_low,
        ci_high``, indexed by class); empty without classes."""
        labels = class_labels(self.classes)
        out = {}
        for name, fit in self.class_interactions.items():
            se = np.sqrt(np.diag(fit.covariance))
            out[name] = pd.DataFrame(
                [
                    _effect(float(e), float(s), fit.critical_value)
                    for e, s in zip(fit.estimate, se, strict=True)
                ],
                index=pd.Index(labels, name="class"),
            )
        return out

    def network(self) -> dict[str, pd.DataFrame]:
        """Every table of the analysis by name: ``effects``, ``prediction`` (a new trial),
        ``league``, ``ranking``, ``node_split`` and the network's ``designs``,
        ``comparisons``, ``arms``."""
        return {
            "effects": self.effects(),
            "prediction": self.prediction(),
            "league": self.league_table(),
            "ranking": self.ranking(),
            "node_split": self.node_split_table(),
            "designs": self.data.design_table(),
            "comparisons": self.data.comparison_table(),
            "arms": self.data.arm_table(),
        }

    def plot(self) -> Any:
        """The network graph (nodes sized by participants, edges by trials) beside the
        forest plot of every treatment vs the reference; a matplotlib ``Figure``."""
        return network_figure(
            self.treatments,
            self.data.participants_per_treatment(),
            self.data.comparison_table(),
            self.effects(),
            _scale_name(self.data.family),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``bayes-ipd network --json`` (two-stage route)."""
        scores = p_scores(self.fit, self.small_values)
        return json_ready(
            {
                "route": "two-stage",
                "reference": self.data.reference,
                "treatments": list(self.treatments),
                "k": self.k,
                "effects": {t: dict(row) for t, row in self.effects().iterrows()},
                "tau": self.fit.tau,
                "tau2": self.fit.tau2,
                "league": self.league(),
                "ranking": {
                    t: {"p_score": float(s)} for t, s in zip(self.treatments, scores, strict=True)
                },
                "inconsistency": self.inconsistency.to_dict(),
                "node_split": [s.to_dict() for s in self.splits],
                "excluded": self.excluded(),
                **self._covariate_members(),
            }
        )

    def _covariate_members(self) -> dict[str, Any]:
        """``"covariates"`` and ``"interactions"``, only when covariates were given."""
        if not self.stage_one.covariates:
            return {}
        return {
            "covariates": list(self.stage_one.covariates),
            "interactions": {
                name: {t: dict(row) for t, row in table.iterrows()}
                for name, table in self.interaction_effects().items()
            },
            **(
                {"classes": dict(zip(self.treatments, self.classes, strict=True))}
                if self.classes
                else {}
            ),
        }

    def summary(self) -> str:
        """A readable report: model, effects, tau, inconsistency, ranking, exclusions."""
        scale = _scale_name(self.data.family)
        lines = [
            f"Two-stage network meta-analysis ({self.fit.method}, consistency model, "
            f"multi-arm correlation 1/2): {self.k} trials, {self.fit.n_contrasts} contrasts, "
            f"{len(self.treatments)} treatments; {scale} vs {self.data.reference!r}",
        ]
        if self.fit.df is not None:
            lines.append(
                f"HKSJ: covariance times {self.fit.scale:.4f}, t intervals on {self.fit.df} df"
            )
        for t, row in self.effects().iterrows():
            lines.append(
                f"  {t:<24} {row.estimate:8.4f} (se {row.se:.4f}; 95% CI "
                f"{row.ci_low:.4f} to {row.ci_high:.4f})"
            )
        q = self.inconsistency
        lines += [
            f"tau^2 = {self.fit.tau2:.4f} (tau = {self.fit.tau:.4f})",
            f"Q total {q.q_total:.3f} (df {q.df_total}); within designs {q.q_within:.3f} "
            f"(df {q.df_within}); between designs {q.q_between:.3f} (df {q.df_between}, "
            f"p = {q.p_between:.4f})",
            "P-scores (small values "
            + self.small_values
            + "): "
            + ", ".join(f"{t} {s:.3f}" for t, s in self.ranking().p_score.items()),
        ]
        if self.stage_one.corrected:
            lines.append(
                "0.5 added to every cell of trial(s) with a zero-event arm: "
                + ", ".join(self.stage_one.corrected)
            )
        lines += [f"excluded trial {s!r}: {r}" for s, r in self.stage_one.excluded.items()]
        return "\n".join(lines + self._covariate_lines())

    def _covariate_lines(self) -> list[str]:
        if not self.stage_one.covariates:
            return []
        lines = [
            "Contrasts adjusted for (centred within each trial): "
            + ", ".join(self.stage_one.covariates)
        ]
        if self.classes:
            lines.append(
                "Treatment classes (interactions shared within a class): " + _classes(self)
            )
        tables = self.class_effects() if self.classes else self.interaction_effects()
        for name, table in tables.items():
            fit = self.interactions[name]
            lines.append(
                f"Within-trial interaction treatment x {name} (per unit of {name}; "
                f"{fit.k} trials, tau^2 = {fit.tau2:.4f}; no across-trial part"
                + ("; per class vs the reference's class" if self.classes else "")
                + "):"
            )
            lines += [
                f"  {t:<24} {row.estimate:8.4f} (se {row.se:.4f}; 95% CI "
                f"{row.ci_low:.4f} to {row.ci_high:.4f})"
                for t, row in table.iterrows()
            ]
        lines += [
            f"trial {e['study']!r}: {e['reason']}"
            for e in self.excluded()[len(self.stage_one.excluded) :]
        ]
        return lines


def _classes(result: NetworkResult) -> str:
    """``"ref (reference's class): A; act: B, C"``."""
    members: dict[str, list[str]] = {}
    for t, label in zip(result.treatments, result.classes, strict=True):
        members.setdefault(label, []).append(t)
    parts = [f"{label}: {', '.join(ts)}" for label, ts in members.items()]
    first = result.classes[0]
    parts[0] = f"{first} (reference's class): {', '.join(members[first])}"
    return "; ".join(parts)


def _scale_name(family: str) -> str:
    return get_family(family).scale.name
