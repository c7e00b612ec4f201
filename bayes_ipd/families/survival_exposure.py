"""Exposure of each design row to the baseline hazard: the survival family's fast path.

The piecewise-exponential kernel needs, for every distinct design row ``r`` of trial ``k``,
``H_r = sum_j E_rj h_kj``: the row's exposure in interval ``j`` weighted by the baseline
hazard ``h_kj = exp(walk_kj)``. Summed over the row's (row, interval) cells this costs one
term per person-interval. Most rows need far fewer:

* a participant at risk from time 0 is exposed for the whole width ``w_j`` of every interval
  before the one they leave in (``e``), and for part of that one (``p``). With the cumulative
  hazard ``C_ke = sum_{j<e} w_j h_kj`` (a K x J table, computed once per gradient), the row's
  term is ``C_ke + p h_ke``: two look-ups instead of ``e + 1`` terms;
* a row of ``c`` participants who all reach interval ``e`` (identical covariates, identical
  follow-up up to ``e``) has ``E_rj = c w_j`` before ``e``: its term is ``c C_ke + p h_ke``.

These are the *prefix rows*: their cells are the intervals ``0..e`` and their exposure before
``e`` is an integer multiple of the widths. Every other row keeps its cells (the general
pairs). With continuous covariates every row is one participant, so every row is a prefix
row and the kernel costs O(rows) instead of O(person-intervals). The sum is the same up to
floating-point rounding (``c C_ke`` adds the same terms in another order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayes_ipd.errors import IPDDataError
from bayes_ipd.families.cells import unique_cells

__all__ = [
    "default_cutpoints",
    "exposure_rows",
    "interval_widths",
    "prefix_rows",
    "weighted_exposure",
]

_RELATIVE_TOLERANCE = 1e-12
"""How close a row's exposure before its last interval must be to ``c`` widths."""


def interval_widths(cutpoints: Sequence[float]) -> np.ndarray:
    """(J - 1,) widths of the closed intervals, computed as ``split_exposure`` computes a
    full interval's exposure (``stop - start``), so that one participant's full exposure
    equals its width exactly."""
    edges = np.concatenate([[0.0], np.asarray(cutpoints, dtype=np.float64)])
    return edges[1:] - edges[:-1]


def prefix_rows(
    row: np.ndarray,
    interval: np.ndarray,
    exposure: np.ndarray,
    n_rows: int,
    widths: np.ndarray,
) -> dict[str, np.ndarray]:
    """Which rows are prefix rows, with their count, last interval and partial exposure.

    Parameters
    ----------
    row, interval, exposure : numpy.ndarray
        (P,) the cells: design row, interval and exposure of each.
    n_rows : int
        Number of design rows.
    widths : numpy.ndarray
        (J - 1,) the closed intervals' widths (:func:`interval_widths`).

    Returns
    -------
    dict
        ``is_prefix`` (R,) bool; ``count`` (R,) the integer ``c`` (0 for a row whose only
        cell is the first interval); ``last`` (R,) the last interval ``e``; ``partial``
        (R,) the exposure in ``e``. ``count``, ``last`` and ``partial`` are meaningful on
        prefix rows only.
    """
    last = np.full(n_rows, -1, dtype=np.int64)
    np.maximum.at(last, row, interval)
    cells = np.bincount(row, minlength=n_rows)
    before = interval < last[row]  # a closed interval: there is a later one
    full_width = np.zeros(len(row))
    full_width[before] = widths[interval[before]]
    first = before & (interval == 0)
    count = np.zeros(n_rows)
    count[row[first]] = np.rint(exposure[first] / full_width[first])
    expected = count[row] * full_width
    off = before & ~(np.abs(exposure - expected) <= _RELATIVE_TOLERANCE * expected)
    is_prefix = (cells == last + 1) & (np.bincount(row[off], minlength=n_rows) == 0)
    is_prefix &= (last == 0) | (count > 0)
    partial = np.zeros(n_rows)
    at_last = ~before
    partial[row[at_last]] = exposure[at_last]
    return {"is_prefix": is_prefix, "count": count, "last": last, "partial": partial}


