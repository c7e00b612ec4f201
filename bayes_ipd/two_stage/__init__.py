"""The two-stage route: one regression per trial, then inverse-variance pooling.

:func:`two_stage` runs both stages on participant rows, as Stata's ``ipdmetan`` does;
:func:`fit_per_study` (stage one) and :func:`pool_aggregate` (stage two) are the two halves.
"""

from __future__ import annotations

from collections.abc import Sequence

from bayes_ipd.data import IPD
from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage.ad_trials import combine_with_aggregate
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
    aggregate: AggregateData | None = None,
    overlap: str = "error",
    sparse: str = "none",
    stage_one: AggregateData | None = None,
) -> TwoStageResult:
    """Two-stage IPD meta-analysis: per-trial regressions, then pooling.

    Parameters
    ----------
    ipd : IPD
        Validated participant rows.
    covariates, pool_var, sparse
        As in :func:`fit_per_study` (``sparse``: continuity corrections or Firth for
        sparse binary trials; default ``"none"``).
    method, hksj, level
        As in :func:`pool_aggregate`.
    aggregate : AggregateData, optional
        Trials known only by a published estimate and SE (Stata ``ipdmetan, ad()``), on
        the stage-one scale; pooled beside the IPD trials and marked ``"AD"`` in
        :attr:`TwoStageResult.sources` and the forest plot.
    overlap : {"error", "ipd", "aggregate"}
        A trial given both as IPD and in ``aggregate``: refuse (default), keep the IPD
        estimate, or keep the published one (see
        :func:`bayes_ipd.two_stage.ad_trials.combine_with_aggregate`).
    stage_one : AggregateData, optional
        Stage one already fitted: ``fit_per_study(ipd, covariates=covariates,
        pool_var=pool_var, sparse=sparse)``, reused as it is instead of fitting every trial
        again (an analysis pooling the same trials with and without ``aggregate`` fits them
        once). Its trials must be ``ipd``'s; the result is the same as without it.

    Returns
    -------
    TwoStageResult

    Raises
    ------
    PoolingError
        Every trial was excluded at stage one, the pooling options are invalid, or
        ``stage_one`` holds other trials than ``ipd``.

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
    if stage_one is None:
        per_study = fit_per_study(ipd, covariates=covariates, pool_var=pool_var, sparse=sparse)
    else:
        per_study = _reused(stage_one, ipd)
    sources: dict[str, str] = {}
    if aggregate is not None:
        combined = combine_with_aggregate(per_study, aggregate, overlap=overlap)
        per_study, sources = combined.per_study, dict(combined.sources)
    pooled = pool_aggregate(per_study, method=method, hksj=hksj, level=level)
    return TwoStageResult(
        per_study=per_study,
        pooled=pooled,
        family=ipd.family,
        dropped=ipd.dropped,
        sources=sources,
    )


def _reused(stage_one: AggregateData, ipd: IPD) -> AggregateData:
    """A stage one fitted before, checked to hold ``ipd``'s trials in its order."""
    if tuple(stage_one.studies) != tuple(ipd.studies):
        raise PoolingError(
            "stage_one: its trials are not the IPD's "
            f"({', '.join(stage_one.studies)} vs {', '.join(ipd.studies)})"
        )
    return stage_one
