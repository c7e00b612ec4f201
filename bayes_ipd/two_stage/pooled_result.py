"""The value stage two returns: :class:`PooledResult`, its summary frames and its report.

:func:`bayes_ipd.two_stage.pooling.pool` computes it (and re-exports it); this module only
holds and prints it, so the report wording has one home apart from the arithmetic.
"""

from __future__ import annotations

import html
import math
import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayes_ipd.conventions import (
    METHOD_NAMES,
    SCALES,
    json_ready,
    readonly,
    scale_name,
    term_measure,
)

__all__ = ["TO_DICT_KEYS", "PooledResult"]

TO_DICT_KEYS: tuple[str, ...] = (
    "method",
    "hksj",
    "k",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "stat",
    "p",
    "tau2",
    "tau2_ci_low",
    "tau2_ci_high",
    "i2",
    "i2_ci_low",
    "i2_ci_high",
    "h2",
    "q",
    "q_df",
    "q_p",
    "pi_low",
    "pi_high",
    "scale",
)


@dataclass(frozen=True, eq=False, repr=False)
class PooledResult:
    """The pooled effect, heterogeneity statistics and intervals of one meta-analysis.

    Attributes
    ----------
    method : str
        τ² estimator, one of :data:`bayes_ipd.conventions.METHODS`.
    hksj : bool
        Whether the Hartung-Knapp-Sidik-Jonkman variance and a t test were used.
    k : int
        Number of pooled trials.
    level : float
        Confidence level of every interval (e.g. 0.95).
    estimate, se : float
        Pooled estimate and its standard error (the HKSJ one when ``hksj``).
    ci_low, ci_high : float
        Confidence interval of the pooled estimate.
    stat, p : float
        Test statistic of estimate = 0 and its two-sided p-value.
    dist : {"z", "t"}
        Reference distribution of ``stat``; ``df`` its degrees of freedom (None for z).
    tau2, tau2_ci_low, tau2_ci_high : float
        Between-trial variance and its Q-profile confidence interval.
    i2, i2_ci_low, i2_ci_high : float
        I² (percent) and the interval implied by the τ² interval.
    h2 : float
        H² = (τ² + s²) / s² (Q / df for ``"FE"``).
    q, q_df, q_p : float, int, float
        Cochran's Q, its degrees of freedom k - 1 and chi-squared p-value.
    pi_low, pi_high : float
        Prediction interval of the effect in a new trial (NaN for k < 3 and for ``"FE"``).
    studies : tuple of str
        Trial labels; ``weights`` their percent weights (sum 100), in the same order.
    scale : str or None
        Effect scale; log-ratio scales are also reported exponentiated.
    """

    method: str
    hksj: bool
    k: int
    level: float
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    stat: float
    p: float
    dist: str
    df: float | None
    tau2: float
    tau2_ci_low: float
    tau2_ci_high: float
    i2: float
    i2_ci_low: float
    i2_ci_high: float
    h2: float
    q: float
    q_df: int
    q_p: float
    pi_low: float
    pi_high: float
    studies: tuple[str, ...]
    weights: np.ndarray
    scale: str | None
    term: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", readonly(self.weights))

    @property
    def effect_words(self) -> str:
        """What the estimate is: the scale's name, or for an interaction term the change
        in it per unit of the covariate (``"change in mean difference per unit of age"``)."""
        return _lower_first(term_measure(scale_name(self.scale), self.term))

    @property
    def ratio_words(self) -> str:
        """The exponentiated estimate's name (ratio scales)."""
        ratio = str(SCALES[str(self.scale)].ratio_name)
        return _lower_first(term_measure(ratio, self.term, exponentiate=True))

    @property
    def tau(self) -> float:
        """Square root of τ²."""
        return math.sqrt(self.tau2)

    @property
    def is_ratio(self) -> bool:
        """True when the estimate is a log ratio (reported exponentiated too)."""
        return self.scale is not None and SCALES[self.scale].is_ratio

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: Python scalars, NaN as None.

        Keys: ``method, hksj, k, estimate, se, ci_low, ci_high, stat, p, tau2,
        tau2_ci_low, tau2_ci_high, i2, i2_ci_low, i2_ci_high, h2, q, q_df, q_p, pi_low,
        pi_high, scale``.
        """
        return json_ready({key: getattr(self, key) for key in TO_DICT_KEYS})

    def summary_frame(self) -> pd.DataFrame:
        """One row per reported quantity, with columns ``value, ci_low, ci_high``.

        Rows: the estimate (with its confidence interval), its SE, the test statistic and
        p-value, the prediction interval, τ², τ, I², H², Q and its p-value; on a log-ratio
        scale also the exponentiated estimate and prediction interval.
        """
        nan = math.nan
        rows: list[tuple[str, float, float, float]] = [
            ("estimate", self.estimate, self.ci_low, self.ci_high),
            ("se", self.se, nan, nan),
            (self.dist, self.stat, nan, nan),
            ("p", self.p, nan, nan),
            ("prediction", self.estimate, self.pi_low, self.pi_high),
        ]
        if self.is_ratio:
            rows.insert(
                4, ("exp(estimate)", *map(_exp, (self.estimate, self.ci_low, self.ci_high)))
            )
            rows.append(("exp(prediction)", *map(_exp, (self.estimate, self.pi_low, self.pi_high))))
        rows += [
            ("tau2", self.tau2, self.tau2_ci_low, self.tau2_ci_high),
            ("tau", self.tau, _sqrt(self.tau2_ci_low), _sqrt(self.tau2_ci_high)),
            ("I2", self.i2, self.i2_ci_low, self.i2_ci_high),
            ("H2", self.h2, nan, nan),
            ("Q", self.q, nan, nan),
            ("Q p", self.q_p, nan, nan),
        ]
        frame = pd.DataFrame(rows, columns=["quantity", "value", "ci_low", "ci_high"])
        return frame.set_index("quantity")

    def weights_frame(self) -> pd.DataFrame:
        """Percent weight per trial: columns ``study, weight``."""
        return pd.DataFrame({"study": list(self.studies), "weight": self.weights.copy()})

    def _report_lines(self) -> list[str]:
        if self.k == 1:
            return self._single_trial_lines()
        pct = _percent(self.level)
        if self.method == "FE":
            header = f"Common-effect (inverse-variance) meta-analysis (k = {self.k}; FE)"
        else:
            header = (
                f"Random-effects meta-analysis (k = {self.k}; τ² estimator: {self.method}, "
                f"{METHOD_NAMES[self.method]})"
            )
        lines = [header]
        if self.hksj:
            lines.append(f"Hartung-Knapp-Sidik-Jonkman variance, t test on {self.k - 1} df")
        lines += [
            "",
            f"τ² (between-trial variance): {_num(self.tau2)}  "
            f"({pct} CI {_num(self.tau2_ci_low)} to {_num(self.tau2_ci_high)}, Q-profile)",
            f"τ  (between-trial SD):       {_num(self.tau)}",
            f"I² (heterogeneity / total):  {_num(self.i2, 2, '%')}  "
            f"({pct} CI {_num(self.i2_ci_low, 2, '%')} to {_num(self.i2_ci_high, 2, '%')})",
            f"H² (total / sampling var.):  {_num(self.h2, 2)}",
            f"Test for heterogeneity: Q({self.q_df} df) = {_num(self.q)}, p {_pval(self.q_p)}",
            "",
            f"Pooled {self.effect_words}: {_num(self.estimate)} "
            f"({pct} CI {_num(self.ci_low)} to {_num(self.ci_high)}), SE {_num(self.se)}",
            f"Test of no effect: {self.dist}{_df_text(self.df)} = {_num(self.stat, 3)}, "
            f"p {_pval(self.p)}",
        ]
        if self.is_ratio:
            lines.append(
                f"Pooled {self.ratio_words}: {_num(_exp(self.estimate))} "
                f"({pct} CI {_num(_exp(self.ci_low))} to {_num(_exp(self.ci_high))})"
            )
        lines.append(f"{pct} prediction interval: {self._prediction_text()}")
        lines += self._prediction_note()
        return lines

    def _prediction_note(self) -> list[str]:
        """Words beside a prediction interval that few trials make wide: what it means and
        why it is wide, so that an odds ratio 'from 0.0000 to 29,299.95' is not misread."""
        if math.isnan(self.pi_low):
            return []
        ratio_span = self.pi_high - self.pi_low if self.is_ratio else 0.0
        if self.k >= SMALL_K and ratio_span <= math.log(WIDE_RATIO_SPAN):
            return []
        crit = float(stats.t.isf((1.0 - self.level) / 2.0, self.k - 2))
        note = (
            f"the prediction interval is where the effect of a new, similar trial is "
            f"expected to lie; with k = {self.k} trials it uses a t distribution on k - 2 = "
            f"{self.k - 2} df (critical value {crit:.2f}) and a τ² estimated from only "
            f"{self.k} trials, so it is wide and imprecise. It reflects how little the trials "
            "say about the spread of effects between trials, not a plausible range of true "
            "effects; read it with the τ² interval above."
        )
        return textwrap.wrap(note, width=92, initial_indent="  Note: ", subsequent_indent="  ")

    def _single_trial_lines(self) -> list[str]:
        """One trial: nothing is pooled and no between-trial variance is estimated."""
        pct = _percent(self.level)
        lines = [
            f"Single trial (k = 1, {self.studies[0]!r}): nothing to pool; τ², I² and the "
            "heterogeneity test are not estimable",
            "",
            f"Trial {self.effect_words}: {_num(self.estimate)} "
            f"({pct} CI {_num(self.ci_low)} to {_num(self.ci_high)}), SE {_num(self.se)}",
            f"Test of no effect: {self.dist}{_df_text(self.df)} = {_num(self.stat, 3)}, "
            f"p {_pval(self.p)}",
        ]
        if self.is_ratio:
            lines.append(
                f"Trial {self.ratio_words}: {_num(_exp(self.estimate))} "
                f"({pct} CI {_num(_exp(self.ci_low))} to {_num(_exp(self.ci_high))})"
            )
        return lines

    def _prediction_text(self) -> str:
        if math.isnan(self.pi_low):
            why = "common-effect model" if self.method == "FE" else "fewer than 3 trials"
            return f"not available ({why})"
        text = f"{_num(self.pi_low)} to {_num(self.pi_high)}"
        if self.is_ratio:
            text += (
                f" ({SCALES[str(self.scale)].ratio_name} {_ratio_num(_exp(self.pi_low))} to "
                f"{_ratio_num(_exp(self.pi_high))})"
            )
        return text

    def __str__(self) -> str:
        return "\n".join(self._report_lines())

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        frame = self.summary_frame()
        header = html.escape(self._report_lines()[0])
        extra = html.escape(self._report_lines()[1]) if self.hksj else ""
        body = frame.to_html(float_format=lambda x: f"{x:.4f}", na_rep="", escape=True)
        caption = f"<p><b>{header}</b><br>{extra}</p>" if extra else f"<p><b>{header}</b></p>"
        note = (
            f"<p>Q({self.q_df} df) = {_num(self.q)}, p {html.escape(_pval(self.q_p))}; "
            f"{_percent(self.level)} intervals; effect scale: "
            f"{html.escape(scale_name(self.scale) if self.scale else 'not specified')}.</p>"
        )
        return f"<div>{caption}{body}{note}</div>"


# --- formatting ---------------------------------------------------------------------------


SMALL_K = 5
"""Below this many trials the prediction interval is printed with a note on its width."""
WIDE_RATIO_SPAN = 100.0
"""A ratio-scale prediction interval whose upper end exceeds its lower end this many times
over is printed with a note, whatever k."""


def _ratio_num(x: float) -> str:
    """A ratio with 4 decimals, or in scientific notation when that would print 0.0000 or
    a very large number."""
    if math.isnan(x):
        return "NA"
    return f"{x:.4f}" if 1e-3 <= x < 1e5 else f"{x:.3g}"


def _lower_first(text: str) -> str:
    if text[:2].isupper():  # an acronym ("RMST difference") keeps its capitals
        return text
    return text[:1].lower() + text[1:]


def _exp(x: float) -> float:
    return math.exp(x) if not math.isnan(x) else math.nan


def _sqrt(x: float) -> float:
    return math.sqrt(x) if not math.isnan(x) else math.nan


def _num(x: float, digits: int = 4, unit: str = "") -> str:
    return "NA" if math.isnan(x) else f"{x:.{digits}f}{unit}"


def _pval(p: float) -> str:
    if math.isnan(p):
        return "= NA"
    return "< 0.0001" if p < 1e-4 else f"= {p:.4f}"


def _percent(level: float) -> str:
    return f"{100 * level:g}%"


def _df_text(df: float | None) -> str:
    return "" if df is None else f"({df:g} df)"
