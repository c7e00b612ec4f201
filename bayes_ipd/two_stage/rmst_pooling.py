"""Stage two of the RMST route: pooled RMST differences at one or several horizons.

Each horizon is pooled on its own with any univariate method of
:func:`bayes_ipd.two_stage.pooling.pool_aggregate` (REML, ML, DL, ..., HKSJ), from the
per-trial (estimate, SE) of :func:`bayes_ipd.two_stage.rmst.rmst_per_study`. With several
horizons, the trials' vectors of differences are also pooled jointly by multivariate REML
(:func:`bayes_ipd.two_stage.mvma.mvma`, unstructured between-trial covariance) with each
trial's within-trial covariance across horizons, as R ``metafor::rma.mv(yi, V, mods =
~ factor(horizon) - 1, random = ~ factor(horizon) | study, struct = "UN")`` does; a trial
excluded at a horizon contributes its other horizons only (the rows ``rma.mv`` would get).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayes_ipd.conventions import json_ready
from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage.mvma import MultivariateMA, mvma
from bayes_ipd.two_stage.pooling import pool_aggregate
from bayes_ipd.two_stage.result import TwoStageResult
from bayes_ipd.two_stage.rmst import RMSTStageOne, rmst_per_study

__all__ = ["EFFECTS", "RMSTTwoStageResult", "check_rmst_options", "two_stage_rmst"]

EFFECTS: tuple[str, ...] = ("coefficient", "rmst")
"""What the two-stage route pools: the family's regression coefficient (default; the log
hazard ratio for survival), or the RMST difference (survival)."""

_TITLE = (
    "Two-stage IPD meta-analysis (survival outcome; stage one: Kaplan-Meier RMST per arm, "
    "difference experimental - control, covariates not used)"
)


@dataclass(frozen=True, eq=False)
class RMSTTwoStageResult(TwoStageResult):
    """A two-stage RMST analysis: the first horizon's result, and every horizon's.

    It is the :class:`~bayes_ipd.two_stage.result.TwoStageResult` of the first horizon
    (``per_study``, ``pooled``, the forest plot, the summary frame), with

    Attributes
    ----------
    horizons : tuple of float
    by_horizon : tuple of TwoStageResult
        One per horizon, in order (the first is this result's own).
    stage_one : RMSTStageOne
        Per-trial, per-arm RMSTs and the within-trial covariances across horizons.
    multivariate : MultivariateMA or None
        The joint REML pooling across horizons (several horizons only).
    multivariate_note : str or None
        Why the joint pooling is missing with several horizons (e.g. too few trials).
    """

    horizons: tuple[float, ...] = ()
    by_horizon: tuple[TwoStageResult, ...] = ()
    stage_one: RMSTStageOne | None = None
    multivariate: MultivariateMA | None = None
    multivariate_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The first horizon's two-stage JSON (``pooled.scale = "RMST difference"``), with
        ``effect: "rmst"`` and ``horizon``; its ``per_study`` records add each arm's RMST and
        SE (``rmst_experimental``, ``se_rmst_experimental``, ``rmst_control``,
        ``se_rmst_control``). With several horizons also ``by_horizon: [{"horizon",
        "pooled", "per_study"}]`` and ``multivariate`` (see :meth:`multivariate_dict`)."""
        out = {"effect": "rmst", "horizon": self.horizons[0], **self._horizon_dict(0)}
        out |= {k: v for k, v in super().to_dict().items() if k not in ("pooled", "per_study")}
        if len(self.horizons) > 1:
            out["by_horizon"] = [
                {"horizon": h, **self._horizon_dict(j)} for j, h in enumerate(self.horizons)
            ]
            out["multivariate"] = self.multivariate_dict()
        return out

    def _horizon_dict(self, index: int) -> dict[str, Any]:
        result = self.by_horizon[index]
        assert self.stage_one is not None
        records = result.to_dict()["per_study"]
        arms = self.stage_one.arm_records(index)
        return {
            "pooled": result.pooled.to_dict(),
            "per_study": [rec | arm for rec, arm in zip(records, arms, strict=True)],
        }

    def multivariate_dict(self) -> dict[str, Any]:
        """``{"estimates", "se", "correlation"}``: lists in horizon order (``horizons``
        beside them), ``correlation`` the correlation matrix of the pooled estimates (from
        their covariance; not the between-trial correlation, which is
        ``between_trial_correlation``), plus ``between_trial_sd``, ``method``, ``k`` and
        ``note`` (why the fields are None, when they are)."""
        fit = self.multivariate
        if fit is None:
            empty = dict.fromkeys(
                ("estimates", "se", "correlation", "between_trial_sd", "between_trial_correlation")
            )
            return {"horizons": list(self.horizons), **empty, "note": self.multivariate_note}
        se = fit.se
        return json_ready(
            {
                "horizons": list(self.horizons),
                "estimates": fit.estimate.tolist(),
                "se": se.tolist(),
                "correlation": (fit.covariance / np.outer(se, se)).tolist(),
                "between_trial_sd": fit.between_sd.tolist(),
                "between_trial_correlation": fit.between_cor.tolist(),
                "method": f"{fit.method} (unstructured between-trial covariance)",
                "k": fit.k,
                "note": None,
            }
        )

    def __str__(self) -> str:
        blocks = []
        for h, result in zip(self.horizons, self.by_horizon, strict=True):
            text = TwoStageResult.__str__(result).split("\n", 1)[1]
            head = f"{_TITLE}, horizon {h:g}: {result.per_study.k} trial(s), "
            head += f"{result.pooled.k} pooled, {result.per_study.n_excluded} excluded"
            blocks.append(head + "\n" + text)
        if len(self.horizons) > 1:
            blocks.append(self._multivariate_text())
        return "\n\n".join(blocks)

    def __repr__(self) -> str:
        return self.__str__()

    def _multivariate_text(self) -> str:
        head = "Multivariate REML pooling across horizons (unstructured between-trial covariance)"
        fit = self.multivariate
        if fit is None:
            return f"{head}: not available ({self.multivariate_note})"
        lines = [f"{head}, k = {fit.k}:", "  horizon   estimate       se   between-trial SD"]
        for h, est, se, tau in zip(
            self.horizons, fit.estimate, fit.se, fit.between_sd, strict=True
        ):
            lines.append(f"  {h:>7g} {est:>10.4f} {se:>8.4f} {tau:>18.4f}")
        cor = fit.covariance / np.outer(fit.se, fit.se)
        lines.append("  correlation of the pooled estimates:")
        lines += ["    " + " ".join(f"{c:7.3f}" for c in row) for row in cor]
        return "\n".join(lines)


def check_rmst_options(
    *,
    covariates: Sequence[str] = (),
    pool_var: str = "treat",
    sparse: str = "none",
    aggregate: Any = None,
    stage_one: Any = None,
    imputations: Any = None,
    ph_test: bool = False,
    effect_intervals: Any = None,
) -> None:
    """Refuse the two-stage options that have no meaning for an RMST difference.

    Raises
    ------
    PoolingError
        Naming the option: covariates (the RMST is read from each arm's unadjusted
        Kaplan-Meier curve), an interaction ``pool_var``, ``sparse``, aggregate-data trials
        or a fitted ``stage_one`` (both on another scale), imputations (covariates only),
        a proportional-hazards test or effect intervals (Cox analyses).
    """
    if list(covariates):
        raise PoolingError(
            f"covariates ({', '.join(covariates)}) are not used by the RMST effect: each "
            "arm's restricted mean comes from its unadjusted Kaplan-Meier curve; drop them"
        )
    refused = [
        (pool_var != "treat", f"pool_var {pool_var!r} (the RMST difference is of 'treat')"),
        (sparse != "none", f"sparse={sparse!r} (binary trials only)"),
        (aggregate is not None, "aggregate trials (published on another scale)"),
        (stage_one is not None, "a fitted stage_one (Cox estimates, not RMST)"),
        (imputations is not None, "imputations (they complete covariates, which it does not use)"),
        (bool(ph_test), "ph_test (a check of the Cox model; run it without effect='rmst')"),
        (effect_intervals is not None, "effect_intervals (log hazard ratios per period)"),
    ]
    for bad, what in refused:
        if bad:
            raise PoolingError(f"the RMST effect does not take {what}")


def two_stage_rmst(
    ipd: Any,
    horizons: Sequence[float] | float,
    *,
    method: str = "REML",
    hksj: bool = False,
    level: float = 0.95,
) -> RMSTTwoStageResult:
    """Two-stage meta-analysis of the RMST difference (experimental minus control).

    Parameters
    ----------
    ipd : IPD
        Survival participant rows; covariates are not used.
    horizons : float or sequence of float
        Increasing positive horizons, on the time column's scale.
    method, hksj, level
        As in :func:`bayes_ipd.two_stage.pooling.pool_aggregate`, for every horizon.

    Returns
    -------
    RMSTTwoStageResult

    Raises
    ------
    PoolingError
        Bad horizons, a horizon beyond every trial's follow-up, or no trial left to pool at
        some horizon.

    Warns
    -----
    UserWarning
        For each trial excluded at some horizon, naming it and the reason.

    Examples
    --------
    >>> from bayes_ipd.datasets import load_survival_ipd
    >>> res = two_stage_rmst(load_survival_ipd(), [2, 4])
    >>> res.pooled.scale, res.horizons
    ('RMST difference', (2.0, 4.0))
    """
    stage = rmst_per_study(ipd, horizons)
    _warn_excluded(stage)
    results = tuple(
        TwoStageResult(
            per_study=stage.aggregate(j),
            pooled=_pooled(stage, j, method, hksj, level),
            family=ipd.family,
            dropped=ipd.dropped,
        )
        for j in range(len(stage.horizons))
    )
    fit, note = _multivariate(stage) if len(stage.horizons) > 1 else (None, None)
    first = results[0]
    return RMSTTwoStageResult(
        per_study=first.per_study,
        pooled=first.pooled,
        family=first.family,
        dropped=first.dropped,
        horizons=stage.horizons,
        by_horizon=results,
        stage_one=stage,
        multivariate=fit,
        multivariate_note=note,
    )


def _pooled(stage: RMSTStageOne, index: int, method: str, hksj: bool, level: float) -> Any:
    agg = stage.aggregate(index)
    try:
        return pool_aggregate(agg, method=method, hksj=hksj, level=level)
    except PoolingError as exc:
        raise PoolingError(f"RMST horizon {stage.horizons[index]:g}: {exc}") from exc


def _multivariate(stage: RMSTStageOne) -> tuple[MultivariateMA | None, str | None]:
    """Multivariate REML across horizons, or None and the reason it cannot be fitted."""
    observed = np.array([[r is None for r in row] for row in stage.excluded], dtype=bool)
    rows = observed.any(axis=1)
    y = np.where(observed, stage.difference, 0.0)[rows]
    try:
        fit = mvma(
            y,
            stage.covariance[rows],
            structure="unstructured",
            method="REML",
            terms=[f"{h:g}" for h in stage.horizons],
            observed=observed[rows],
        )
    except PoolingError as exc:
        return None, str(exc)
    if not fit.converged:
        return fit, "the optimiser reported no convergence; check the estimates"
    return fit, None


def _warn_excluded(stage: RMSTStageOne) -> None:
    for study, reasons in zip(stage.studies, stage.excluded, strict=True):
        out = [(h, r) for h, r in zip(stage.horizons, reasons, strict=True) if r is not None]
        if not out:
            continue
        at = ", ".join(f"{h:g}" for h, _ in out)
        warnings.warn(
            f"trial {study!r} excluded from the RMST pooling at horizon(s) {at}: {out[0][1]}",
            stacklevel=3,
        )
