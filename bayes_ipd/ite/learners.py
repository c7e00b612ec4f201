"""Stage-1 learners: one model per trial that predicts the treatment effect of a patient.

Every learner follows one small protocol (:class:`Learner`): ``fit(trial, seed)`` on one
trial's rows returns a fitted value with ``predict(x)`` (the ITE at covariate rows ``x``)
and, where the model has them, ``coefficients`` and ``covariance`` of the ITE terms
(treatment main effect, then one treatment-covariate interaction per covariate) and
``draws(x, n, rng)`` (posterior draws of the ITE, Bayesian models only).

Linear learners regress ``y`` on ``[1, x, t, t x]`` with uncentred covariates, so the ITE
of a patient with covariates ``x`` is ``c(x)' b`` with ``c(x) = [1, x]`` and ``b`` the
treatment and interaction coefficients (Mainetti et al.):

* ``ols`` — ordinary least squares (statsmodels), covariance ``s^2 (X'X)^{-1}``;
* ``ridge``, ``lasso`` — penalised least squares on standardised columns (scikit-learn,
  penalty chosen by cross-validation); no covariance;
* ``bayes`` — exact conjugate Bayesian linear regression from the sufficient statistics
  ``X'X, X'y, y'y``: Zellner's g-prior ``b | s^2 ~ N(0, g s^2 (X'X)^{-1})`` with ``g = n``
  (unit information) and ``s^2 ~ InvGamma(a0, b0)``, ``a0 = b0 = 0.001``; the posterior of
  the coefficients is multivariate t with ``2 a_n`` degrees of freedom (Gelman et al.,
  BDA3 section 14.2 for the conjugate update).

Machine-learning learners (``forest``: random forest of 60 trees, leaves of >= 10 rows;
``boosting``: histogram gradient boosting, 100 depth-3 trees, learning rate 0.1;
scikit-learn) are meta-learners (Kunzel et al. 2019): the T-learner fits one regression
per arm, ITE = ``m1(x) - m0(x)``; the S-learner one regression on ``[x, t]``, ITE =
``m(x, 1) - m(x, 0)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.ite.data import TrialData

__all__ = [
    "LEARNER_NAMES",
    "BayesLearner",
    "FittedTrial",
    "Learner",
    "LinearFit",
    "MLLearner",
    "OLSLearner",
    "PenalisedLearner",
    "PredictorFit",
    "TrialNotFittable",
    "contrast",
    "get_learner",
]

PRIOR_A0 = 0.001  # InvGamma shape of the residual variance (vague)
PRIOR_B0 = 0.001  # InvGamma rate
ML_MIN_PER_ARM = 5  # rows per arm a tree learner needs to split at all


class TrialNotFittable(IPDDataError):
    """A learner cannot be fitted on one trial's rows (one arm, too few rows, collinear)."""


