"""Rubin's rules: one trial's estimates on M completed data sets combined into one.

The formulas are those of R ``mice::pool`` (mice 3.15, ``pool.fitlist`` with the default
``rule = "rubin1987"`` and ``barnard.rubin``), so the figures agree with it:

- ``estimate`` = mean of the M estimates (Q-bar); ``ubar`` = mean of the M squared SEs
  (within-imputation variance); ``b`` = their sample variance (between-imputation, M - 1
  denominator); total variance ``t = ubar + (1 + 1/M) b`` (Rubin 1987, eq. 3.1.7);
- ``riv = (1 + 1/M) b / ubar`` (relative increase in variance), ``lambda = (1 + 1/M) b / t``
  (proportion of the variance due to the missing data);
- degrees of freedom by the Barnard-Rubin (1999) small-sample adjustment: with ``lambda``
  floored at 1e-4, ``df_old = (M - 1) / lambda^2``,
  ``df_obs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lambda)``,
  ``df = df_old * df_obs / (df_old + df_obs)`` (``df_old`` when ``dfcom`` is infinite);
- ``fmi = (riv + 2 / (df + 3)) / (riv + 1)`` (fraction of missing information, as mice
  reports it).

``dfcom`` is the complete-data residual degrees of freedom (mice's ``get.dfcom``: the model's
``df.residual``, i.e. rows minus coefficients for ``lm`` and ``glm``; events minus
coefficients for ``coxph``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from bayes_ipd.errors import PoolingError

__all__ = [
    "LAMBDA_FLOOR",
    "ImputationSummary",
    "RubinEstimate",
    "barnard_rubin_df",
    "rubin_pool",
]

LAMBDA_FLOOR = 1e-4
"""``lambda`` is floored here before the degrees of freedom are computed (mice's
``barnard.rubin``), so that M identical estimates give a finite df."""


@dataclass(frozen=True)
class RubinEstimate:
    """One term's estimate combined over M completed data sets by Rubin's rules.

    Attributes
    ----------
    estimate : float
        Mean of the M estimates.
    se : float
        ``sqrt(t)``.
    ubar, b, t : float
        Within-imputation, between-imputation and total variance.
    df : float
        Barnard-Rubin degrees of freedom.
    riv, lambda_, fmi : float
        Relative increase in variance, proportion of variance due to the missing data,
        fraction of missing information.
    m : int
        Number of imputations.
    dfcom : float
        Complete-data degrees of freedom (``inf``: large sample).
    """

    estimate: float
    se: float
    ubar: float
    b: float
    t: float
    df: float
    riv: float
    lambda_: float
    fmi: float
    m: int
    dfcom: float


def barnard_rubin_df(m: int, b: float, t: float, dfcom: float = math.inf) -> float:
    """Barnard-Rubin (1999) degrees of freedom, as ``mice:::barnard.rubin``.

    Parameters
    ----------
    m : int
        Number of imputations.
    b, t : float
        Between-imputation and total variance.
    dfcom : float
        Complete-data degrees of freedom; ``inf`` for the large-sample ``df_old``.

    Returns
    -------
    float
    """
    lam = max((1.0 + 1.0 / m) * b / t, LAMBDA_FLOOR)
    df_old = (m - 1) / lam**2
    if math.isinf(dfcom):
        return df_old
    df_obs = (dfcom + 1.0) / (dfcom + 3.0) * dfcom * (1.0 - lam)
    return df_old * df_obs / (df_old + df_obs)


def rubin_pool(
    estimates: Sequence[float] | np.ndarray,
    ses: Sequence[float] | np.ndarray,
    dfcom: float = math.inf,
) -> RubinEstimate:
    """Combine one term's estimates and standard errors from M completed data sets.

    Parameters
    ----------
    estimates, ses : sequence of float, length M >= 2
        The term's estimate and model-based SE on each completed data set.
    dfcom : float
        Complete-data degrees of freedom (see the module docstring).

    Returns
    -------
    RubinEstimate

    Raises
    ------
    PoolingError
        Fewer than two imputations, lengths differ, or a value is not finite.

    Examples
    --------
    >>> r = rubin_pool([1.0, 1.2, 0.8], [0.1, 0.1, 0.1], dfcom=50)
    >>> round(r.estimate, 6), round(r.t, 6)
    (1.0, 0.063333)
    """
    q = np.asarray(estimates, dtype=np.float64)
    u = np.asarray(ses, dtype=np.float64) ** 2
    m = q.shape[0]
    if q.ndim != 1 or u.shape != q.shape:
        raise PoolingError(f"Rubin's rules: {q.shape} estimates but {u.shape} SEs")
    if m < 2:
        raise PoolingError(f"Rubin's rules need at least 2 imputations; got {m}")
    if not (np.isfinite(q).all() and np.isfinite(u).all()):
        raise PoolingError("Rubin's rules: an estimate or SE is not finite")
    qbar, ubar = float(q.mean()), float(u.mean())
    b = float(q.var(ddof=1))
    t = ubar + (1.0 + 1.0 / m) * b
    df = barnard_rubin_df(m, b, t, dfcom)
    riv = (1.0 + 1.0 / m) * b / ubar
    return RubinEstimate(
        estimate=qbar,
        se=math.sqrt(t),
        ubar=ubar,
        b=b,
        t=t,
        df=df,
        riv=riv,
        lambda_=(1.0 + 1.0 / m) * b / t,
        fmi=(riv + 2.0 / (df + 3.0)) / (riv + 1.0),
        m=m,
        dfcom=float(dfcom),
    )


@dataclass(frozen=True)
class ImputationSummary:
    """How the missing covariates of a two-stage analysis were handled.

    Attributes
    ----------
    method : str
        ``"two-level chained equations"`` (imputed here) or ``"given"`` (completed data
        sets passed in).
    imputations : int
        M.
    by_study : Mapping[str, RubinEstimate]
        Rubin's-rules combination of each fitted trial's estimate.
    missing : Mapping[str, Mapping[str, int]]
        Missing covariate values per column and trial (empty for ``"given"``).
    seed : int or None
        The seed of the imputations made here.
    """

    method: str
    imputations: int
    by_study: Mapping[str, RubinEstimate]
    missing: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    seed: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_study", MappingProxyType(dict(self.by_study)))
        missing = {str(k): MappingProxyType(dict(v)) for k, v in self.missing.items()}
        object.__setattr__(self, "missing", MappingProxyType(missing))

    @property
    def fmi(self) -> dict[str, float]:
        """Fraction of missing information per fitted trial."""
        return {s: r.fmi for s, r in self.by_study.items()}

    def to_dict(self) -> dict[str, Any]:
        """``{"method", "imputations", "fmi": {STUDY: value}}`` (the two-stage JSON member
        ``missing``)."""
        return {"method": self.method, "imputations": self.imputations, "fmi": self.fmi}

    def lines(self) -> list[str]:
        """Report lines: the method, M and the FMI per trial."""
        fmi = ", ".join(f"{s} {v:.2f}" for s, v in self.fmi.items())
        return [
            f"Missing covariates: multiple imputation ({self.method}), M = {self.imputations}, "
            "per-trial estimates combined by Rubin's rules",
            f"Fraction of missing information by trial: {fmi}",
        ]
