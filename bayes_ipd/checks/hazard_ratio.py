"""A survival fit's posterior on the hazard-ratio scale: pooled, new-trial, interaction
and per-trial hazard ratios in one table."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from bayes_ipd.checks.baseline_hazard import require_survival
from bayes_ipd.draws import quantile_labels

if TYPE_CHECKING:
    from bayes_ipd.draws import Fit

__all__ = ["hazard_ratio_summary"]


def hazard_ratio_summary(result: Fit, level: float = 0.95, seed: int | None = None) -> pd.DataFrame:
    """Posterior summaries on the hazard-ratio scale, in one table.

    Parameters
    ----------
    result : Fit
        A survival fit.
    level : float
        Coverage of the equal-tailed intervals.
    seed : int, optional
        Seed of the new-trial draws (the fit's ``predict_new_study``).

    Returns
    -------
    pandas.DataFrame
        Index ``parameter``: ``pooled HR`` (``exp(mu)``), ``HR in a new trial``
        (``exp(theta_new)``), ``HR ratio within: <term>`` and ``HR ratio across: <term>``
        (the factor by which the hazard ratio changes per unit of the effect modifier), and
        ``HR in <trial>`` (the shrunken ``exp(theta_k)``). Columns ``median, mean`` (of the
        hazard ratio itself), the interval (e.g. ``q025, q975``) and ``p_lt_1`` =
        P(ratio < 1).
    """
    require_survival(result.family, "hazard_ratio_summary")
    post = result.idata.posterior
    design = result.built.design
    rows: list[tuple[str, np.ndarray]] = [
        ("pooled HR", _values(post["mu"])),
        ("HR in a new trial", _values(result.predict_new_study(seed))),
    ]
    for term in design.interaction_terms:
        for part in ("within", "across"):
            draws = post[f"gamma_{part}"].sel(interaction=term)
            rows.append((f"HR ratio {part}: {term}", _values(draws)))
    for study in design.studies:
        rows.append((f"HR in {study}", _values(post["theta"].sel(study=study))))
    lo, hi = quantile_labels(level)
    records = []
    for label, log_draws in rows:
        ratio = np.exp(log_draws)
        q = np.quantile(ratio, [(1 - level) / 2, 0.5, (1 + level) / 2])
        records.append(
            {
                "parameter": label,
                "median": float(q[1]),
                "mean": float(ratio.mean()),
                lo: float(q[0]),
                hi: float(q[2]),
                "p_lt_1": float(np.mean(log_draws < 0)),
            }
        )
    return pd.DataFrame.from_records(records).set_index("parameter")


def _values(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.values, dtype=np.float64).ravel()
