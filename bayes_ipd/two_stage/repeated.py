"""Two-stage meta-analysis of repeated measures: a per-trial MMRM, then pooling per visit and
jointly across visits.

Stage one (:func:`mmrm_per_study`): in every trial an MMRM
(:func:`bayes_ipd.two_stage.mmrm.fit_mmrm`) with visit-specific intercepts, treatment
effects and baseline-covariate effects, and an unstructured (or compound-symmetric, AR(1))
covariance of a participant's visits, by REML; it gives the trial's treatment effect at each
visit it has and their covariance. A trial without any observation at a visit leaves that
visit out (it is excluded from that visit's pooling, and from that element of the joint
pooling).

Stage two (:func:`two_stage_repeated`): each visit pooled on its own by any method of
:func:`bayes_ipd.two_stage.pooling.pool_aggregate`, and the visits jointly by multivariate
REML with each trial's within-trial covariance block (:func:`bayes_ipd.two_stage.mvma.mvma`,
unstructured between-trial covariance, as R ``metafor::rma.mv(yi, V, mods = ~ visit - 1,
random = ~ visit | study, struct = "UN")``; or compound symmetric, ``struct = "CS"``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

from bayes_ipd.conventions import readonly
from bayes_ipd.data.visit_means import observed_visit_means
from bayes_ipd.data.visits import RepeatedIPD, repeated_from_frame
from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage.aggregate import AggregateData
from bayes_ipd.two_stage.mmrm import COVARIANCES, MMRMFit, fit_mmrm
from bayes_ipd.two_stage.mvma import MultivariateMA, mvma, restricted_loglik
from bayes_ipd.two_stage.pooling import pool_aggregate
from bayes_ipd.two_stage.repeated_result import RepeatedTwoStageResult
from bayes_ipd.two_stage.result import TwoStageResult

__all__ = [
    "BETWEEN_STRUCTURES",
    "RepeatedStageOne",
    "RepeatedTwoStageResult",
    "mmrm_per_study",
    "two_stage_repeated",
]

BETWEEN_STRUCTURES: dict[str, str] = {
    "unstructured": "unstructured (metafor struct = 'UN')",
    "cs": "compound symmetric (metafor struct = 'CS')",
}
"""Between-trial covariance of the per-visit effects in the joint pooling."""


@dataclass(frozen=True, eq=False)
class RepeatedStageOne:
    """Every trial's MMRM treatment effects per visit.

    Attributes
    ----------
    studies, visits : tuple of str
    estimate : ndarray
        (K, V) treatment effect per trial and visit (NaN where the trial has no visit).
    covariance : ndarray
        (K, V, V) within-trial covariance of a trial's effects (NaN rows / columns where
        the trial has no visit).
    observed : ndarray of bool
        (K, V) the trial has the visit.
    n : ndarray of int64
        (K, V) participants observed per trial and visit.
    fits : tuple of MMRMFit
        Each trial's fit (on its own visits).
    covariance_structure : str
    """

    studies: tuple[str, ...]
    visits: tuple[str, ...]
    estimate: np.ndarray
    covariance: np.ndarray
    observed: np.ndarray
    n: np.ndarray
    fits: tuple[MMRMFit, ...]
    covariance_structure: str

    def aggregate(self, index: int) -> AggregateData:
        """The per-trial (estimate, SE) at visit ``index``; trials without it excluded."""
        se = np.sqrt(self.covariance[:, index, index])
        reasons = tuple(
            None if seen else f"no observation at visit {self.visits[index]}"
            for seen in self.observed[:, index]
        )
        return AggregateData(
            self.studies,
            self.estimate[:, index],
            se,
            n=self.n[:, index],
            excluded=reasons,
            term="treat",
            scale="MD",
        )


def mmrm_per_study(
    data: RepeatedIPD, covariates: Sequence[str] | None = None, covariance: str = "unstructured"
) -> RepeatedStageOne:
    """Stage one: an MMRM per trial (module docstring).

    Parameters
    ----------
    data : RepeatedIPD
    covariates : sequence of str, optional
        Baseline covariates (each by visit); default: every covariate of ``data``.
    covariance : {"unstructured", "cs", "ar1"}
        Residual covariance of a participant's visits.

    Returns
    -------
    RepeatedStageOne

    Raises
    ------
    PoolingError
        A covariance structure not known; a visit of a trial observed in one arm only; a
        trial whose coefficients are not estimable (named with the visit).
    """
    if covariance not in COVARIANCES:
        raise PoolingError(f"covariance {covariance!r}: use one of {', '.join(COVARIANCES)}")
    names = list(data.ipd.covariates.columns) if covariates is None else list(covariates)
    unknown = [c for c in names if c not in data.ipd.covariates.columns]
    if unknown:
        raise PoolingError(f"covariate(s) {', '.join(unknown)} are not in the data")
    k, d = data.ipd.k, len(data.visits)
    estimate = np.full((k, d), np.nan)
    cov = np.full((k, d, d), np.nan)
    observed = np.zeros((k, d), dtype=bool)
    n = np.zeros((k, d), dtype=np.int64)
    fits = []
    for code in range(k):
        fit, seen = _trial_fit(data, code, names, covariance)
        effect, block = fit.term("treat")
        estimate[code, seen] = effect
        cov[np.ix_([code], seen, seen)] = block
        observed[code, seen] = True
        n[code, seen] = fit.n
        fits.append(fit)
    return RepeatedStageOne(
        studies=data.studies,
        visits=data.visits,
        estimate=readonly(estimate),
        covariance=readonly(cov),
        observed=readonly(observed, np.bool_),
        n=readonly(n, np.int64),
        fits=tuple(fits),
        covariance_structure=covariance,
    )


def _trial_fit(
    data: RepeatedIPD, code: int, covariates: Sequence[str], covariance: str
) -> tuple[MMRMFit, np.ndarray]:
    """One trial's MMRM on its own visits; the fit and the indices of those visits."""
    rows = np.flatnonzero(data.ipd.study == code)
    label = data.studies[code]
    ids, person = np.unique(data.participant[rows].astype(str), return_inverse=True)
    person = np.asarray(person).reshape(-1)
    seen = np.unique(data.visit[rows])
    column = np.searchsorted(seen, data.visit[rows])
    y = np.full((ids.size, seen.size), np.nan)
    y[person, column] = np.asarray(data.ipd.outcome)[rows]
    first = np.unique(person, return_index=True)[1]
    baseline = rows[first]
    treat = data.ipd.treat[baseline]
    _check_arms(label, data.visits, seen, treat, ~np.isnan(y))
    parts = [np.ones(ids.size), treat]
    terms = ["(Intercept)", "treat"]
    for name in covariates:
        values = data.ipd.covariates[name].iloc[baseline]
        if isinstance(values.dtype, pd.CategoricalDtype):
            dummies = pd.get_dummies(values.astype(str), drop_first=True, dtype=np.float64)
            parts += [dummies[c].to_numpy() for c in dummies.columns]
            terms += [f"{name}[{c}]" for c in dummies.columns]
        else:
            parts.append(values.to_numpy(np.float64))
            terms.append(name)
    try:
        z = np.column_stack(parts)
        fit = fit_mmrm(y, z, structure=covariance, terms=terms, positions=seen.tolist())
    except PoolingError as exc:
        raise PoolingError(f"trial {label!r}: {_visit_named(str(exc), data.visits, seen)}") from exc
    if not fit.converged:
        raise PoolingError(f"trial {label!r}: the MMRM's REML optimisation did not converge")
    return fit, seen