def exposure_rows(
    stats: Mapping[str, np.ndarray], k: int, j: int, cutpoints: Sequence[float]
) -> dict[str, np.ndarray]:
    """Exposure cells regrouped by distinct design row of a trial (the fast path's data).

    ``row_study``, ``row_z``, ``row_events`` per design row; ``interval_events`` (K, J)
    the events of each trial and interval. With prefix rows (:func:`prefix_rows`):
    ``prefix_study``, ``prefix_count``, ``prefix_last``, ``prefix_partial`` per prefix row,
    and ``widths`` when there is more than one interval. With other rows: ``pair_row``,
    ``pair_study``, ``pair_interval``, ``pair_exposure`` per cell of theirs, and then
    ``prefix_row`` (which rows the prefix rows are) when both kinds occur. A part that has no
    rows is left out, since a data container the model does not use is pruned from the
    compiled program.
    """
    keys = np.column_stack([stats["cell_study"], stats["cell_z"]])
    uniq, row = unique_cells(keys)
    study, interval = stats["cell_study"], stats["cell_interval"]
    exposure = stats["cell_n"].astype(np.float64)
    widths = interval_widths(cutpoints)
    prefix = prefix_rows(row, interval, exposure, len(uniq), widths)
    row_study = uniq[:, 0].astype(np.int64)
    chosen = np.flatnonzero(prefix["is_prefix"])
    general = ~prefix["is_prefix"][row]
    events = np.bincount(study * j + interval, weights=stats["cell_events"], minlength=k * j)
    out = {
        "row_study": row_study,
        "row_z": np.ascontiguousarray(uniq[:, 1:]),
        "row_events": np.bincount(row, weights=stats["cell_events"], minlength=len(uniq)),
        "interval_events": events.reshape(k, j),
    }
    if chosen.size:
        out.update(
            prefix_study=row_study[chosen],
            prefix_count=prefix["count"][chosen],
            prefix_last=prefix["last"][chosen],
            prefix_partial=prefix["partial"][chosen],
        )
        if widths.size:
            out["widths"] = widths
    if general.any():
        out.update(
            pair_row=row[general].astype(np.int64),
            pair_study=study[general].astype(np.int64),
            pair_interval=interval[general].astype(np.int64),
            pair_exposure=exposure[general],
        )
        if chosen.size:
            out["prefix_row"] = chosen
    return out


def weighted_exposure(hazard: Any, data: Mapping[str, Any], n_rows: int) -> Any:
    """(R,) ``sum_j E_rj h_kj`` per design row (PyTensor), from the (K, J) ``hazard``.

    Prefix rows take ``c C_ke + p h_ke`` from the cumulative hazard ``C``; the other rows sum
    their cells. The parts present in ``data`` (:func:`exposure_rows`) decide the graph:
    when every row is a prefix row no scatter is needed at all.
    """
    import pytensor.tensor as pt

    prefix = _prefix_exposure(hazard, data) if "prefix_study" in data else None
    if "pair_row" not in data:
        return prefix
    total = pt.zeros(n_rows)
    if prefix is not None:
        total = pt.set_subtensor(total[data["prefix_row"]], prefix)
    weighted = data["pair_exposure"] * hazard[data["pair_study"], data["pair_interval"]]
    return pt.inc_subtensor(total[data["pair_row"]], weighted)


def _prefix_exposure(hazard: Any, data: Mapping[str, Any]) -> Any:
    """``c C_ke + p h_ke`` per prefix row, with ``C`` the cumulative hazard over the widths."""
    import pytensor.tensor as pt

    k = hazard.shape[0]
    if "widths" in data:
        steps = pt.cumsum(hazard[:, :-1] * data["widths"][None, :], axis=1)
        cumulative = pt.concatenate([pt.zeros((k, 1)), steps], axis=1)
    else:
        cumulative = pt.zeros((k, 1))
    at = (data["prefix_study"], data["prefix_last"])
    return data["prefix_count"] * cumulative[at] + data["prefix_partial"] * hazard[at]


def default_cutpoints(event_times: np.ndarray, intervals: int) -> tuple[float, ...]:
    """Interior cut points at the ``j / intervals`` quantiles of the event times.

    The intervals then hold roughly equal numbers of events. Ties among quantiles are
    merged, so fewer intervals may result when events are few.
    """
    if intervals < 1:
        raise IPDDataError(f"intervals must be at least 1, got {intervals}")
    if event_times.size == 0:
        raise IPDDataError("no events in the data: cannot place survival cut points")
    probs = np.arange(1, intervals) / intervals
    cuts = np.unique(np.quantile(event_times, probs))
    cuts = cuts[(cuts > 0) & (cuts < event_times.max())]
    return tuple(float(c) for c in cuts)
