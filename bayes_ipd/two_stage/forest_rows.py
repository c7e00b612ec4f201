"""Forest-plot rows and text lines of a two-stage analysis, and the figure in one call.

:func:`two_stage_rows` turns a pooled result and its per-trial table into
:class:`~bayes_ipd.plots.ForestRow` values, :func:`heterogeneity_lines` writes the lines
printed under the table, and :func:`two_stage_forest` draws both with
:func:`bayes_ipd.plots.forest_plot`. The plots themselves never read a result object.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from bayes_ipd.conventions import method_label, term_measure
from bayes_ipd.families import get_family
from bayes_ipd.plots import RATIO_SCALES, ForestRow, forest_plot
from bayes_ipd.plots.layout import DEFAULT_FAVOURS
from bayes_ipd.plots.text import fmt, fmt_count, fmt_p, fmt_sig, measure_name

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bayes_ipd.data import IPD
    from bayes_ipd.two_stage.aggregate import AggregateData
    from bayes_ipd.two_stage.pooling import PooledResult

__all__ = ["arm_count_columns", "heterogeneity_lines", "two_stage_forest", "two_stage_rows"]


def two_stage_forest(
    pooled: PooledResult,
    per_study: AggregateData | None = None,
    *,
    title: str | None = None,
    labels: Sequence[str] | Mapping[str, str] | None = None,
    extra_columns: Mapping[str, Sequence[Any]] | None = None,
    exponentiate: bool | None = None,
    xlabel: str | None = None,
    show_weights: bool = True,
    show_prediction: bool = True,
    level: float = 0.95,
    xlim: tuple[float, float] | None = None,
    digits: int = 2,
    favours: tuple[str, str] | str | None = "auto",
) -> Figure:
    """Forest plot of a two-stage meta-analysis, laid out as metafor's ``forest()``.

    Parameters
    ----------
    pooled : PooledResult
        The pooled result (read by attribute; see :func:`two_stage_rows`). Its ``tau2,
        i2, q, q_df, q_p`` give the heterogeneity line and ``stat, p, dist, df`` the test
        of the pooled effect (see :func:`heterogeneity_lines`); its ``scale`` (else that
        of ``per_study``) names the measure.
    per_study : AggregateData, optional
        The per-trial estimates and standard errors; trials carrying an exclusion reason
        are listed greyed, with the reason, after the pooled ones.
    title : str, optional
        Figure title.
    labels : sequence or mapping of str, optional
        Display labels of the trials (see :func:`two_stage_rows`).
    extra_columns : mapping of str to sequence, optional
        Extra label columns shown left of the plot, e.g. ``{"Year": years}`` or the
        per-arm ``events/N`` columns of :func:`arm_count_columns`. Without them, when
        ``per_study`` counts events, an ``Events/N`` column replaces the ``N`` column.
    exponentiate : bool, optional
        Draw on the ratio scale: log axis with ratio tick labels and exponentiated numbers.
        By default, True when the scale is a log ratio (see
        :data:`bayes_ipd.plots.RATIO_SCALES`).
    xlabel : str, optional
        Axis label; by default the name of the measure (``"Risk ratio"``, ...).
    show_weights : bool
        Show the weight column.
    show_prediction : bool
        Draw the prediction interval below the diamond when it exists (k >= 3).
    level : float
        Coverage of the per-trial intervals.
    xlim : (float, float), optional
        Axis limits on the drawn scale (ratios when exponentiated); intervals running
        beyond them end in an arrow. By default the axis covers every interval.
    digits : int
        Decimals of the numbers on the right.
    favours : (str, str), None or "auto"
        Labels under the axis, left and right of the null line. ``"auto"``: ``("Favours
        treatment", "Favours control")`` (lower is better) for the treatment effect, none
        for an interaction term; None for none.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        As :func:`two_stage_rows` and :func:`bayes_ipd.plots.forest_plot`.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> agg = SimpleNamespace(studies=("A", "B"), estimate=np.array([-0.5, -0.2]),
    ...                       se=np.array([0.2, 0.3]), n=None, excluded=(), scale="logRR")
    >>> res = SimpleNamespace(method="FE", hksj=False, k=2, level=0.95, estimate=-0.41,
    ...     se=0.17, ci_low=-0.73, ci_high=-0.08, stat=-2.5, p=0.01, dist="z", df=math.nan,
    ...     tau2=0.0, i2=0.0, q=0.69, q_df=1, q_p=0.41, pi_low=math.nan, pi_high=math.nan,
    ...     studies=("A", "B"), weights=np.array([69.2, 30.8]), scale="logRR")
    >>> fig = two_stage_forest(res, agg, title="Two trials")
    >>> fig.axes[1].get_xscale()
    'log'
    """
    scale = getattr(pooled, "scale", None) or getattr(per_study, "scale", None)
    if exponentiate is None:
        exponentiate = scale in RATIO_SCALES
    rows = two_stage_rows(
        pooled,
        per_study,
        labels=labels,
        extra_columns=extra_columns,
        level=level,
        show_prediction=show_prediction,
    )
    if not extra_columns and getattr(per_study, "events", None) is not None:
        rows, extra_columns = _with_event_column(rows, per_study)
    if favours == "auto":
        term = getattr(per_study, "term", "treat")
        favours = DEFAULT_FAVOURS if term == "treat" else None
    return forest_plot(
        rows,
        heterogeneity=heterogeneity_lines(pooled),
        extra_headers=tuple(extra_columns or {}),
        title=title,
        exponentiate=exponentiate,
        measure=term_measure(
            measure_name(scale, exponentiate), getattr(per_study, "term", None), exponentiate
        ),
        xlabel=xlabel,
        show_weights=show_weights,
        level=level,
        xlim=xlim,
        digits=digits,
        favours=favours,
    )


def _with_event_column(
    rows: list[ForestRow], agg: AggregateData
) -> tuple[list[ForestRow], dict[str, list[str]]]:
    """Rows whose ``N`` moves into an ``Events/N`` column (``15/262``), pooled row included.

    The first ``k`` rows are the trials of ``agg`` (as :func:`two_stage_rows` makes them);
    rows that do not line up so are returned unchanged, without the column."""
    k = len(agg.studies)
    if len(rows) < k or any(r.style not in ("study", "excluded") for r in rows[:k]):
        return rows, {}
    events = [int(e) for e in agg.events]
    reasons = _exclusion_reasons(agg)
    cells = [
        f"{fmt_count(e)}/{fmt_count(r.n)}" if r.n else ""
        for e, r in zip(events, rows[:k], strict=True)
    ]
    kept = sum(e for e, reason in zip(events, reasons, strict=True) if reason is None)
    for row in rows[k:]:
        pooled = row.style == "pooled" and row.n is not None
        cells.append(f"{fmt_count(kept)}/{fmt_count(row.n)}" if pooled else "")
    out = [dataclasses.replace(r, n=None, extra=(c,)) for r, c in zip(rows, cells, strict=True)]
    return out, {"Events/N": cells}


def arm_count_columns(ipd: IPD) -> dict[str, list[str]]:
    """Per-arm count columns of a forest plot, as ipdmetan shows them.

    Parameters
    ----------
    ipd : IPD
        The participant rows the two-stage analysis used.

    Returns
    -------
    dict of str to list of str
        ``{"Treated events/N": ["4/123", ...], "Control events/N": [...]}`` (one cell per
        trial of ``ipd.studies``, thousands separated) for outcomes with events, else
        ``{"Treated N": ..., "Control N": ...}``. Pass it as ``extra_columns`` to
        :func:`two_stage_forest` or :meth:`TwoStageResult.plot_forest`.

    Examples
    --------
    >>> from bayes_ipd.datasets import load_bcg_ipd
    >>> arm_count_columns(load_bcg_ipd())["Treated events/N"][0]
    '4/123'
    """
    k = len(ipd.studies)
    treated = np.asarray(ipd.treat, dtype=float) == 1.0
    role = get_family(ipd.family).event_role
    counts = None if role is None else np.asarray(getattr(ipd, role), dtype=float)
    columns: dict[str, list[str]] = {}
    for arm, in_arm in (("Treated", treated), ("Control", ~treated)):
        n = np.bincount(ipd.study[in_arm], minlength=k)
        if counts is None:
            columns[f"{arm} N"] = [fmt_count(x) for x in n]
            continue
        events = np.bincount(ipd.study[in_arm], weights=counts[in_arm], minlength=k)
        cells = [f"{fmt_count(e)}/{fmt_count(x)}" for e, x in zip(events, n, strict=True)]
        columns[f"{arm} events/N"] = cells
    return columns


def two_stage_rows(
    pooled: PooledResult,
    per_study: AggregateData | None = None,
    *,
    labels: Sequence[str] | Mapping[str, str] | None = None,
    extra_columns: Mapping[str, Sequence[Any]] | None = None,
    level: float = 0.95,
    show_prediction: bool = True,
) -> list[ForestRow]:
    """Forest rows of a two-stage analysis: trials, the pooled estimate, the prediction.

    Parameters
    ----------
    pooled : PooledResult
        Read by attribute: ``method, hksj, estimate, ci_low, ci_high, pi_low, pi_high,
        studies, weights``.
    per_study : AggregateData, optional
        Read by attribute: ``studies, estimate, se, n, excluded``. Without it only the
        pooled rows are returned.
    labels : sequence or mapping of str, optional
        Display labels: one per trial of ``per_study`` in its order, or a mapping from
        trial label to display label (trials not in it keep their own label).
    extra_columns : mapping of str to sequence, optional
        Extra label columns (header -> one value per trial of ``per_study``).
    level : float
        Coverage of the per-trial Wald intervals ``estimate ± z * se``.
    show_prediction : bool
        Add the prediction-interval row when the interval exists.

    Returns
    -------
    list of ForestRow
        Trial rows (style ``"study"``, or ``"excluded"`` with the reason in ``note``), then
        the ``"pooled"`` row and, when there is one, the ``"prediction"`` row.

    Raises
    ------
    ValueError
        ``level`` outside (0, 1), ``labels`` or an extra column has the wrong length, or
        extra columns are given without ``per_study``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    rows: list[ForestRow] = []
    if per_study is not None:
        rows.extend(_trial_rows(pooled, per_study, labels, extra_columns, level))
    elif extra_columns:
        raise ValueError("extra_columns need per_study: their values are given per trial")
    blank_extra = ("",) * len(extra_columns or {})
    method = method_label(getattr(pooled, "method", None), bool(getattr(pooled, "hksj", False)))
    rows.append(
        ForestRow(
            label=f"Pooled ({method})" if method else "Pooled",
            estimate=pooled.estimate,
            ci_low=pooled.ci_low,
            ci_high=pooled.ci_high,
            weight=100.0,
            n=_pooled_n(per_study),
            extra=blank_extra,
            style="pooled",
        )
    )
    pi_low = _as_float(getattr(pooled, "pi_low", None))
    pi_high = _as_float(getattr(pooled, "pi_high", None))
    if show_prediction and math.isfinite(pi_low) and math.isfinite(pi_high):
        rows.append(
            ForestRow(
                label="Prediction interval",
                estimate=pooled.estimate,
                ci_low=pi_low,
                ci_high=pi_high,
                extra=blank_extra,
                style="prediction",
            )
        )
    return rows


def heterogeneity_lines(pooled: PooledResult) -> tuple[str, ...]:
    """The lines under a two-stage forest plot: heterogeneity and the test of the effect.

    Parameters
    ----------
    pooled : PooledResult
        Read by attribute: ``method, tau2, i2, q, q_df, q_p`` for the heterogeneity line
        (written when Q exists on at least one degree of freedom; τ² is left out for the
        common-effect method ``FE``) and ``stat, dist, df, p`` for the test line (written
        when the statistic is finite).

    Returns
    -------
    tuple of str
        Zero, one or two lines, e.g. ``"Heterogeneity: τ² = 0.313, I² = 92.2%, Q = 152.23
        (df 12, p < 0.001)"`` and ``"Test for overall effect: t = −3.95 (df 12, p =
        0.002)"``.
    """
    lines = []
    q_df = _as_float(getattr(pooled, "q_df", None))
    q = _as_float(getattr(pooled, "q", None))
    if math.isfinite(q) and q_df >= 1:
        parts = []
        if str(getattr(pooled, "method", "")).upper() != "FE":
            parts.append(f"τ² = {fmt_sig(float(pooled.tau2))}")
        parts.append(f"I² = {fmt(float(pooled.i2), 1)}%")
        q_p = _as_float(getattr(pooled, "q_p", None))
        parts.append(f"Q = {fmt(q, 2)} (df {q_df:g}, {fmt_p(q_p)})")
        lines.append("Heterogeneity: " + ", ".join(parts))
    stat = _as_float(getattr(pooled, "stat", None))
    if math.isfinite(stat):
        dist = str(getattr(pooled, "dist", "z") or "z")
        df = _as_float(getattr(pooled, "df", None))
        df_text = f"df {df:g}, " if dist == "t" and math.isfinite(df) else ""
        p = _as_float(getattr(pooled, "p", None))
        lines.append(f"Test for overall effect: {dist} = {fmt(stat, 2)} ({df_text}{fmt_p(p)})")
    return tuple(lines)


def _as_float(value: Any) -> float:
    """NaN for a missing value (None), else the value as float."""
    return math.nan if value is None else float(value)


def _exclusion_reasons(agg: AggregateData) -> tuple[str | None, ...]:
    """One exclusion reason (or None) per trial of ``agg``."""
    return tuple(getattr(agg, "excluded", ()) or ()) or (None,) * len(agg.studies)


def _trial_rows(
    pooled: PooledResult,
    agg: AggregateData,
    labels: Sequence[str] | Mapping[str, str] | None,
    extra_columns: Mapping[str, Sequence[Any]] | None,
    level: float,
) -> list[ForestRow]:
    studies = tuple(str(s) for s in agg.studies)
    k = len(studies)
    display = _display_labels(studies, labels)
    extras = _extra_values(extra_columns, k)
    reasons = _exclusion_reasons(agg)
    n = getattr(agg, "n", None)
    weights = dict(
        zip(
            (str(s) for s in getattr(pooled, "studies", ())),
            np.asarray(getattr(pooled, "weights", ()), dtype=float),
            strict=False,
        )
    )
    z = float(stats.norm.ppf(0.5 + level / 2))
    rows = []
    for i, study in enumerate(studies):
        est, se = float(agg.estimate[i]), float(agg.se[i])
        reason = reasons[i]
        if reason is None and not (math.isfinite(est) and math.isfinite(se)):
            reason = "not estimable"
        rows.append(
            ForestRow(
                label=display[i],
                estimate=est if reason is None else math.nan,
                ci_low=est - z * se if reason is None else math.nan,
                ci_high=est + z * se if reason is None else math.nan,
                weight=weights.get(study) if reason is None else None,
                n=None if n is None else int(n[i]),
                extra=extras[i],
                style="study" if reason is None else "excluded",
                note=None if reason is None else str(reason),
            )
        )
    return rows


def _display_labels(
    studies: tuple[str, ...], labels: Sequence[str] | Mapping[str, str] | None
) -> tuple[str, ...]:
    if labels is None:
        return studies
    if isinstance(labels, Mapping):
        return tuple(str(labels.get(s, s)) for s in studies)
    labels = tuple(str(v) for v in labels)
    if len(labels) != len(studies):
        raise ValueError(
            f"labels has {len(labels)} entries; expected {len(studies)}, one per trial"
        )
    return labels


def _extra_values(
    extra_columns: Mapping[str, Sequence[Any]] | None, k: int
) -> list[tuple[str, ...]]:
    if not extra_columns:
        return [()] * k
    columns = []
    for header, values in extra_columns.items():
        cells = [_cell_text(v) for v in values]
        if len(cells) != k:
            raise ValueError(
                f"extra column {header!r} has {len(cells)} values; expected {k}, one per trial"
            )
        columns.append(cells)
    return [tuple(col[i] for col in columns) for i in range(k)]


def _cell_text(value: Any) -> str:
    """Text of an extra-column value: blank for None or NaN, ``1948`` for ``1948.0``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _pooled_n(agg: AggregateData | None) -> int | None:
    """Participants of the pooled trials (excluded trials left out); None when unknown."""
    if agg is None or getattr(agg, "n", None) is None:
        return None
    reasons = _exclusion_reasons(agg)
    return int(sum(int(n) for n, r in zip(agg.n, reasons, strict=True) if r is None))