def _check_arms(
    label: str, visits: Sequence[str], seen: np.ndarray, treat: np.ndarray, present: np.ndarray
) -> None:
    for j, v in enumerate(seen.tolist()):
        arms = [int(present[treat == a, j].sum()) for a in (0.0, 1.0)]
        if min(arms) == 0:
            raise PoolingError(
                f"trial {label!r}, visit {visits[v]!r}: observed in one arm only (control "
                f"{arms[0]}, treated {arms[1]}); the treatment effect there is not estimable"
            )


def _visit_named(message: str, visits: Sequence[str], seen: np.ndarray) -> str:
    for j, v in enumerate(seen.tolist()):
        message = message.replace(f"visit {j + 1}:", f"visit {visits[v]!r}:")
    return message


# ------------------------------------------------------------------------------- stage two


def two_stage_repeated(
    data: RepeatedIPD | pd.DataFrame,
    *,
    study: str | None = None,
    treatment: str | None = None,
    outcome: str | None = None,
    participant: str | None = None,
    visit: str | None = None,
    covariates: str | Iterable[str] | None = None,
    visit_order: str | Iterable[Any] | None = None,
    missing: str = "error",
    experimental: Any = None,
    covariance: str = "unstructured",
    between: str = "unstructured",
    primary_visit: Any = None,
    method: str = "REML",
    hksj: bool = False,
    level: float = 0.95,
) -> RepeatedTwoStageResult:
    """Two-stage IPD meta-analysis of a repeated-measures (gaussian) outcome.

    Parameters
    ----------
    data : RepeatedIPD or DataFrame
        Validated long data, or long rows (one per participant and visit) with the column
        keywords below (:func:`bayes_ipd.data.visits.repeated_from_frame`).
    study, treatment, outcome, participant, visit, visit_order, missing, experimental
        The columns and options of long rows (ignored for a ``RepeatedIPD``).
    covariates : str or sequence of str, optional
        Baseline covariates, each with a coefficient per visit (default: none for rows;
        every covariate of a ``RepeatedIPD``).
    covariance : {"unstructured", "cs", "ar1"}
        Residual covariance of a participant's visits in each trial's MMRM.
    between : {"unstructured", "cs"}
        Between-trial covariance of the per-visit effects in the joint pooling.
    primary_visit : optional
        The visit whose result is this result's own (default: the last).
    method, hksj, level
        Per-visit pooling, as in :func:`bayes_ipd.two_stage.pooling.pool_aggregate`.

    Returns
    -------
    RepeatedTwoStageResult

    Raises
    ------
    IPDDataError
        Bad long data.
    PoolingError
        Bad options, a trial that cannot be fitted, no trial at some visit.

    Examples
    --------
    >>> from bayes_ipd.simulate.repeated import simulate_repeated
    >>> rows, truth = simulate_repeated(4, 40, seed=2)
    >>> res = two_stage_repeated(rows, study="study", treatment="treat", outcome="y",
    ...                          participant="id", visit="visit", covariates=["baseline"],
    ...                          between="cs")
    >>> res.visits, res.primary_visit
    (('4', '8', '12'), '12')
    """
    if between not in BETWEEN_STRUCTURES:
        raise PoolingError(f"between {between!r}: use one of {', '.join(BETWEEN_STRUCTURES)}")
    if isinstance(data, pd.DataFrame):
        keys = {"study": study, "treatment": treatment, "outcome": outcome}
        keys |= {"participant": participant, "visit": visit}
        lacking = [k for k, v in keys.items() if v is None]
        if lacking:
            raise PoolingError(f"long rows need the column keyword(s) {', '.join(lacking)}=")
        data = repeated_from_frame(
            data,
            study=str(study),
            treatment=str(treatment),
            outcome=str(outcome),
            participant=str(participant),
            visit=str(visit),
            covariates=() if covariates is None else covariates,
            visit_order=visit_order,
            missing=missing,
            experimental=experimental,
        )
        names: Sequence[str] | None = None
    else:
        names = None if covariates is None else _names(covariates)
    primary = _primary_index(data.visits, primary_visit)
    stage = mmrm_per_study(data, names, covariance)
    results = tuple(
        TwoStageResult(
            per_study=stage.aggregate(j),
            pooled=_pooled(stage, j, method, hksj, level),
            family="gaussian",
            dropped=data.ipd.dropped,
        )
        for j in range(len(stage.visits))
    )
    fit, note = _multivariate(stage, between) if len(stage.visits) > 1 else (None, None)
    main = results[primary]
    return RepeatedTwoStageResult(
        per_study=main.per_study,
        pooled=main.pooled,
        family="gaussian",
        dropped=main.dropped,
        visits=stage.visits,
        primary=primary,
        by_visit=results,
        stage_one=stage,
        counts=data.counts,
        multivariate=fit,
        multivariate_note=note,
        between_structure=between,
        means=observed_visit_means(data),
    )


