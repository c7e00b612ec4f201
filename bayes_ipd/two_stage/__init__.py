"""The two-stage route: one regression per trial, then inverse-variance pooling.

:func:`two_stage` runs both stages on participant rows, as Stata's ``ipdmetan`` does;
:func:`fit_per_study` (stage one) and :func:`pool_aggregate` (stage two) are the two halves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from bayes_ipd.data import IPD
from bayes_ipd.data.network import Network
from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage.ad_trials import combine_with_aggregate
from bayes_ipd.two_stage.aggregate import AggregateData
from bayes_ipd.two_stage.multiple import imputed_stage_one
from bayes_ipd.two_stage.network_entry import two_stage_network
from bayes_ipd.two_stage.network_result import NetworkResult
from bayes_ipd.two_stage.pooling import PooledResult, pool, pool_aggregate
from bayes_ipd.two_stage.result import TwoStageResult
from bayes_ipd.two_stage.stage1 import fit_per_study
from bayes_ipd.two_stage.time_effects import time_effect_members

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
    ipd: IPD | Network,
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
    effect: str = "coefficient",
    horizons: Sequence[float] = (),
    imputations: int | Sequence[pd.DataFrame] | None = None,
    seed: int = 0,
    ph_test: bool = False,
    effect_intervals: str | Sequence[float] | None = None,
) -> TwoStageResult | NetworkResult:
    """Two-stage IPD meta-analysis: per-trial regressions, then pooling.

    Parameters
    ----------
    ipd : IPD or Network
        Validated participant rows. A :class:`~bayes_ipd.data.network.Network`
        (``bi.IPD.from_frame(..., reference=...)``) gets the two-stage network
        meta-analysis (:func:`~bayes_ipd.two_stage.network.fit_network_data` with
        ``method``, ``hksj`` and ``sparse``: ``"none"`` excludes trials with a zero-event
        arm, ``"cc"`` corrects them; :mod:`~bayes_ipd.two_stage.network_entry`); the other
        keywords must then keep their defaults.
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
    effect : {"coefficient", "rmst"}
        What is pooled: the family's regression coefficient (default; log hazard ratio for
        survival), or the restricted mean survival time difference (experimental minus
        control) from each arm's Kaplan-Meier curve up to each of ``horizons``
        (survival only; :func:`bayes_ipd.two_stage.rmst_pooling.two_stage_rmst`, which
        refuses covariates, ``pool_var``, ``sparse``, ``aggregate`` and ``stage_one``).
        Then the result is an :class:`~bayes_ipd.two_stage.rmst_pooling.RMSTTwoStageResult`:
        the first horizon's analysis with every horizon's and, with several horizons, their
        multivariate pooling.
    horizons : sequence of float
        RMST horizons, increasing and positive (``effect="rmst"`` only).
    imputations : int or sequence of DataFrame, optional
        Missing covariates (``ipd`` built with ``missing="impute"``): M >= 2 imputes them by
        two-level chained equations (:mod:`bayes_ipd.two_stage.imputation`), or a list of
        data sets completed elsewhere (each with ``ipd``'s source columns, no value
        missing). Stage one runs on each completed data set and each trial's estimates are
        combined by Rubin's rules (:mod:`bayes_ipd.two_stage.rubin`) before pooling;
        :attr:`TwoStageResult.missing` reports M and each trial's fraction of missing
        information. With M and nothing missing, a warning notes that nothing was imputed.
    seed : int
        Seed of the imputations (the same seed, the same data sets).
    ph_test : bool
        Survival: also test proportional hazards in each trial's stage-one Cox model
        (Grambsch-Therneau, as R ``cox.zph(fit, transform = "km")``;
        :func:`bayes_ipd.two_stage.ph_test.proportionality_tests`), warning for each trial
        that rejects at 0.05; :attr:`TwoStageResult.ph_tests`.
    effect_intervals : str or sequence of float, optional
        Survival: cut points (``[12, 36]`` or ``"12,36"``) of periods ``[0, 12), [12, 36),
        [36, inf)``; one log hazard ratio per period per trial (Cox on episode-split
        data), pooled per period with ``method`` / ``hksj`` / ``level``
        (:func:`bayes_ipd.two_stage.periods.effects_by_interval`; IPD trials only);
        :attr:`TwoStageResult.by_interval`. ``pooled`` stays the single-HR analysis.

    Returns
    -------
    TwoStageResult or NetworkResult
        A :class:`~bayes_ipd.two_stage.network_result.NetworkResult` for a network
        (``network()``: effects, league, ranking, inconsistency, node-splits).

    Raises
    ------
    PoolingError
        Every trial was excluded at stage one, the pooling options are invalid, or
        ``stage_one`` holds other trials than ``ipd``; for a network, a two-arm keyword
        not at its default.

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
    if isinstance(ipd, Network):
        two_arm = {"covariates": covariates, "pool_var": pool_var, "level": level}
        two_arm |= {"aggregate": aggregate, "overlap": overlap, "stage_one": stage_one}
        two_arm |= {"effect": effect, "horizons": horizons, "imputations": imputations}
        two_arm |= {"seed": seed, "ph_test": ph_test, "effect_intervals": effect_intervals}
        return two_stage_network(ipd, method=method, hksj=hksj, sparse=sparse, two_arm=two_arm)
    if (ph_test or effect_intervals is not None) and (effect != "coefficient" or len(horizons)):
        raise PoolingError(
            "ph_test and effect_intervals go with the hazard ratio, not effect='rmst'"
        )
    if effect != "coefficient" or len(horizons):
        others = {"covariates": covariates, "pool_var": pool_var, "sparse": sparse}
        others |= {"aggregate": aggregate, "stage_one": stage_one, "imputations": imputations}
        others |= {"ph_test": ph_test, "effect_intervals": effect_intervals}
        return _rmst(ipd, effect, horizons, others, method=method, hksj=hksj, level=level)
    imputed = None
    if stage_one is not None and imputations is not None:
        raise PoolingError("stage_one and imputations: give one (imputations fit stage one)")
    if stage_one is not None:
        per_study = _reused(stage_one, ipd)
    elif imputations is not None:
        per_study, imputed = imputed_stage_one(
            ipd,
            covariates=covariates,
            pool_var=pool_var,
            sparse=sparse,
            imputations=imputations,
            seed=seed,
        )
    else:
        per_study = fit_per_study(ipd, covariates=covariates, pool_var=pool_var, sparse=sparse)
    sources: dict[str, str] = {}
    if aggregate is not None:
        combined = combine_with_aggregate(per_study, aggregate, overlap=overlap)
        per_study, sources = combined.per_study, dict(combined.sources)
    pooled = pool_aggregate(per_study, method=method, hksj=hksj, level=level)
    members = time_effect_members(
        ipd,
        covariates=covariates,
        pool_var=pool_var,
        ph_test=ph_test,
        effect_intervals=effect_intervals,
        method=method,
        hksj=hksj,
        level=level,
        excluded={s: r for s, r in zip(per_study.studies, per_study.excluded, strict=True) if r},
    )
    return TwoStageResult(
        per_study=per_study,
        pooled=pooled,
        family=ipd.family,
        dropped=ipd.dropped,
        sources=sources,
        missing=imputed,
        **members,
    )


def _reused(stage_one: AggregateData, ipd: IPD) -> AggregateData:
    """A stage one fitted before, checked to hold ``ipd``'s trials in its order."""
    if tuple(stage_one.studies) != tuple(ipd.studies):
        raise PoolingError(
            "stage_one: its trials are not the IPD's "
            f"({', '.join(stage_one.studies)} vs {', '.join(ipd.studies)})"
        )
    return stage_one


def _rmst(
    ipd: IPD,
    effect: str,
    horizons: Sequence[float],
    others: dict[str, Any],
    **pooling: Any,
) -> TwoStageResult:
    """``two_stage(..., effect="rmst", horizons=...)``: checked, then pooled per horizon."""
    from bayes_ipd.two_stage.rmst_pooling import EFFECTS, check_rmst_options, two_stage_rmst

    if effect not in EFFECTS:
        raise PoolingError(f"effect {effect!r}: use one of {', '.join(EFFECTS)}")
    if effect != "rmst":
        raise PoolingError(f"horizons are for effect='rmst', not effect={effect!r}")
    check_rmst_options(**others)
    return two_stage_rmst(ipd, horizons, **pooling)
