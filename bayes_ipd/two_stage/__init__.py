"""The two-stage route: one regression per trial, then inverse-variance pooling.

:func:`two_stage` runs both stages on participant rows, as Stata's ``ipdmetan`` does;
:func:`fit_per_study` (stage one) and :func:`pool_aggregate` (stage two) are the two halves.
"""

from __future__ import annotations

from collections.abc import Sequence

from bayes_ipd.data import IPD
from bayes_ipd.two_stage.aggregate import AggregateData
from bayes_ipd.two_stage.pooling import PooledResult, pool, pool_aggregate
from bayes_ipd.two_stage.result import TwoStageResult
from bayes_ipd.two_stage.stage1 import fit_per_study

__all__ = [
    "AggregateData",
    "PooledResult",
    "TwoStageResult",
    "fit_per_study",
    "pool",
    "pool_aggregate",
    "two_stage",
]


def two_stage(
    ipd: IPD,
    *,
    covariates: Sequence[str] = (),
    pool_var: str = "treat",
    method: str = "REML",
    hksj: bool = False,
    level: float = 0.95,
) -> TwoStageResult:
    """Two-stage IPD meta-analysis: per-trial regressions, then pooling.

    Parameters
    ----------
    ipd : IPD
        Validated participant rows.
    covariates, pool_var
        As in :func:`fit_per_study`.
    method, hksj, level
        As in :func:`pool_aggregate`.

    Returns
    -------
    TwoStageResult

    Raises
    ------
    PoolingError
        Every trial was excluded at stage one, or the pooling options are invalid.

    Warns
    -----
    UserWarning
        For each trial excluded at stage one, naming it and the reason.

    Examples
    --------
    >>> from bayes_ipd.datasets import load_bcg_ipd
    >>> res = two_stage(load_bcg_ipd(), hksj=True)
    >>> res.pooled.scale
    'logOR'
    """
    per_study = fit_per_study(ipd, covariates=covariates, pool_var=pool_var)
    pooled = pool_aggregate(per_study, method=method, hksj=hksj, level=level)
    return TwoStageResult(
        per_study=per_study, pooled=pooled, family=ipd.family, dropped=ipd.dropped
    )