def _names(covariates: str | Iterable[str]) -> list[str]:
    return [covariates] if isinstance(covariates, str) else list(covariates)


def _primary_index(visits: Sequence[str], primary: Any) -> int:
    if primary is None:
        return len(visits) - 1
    text = str(primary).strip()
    try:
        number = float(text)
        text = str(int(number)) if math.isfinite(number) and number.is_integer() else text
    except ValueError:
        pass
    if text not in visits:
        raise PoolingError(f"primary visit {primary!r} is not a visit ({', '.join(visits)})")
    return visits.index(text)


def _pooled(stage: RepeatedStageOne, index: int, method: str, hksj: bool, level: float) -> Any:
    try:
        return pool_aggregate(stage.aggregate(index), method=method, hksj=hksj, level=level)
    except PoolingError as exc:
        raise PoolingError(f"visit {stage.visits[index]}: {exc}") from exc


def _multivariate(
    stage: RepeatedStageOne, between: str
) -> tuple[MultivariateMA | None, str | None]:
    """Joint REML pooling across visits, or None and the reason it cannot be fitted."""
    y = np.where(stage.observed, stage.estimate, 0.0)
    both = stage.observed[:, :, None] & stage.observed[:, None, :]
    eye = np.eye(len(stage.visits), dtype=bool)[None] & ~stage.observed[:, :, None]
    s = np.where(both, stage.covariance, 0.0) + eye
    k, d = int(stage.observed.any(axis=1).sum()), len(stage.visits)
    if between == "unstructured" and k <= d:
        return None, (
            f"{k} trials cannot estimate an unstructured {d}x{d} between-trial covariance by "
            "REML; use between='cs' (--between cs)"
        )
    try:
        if between == "cs":
            fit = compound_symmetric_mvma(y, s, stage.observed, stage.visits)
        else:
            fit = mvma(
                y,
                s,
                structure="unstructured",
                method="REML",
                terms=stage.visits,
                observed=stage.observed,
            )
    except PoolingError as exc:
        return None, str(exc)
    if not fit.converged:
        return fit, "the optimiser reported no convergence; check the estimates"
    return fit, None