class FittedTrial(Protocol):
    """What stage 2 asks of a learner fitted on one trial."""

    study: str
    coefficients: np.ndarray | None
    covariance: np.ndarray | None
    bayesian: bool

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def draws(self, x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray: ...


class Learner(Protocol):
    """A stage-1 model: fits one trial, returns a :class:`FittedTrial`."""

    name: str
    linear: bool
    bayesian: bool

    def fit(self, trial: TrialData, seed: int) -> FittedTrial: ...


def contrast(x: np.ndarray) -> np.ndarray:
    """Rows ``[1, x]``: the ITE of a linear model is ``contrast(x) @ b``."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    return np.column_stack([np.ones(x.shape[0]), x])


def linear_design(trial: TrialData) -> np.ndarray:
    """``[1, x, t, t x]`` of one trial."""
    t = trial.treat[:, None]
    return np.column_stack([np.ones(trial.n), trial.x, t, t * trial.x])


def _ite_index(p: int) -> np.ndarray:
    return np.arange(1 + p, 2 + 2 * p)


def check_arms(trial: TrialData, minimum: int = 1) -> None:
    """Both arms present with at least ``minimum`` rows each."""
    control, treated = trial.n_arm
    if min(control, treated) < minimum:
        arm = "treated" if treated < minimum else "control"
        have = treated if treated < minimum else control
        raise TrialNotFittable(
            f"trial {trial.study!r}: {have} {arm} participant(s); the learner needs at least "
            f"{minimum} in each arm"
        )


def check_linear(trial: TrialData) -> np.ndarray:
    """The linear design of a trial that can be fitted: rows > parameters, full rank."""
    check_arms(trial)
    design = linear_design(trial)
    m = design.shape[1]
    if trial.n <= m:
        raise TrialNotFittable(
            f"trial {trial.study!r}: {trial.n} rows for {m} parameters (intercept, covariates, "
            "treatment and interactions); a linear learner needs more rows than parameters"
        )
    if np.linalg.matrix_rank(design) < m:
        raise TrialNotFittable(
            f"trial {trial.study!r}: the design [1, x, t, t*x] is collinear (a covariate "
            "constant within the trial or within an arm?)"
        )
    return design


@dataclass(frozen=True, eq=False)
class LinearFit:
    """A linear ITE model of one trial: coefficients of ``[t, t x]`` and their covariance.

    ``dof`` is None for a normal sampling distribution, else the degrees of freedom of a
    multivariate-t posterior (``bayesian=True``) whose covariance is ``covariance``.
    """

    study: str
    coefficients: np.ndarray
    covariance: np.ndarray
    bayesian: bool = False
    dof: float | None = None

    def predict(self, x: np.ndarray) -> np.ndarray:
        return contrast(x) @ self.coefficients

    def prediction_variance(self, x: np.ndarray) -> np.ndarray:
        c = contrast(x)
        return np.einsum("ij,jk,ik->i", c, self.covariance, c)

    def coefficient_draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, d) draws of the ITE coefficients (normal, or t with ``dof``)."""
        d = self.coefficients.size
        scale = self.covariance
        if self.dof is not None and self.dof > 2:
            scale = self.covariance * (self.dof - 2) / self.dof
        z = rng.standard_normal((n, d)) @ np.linalg.cholesky(scale).T
        if self.dof is not None:
            z = z / np.sqrt(rng.chisquare(self.dof, size=(n, 1)) / self.dof)
        return self.coefficients + z

    def draws(self, x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, patients) draws of the ITE."""
        return self.coefficient_draws(n, rng) @ contrast(x).T


@dataclass(frozen=True, eq=False)
class PredictorFit:
    """A model with predictions only (penalised regression, ML meta-learners)."""

    study: str
    ite: Callable[[np.ndarray], np.ndarray]
    coefficients: None = None
    covariance: None = None
    bayesian: bool = False

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.ite(np.atleast_2d(np.asarray(x, dtype=np.float64))), dtype=float)

    def draws(self, x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        raise SpecError(f"trial {self.study!r}: this learner has no posterior draws")


@dataclass(frozen=True)
class OLSLearner:
    """Ordinary least squares with treatment-covariate interactions (statsmodels)."""

    name: str = "ols"
    linear: bool = True
    bayesian: bool = False

    def fit(self, trial: TrialData, seed: int = 0) -> LinearFit:
        from statsmodels.regression.linear_model import OLS

        design = check_linear(trial)
        result = OLS(trial.y, design).fit()
        idx = _ite_index(trial.x.shape[1])
        cov = np.asarray(result.cov_params())[np.ix_(idx, idx)]
        return LinearFit(trial.study, np.asarray(result.params)[idx], cov)


@dataclass(frozen=True)
class BayesLearner:
    """Exact conjugate Bayesian linear regression (g-prior, see the module docstring)."""

    name: str = "bayes"
    linear: bool = True
    bayesian: bool = True
    g: float | None = None

    def fit(self, trial: TrialData, seed: int = 0) -> LinearFit:
        design = check_linear(trial)
        xtx, xty, yty = design.T @ design, design.T @ trial.y, float(trial.y @ trial.y)
        return conjugate_posterior(trial.study, xtx, xty, yty, trial.n, trial.x.shape[1], self.g)


def conjugate_posterior(
    study: str,
    xtx: np.ndarray,
    xty: np.ndarray,
    yty: float,
    n: int,
    p: int,
    g: float | None = None,
) -> LinearFit:
    """Posterior of the ITE coefficients from the sufficient statistics of one trial.

    With ``b | s^2 ~ N(0, g s^2 (X'X)^{-1})`` and ``s^2 ~ InvGamma(a0, b0)``:
    ``b | y ~ t_{2 a_n}(m_n, (b_n / a_n) V_n)``, ``m_n = g/(g+1) b_ols``,
    ``V_n = g/(g+1) (X'X)^{-1}``, ``a_n = a0 + n/2``,
    ``b_n = b0 + (y'y - m_n' V_n^{-1} m_n) / 2``.
    """
    g = float(n if g is None else g)
    shrink = g / (g + 1.0)
    xtx_inv = np.linalg.inv(xtx)
    b_ols = xtx_inv @ xty
    m_n = shrink * b_ols
    v_n = shrink * xtx_inv
    a_n = PRIOR_A0 + n / 2.0
    b_n = PRIOR_B0 + 0.5 * (yty - shrink * float(b_ols @ xtx @ b_ols))
    dof = 2.0 * a_n
    scale = (b_n / a_n) * v_n
    idx = _ite_index(p)
    cov = scale[np.ix_(idx, idx)] * dof / (dof - 2.0)
    return LinearFit(study, m_n[idx], cov, bayesian=True, dof=dof)


def _penalised_model(kind: str, seed: int) -> Any:
    from sklearn.linear_model import LassoCV, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "ridge":
        model = RidgeCV(alphas=np.logspace(-3, 3, 13))
    else:
        model = LassoCV(alphas=30, cv=5, random_state=seed, max_iter=5000)
    return make_pipeline(StandardScaler(), model)


@dataclass(frozen=True)
class PenalisedLearner:
    """Ridge or lasso on ``[x, t, t x]`` (standardised; penalty by cross-validation)."""

    name: str = "ridge"
    linear: bool = False
    bayesian: bool = False

    def fit(self, trial: TrialData, seed: int = 0) -> PredictorFit:
        check_arms(trial, 2)
        t = trial.treat[:, None]
        model = _penalised_model(self.name, seed)
        model.fit(np.column_stack([trial.x, t, t * trial.x]), trial.y)

        def ite(x: np.ndarray) -> np.ndarray:
            one, zero = np.ones((x.shape[0], 1)), np.zeros((x.shape[0], 1))
            treated = model.predict(np.column_stack([x, one, x]))
            control = model.predict(np.column_stack([x, zero, 0.0 * x]))
            return treated - control

        return PredictorFit(trial.study, ite)


def _regressor(kind: str, seed: int) -> Any:
    if kind == "forest":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(
            n_estimators=60, min_samples_leaf=10, max_features=1.0, random_state=seed, n_jobs=1
        )
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(
        max_iter=100, max_depth=3, learning_rate=0.1, early_stopping=False, random_state=seed
    )


@dataclass(frozen=True)
class MLLearner:
    """Random forest or gradient boosting as a T- or S-learner (scikit-learn)."""

    name: str = "forest"
    meta: str = "T"
    linear: bool = False
    bayesian: bool = False

    def fit(self, trial: TrialData, seed: int = 0) -> PredictorFit:
        check_arms(trial, ML_MIN_PER_ARM)
        with single_thread():
            if self.meta == "S":
                model = _regressor(self.name, seed).fit(
                    np.column_stack([trial.x, trial.treat]), trial.y
                )
                return PredictorFit(trial.study, _s_ite(model))
            arm = trial.treat == 1
            treated = _regressor(self.name, seed).fit(trial.x[arm], trial.y[arm])
            control = _regressor(self.name, seed + 1).fit(trial.x[~arm], trial.y[~arm])
        return PredictorFit(trial.study, _t_ite(treated, control))


def single_thread() -> Any:
    """Native thread pools (OpenMP of histogram boosting) limited to one thread: the
    trials are small, and threads only contend with other work on the machine."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def _s_ite(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    def ite(x: np.ndarray) -> np.ndarray:
        one, zero = np.ones(x.shape[0]), np.zeros(x.shape[0])
        with single_thread():
            return model.predict(np.column_stack([x, one])) - model.predict(
                np.column_stack([x, zero])
            )

    return ite


def _t_ite(treated: Any, control: Any) -> Callable[[np.ndarray], np.ndarray]:
    def ite(x: np.ndarray) -> np.ndarray:
        with single_thread():
            return treated.predict(x) - control.predict(x)

    return ite


_FACTORIES: dict[str, Callable[[str], Learner]] = {
    "ols": lambda meta: OLSLearner(),
    "bayes": lambda meta: BayesLearner(),
    "ridge": lambda meta: PenalisedLearner("ridge"),
    "lasso": lambda meta: PenalisedLearner("lasso"),
    "forest": lambda meta: MLLearner("forest", meta),
    "boosting": lambda meta: MLLearner("boosting", meta),
}
LEARNER_NAMES = tuple(_FACTORIES)
"""Stage-1 learners by name."""


def get_learner(name: str | Learner, meta: str = "T") -> Learner:
    """A learner by name (``ols, bayes, ridge, lasso, forest, boosting``), or ``name`` itself
    when it already is one. ``meta`` (``"T"`` or ``"S"``) applies to the ML learners."""
    if not isinstance(name, str):
        return name
    if meta not in ("T", "S"):
        raise SpecError(f"meta-learner {meta!r}: use 'T' or 'S'")
    try:
        return _FACTORIES[name.lower()](meta)
    except KeyError:
        raise SpecError(
            f"unknown stage-1 learner {name!r}; choose one of {', '.join(LEARNER_NAMES)}"
        ) from None