def compound_symmetric_mvma(
    y: np.ndarray, s: np.ndarray, observed: np.ndarray, terms: Sequence[str]
) -> MultivariateMA:
    """Multivariate REML with a compound-symmetric between-trial covariance ``tau2 [(1 -
    rho) I + rho J]`` (metafor ``struct = "CS"``); ``y`` 0 and ``s`` the identity where a
    trial lacks an element (``observed`` False), as :func:`mvma` takes them.

    Raises
    ------
    PoolingError
        Fewer than two trials at some element.
    """
    k, d = y.shape
    if (observed.sum(axis=0) < 2).any():
        raise PoolingError("every visit needs at least two trials for the joint pooling")
    mask = None if observed.all() else observed
    low = -1.0 / (d - 1)

    def psi(theta: np.ndarray) -> np.ndarray:
        rho = low + (1.0 - low) * special.expit(theta[1])
        return math.exp(theta[0]) * (np.full((d, d), rho) + (1.0 - rho) * np.eye(d))

    def objective(theta: np.ndarray) -> float:
        value = restricted_loglik(y, s, psi(theta), "REML", mask)
        return -value if math.isfinite(value) else 1e300

    typical = float(np.median(np.diagonal(s, axis1=1, axis2=2)[observed]))
    best = None
    for start in ([math.log(typical), 1.0], [math.log(0.1 * typical), 0.0]):
        res = optimize.minimize(
            objective,
            np.array(start),
            method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000},
        )
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    between = psi(best.x)
    weights = np.zeros((k, d, d))
    for i in range(k):
        m = observed[i]
        weights[i][np.ix_(m, m)] = np.linalg.inv((s[i] + between)[np.ix_(m, m)])
    cov = np.linalg.inv(weights.sum(axis=0))
    beta = cov @ np.einsum("kij,kj->i", weights, y)
    return MultivariateMA(
        terms=tuple(terms),
        estimate=readonly(beta),
        covariance=readonly(cov),
        between=readonly(between),
        structure="compound symmetric",
        method="REML",
        k=k,
        loglik=-float(best.fun),
        converged=bool(best.success),
    )
