"""The negative binomial (NB2) family: an overdispersed count, log link, optional exposure;
effect = log rate ratio.

For participant ``i`` of trial ``k``, ``y ~ NB2(mean = E exp(z'b_k), dispersion a_k)`` with
variance ``mean + a_k mean²`` (statsmodels' ``alpha``; ``a -> 0`` is the Poisson model).
The dispersion is per trial (``residual_sd = "per_study"``, the default) or common
(``"common"``), with prior ``dispersion ~ half_normal(1)``.

Sufficient statistics: per cell of identical (design row, exposure, count value) within a
trial, the participants ``cell_n`` (the NB2 kernel is not linear in ``y``, so counts per
value are kept — exact), their total exposure and events, count frequencies and the
constant ``n (y log E - log y!)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats
from scipy.special import expit, gammaln

from bayes_ipd.conventions import SCALES
from bayes_ipd.families.arm_replicates import ArmReplicates, cell_arm_replicates
from bayes_ipd.families.base import flat_draws
from bayes_ipd.families.cells import (
    cell_eta,
    cell_linear_predictor,
    draw_blocks,
    per_trial_sum,
    unique_cells,
)
from bayes_ipd.families.network_adjusted import adjusted_poisson
from bayes_ipd.families.network_arms import NetworkArmModel, per_arm_sum, study_draws
from bayes_ipd.families.network_contrasts import (
    ExcludedTrial,
    TrialArms,
    TrialCovariates,
    adjusted_columns,
    refuse_or_exclude_eventless,
)
from bayes_ipd.families.poisson import (
    COUNT_STATISTICS,
    POISSON,
    PoissonFamily,
    cell_frequencies,
    exposure_of,
    network_log_rate_ratios,
    replicate_counts,
)
from bayes_ipd.families.regression import (
    Unfittable,
    check_design,
    term_estimate,
    with_intercept,
)

if TYPE_CHECKING:
    import xarray as xr

    from bayes_ipd.families.protocols import DesignLike, ModelSpecLike
    from bayes_ipd.families.quadrature import TrialDraws
    from bayes_ipd.prior_values import PriorSet

__all__ = [
    "DISPERSION_PRIOR_SCALE",
    "NEGATIVE_BINOMIAL",
    "NegativeBinomialFamily",
    "dispersion_draws",
    "nb2_logpmf",
]

DISPERSION_PRIOR_SCALE = 1.0
"""Scale of the half-normal prior on the NB2 dispersion ``a`` (variance ``m + a m²``)."""

_EXP_MAX = 700.0
_BOUNDARY_ALPHA = 1e-6
"""An NB2 dispersion estimate below this is the boundary a = 0: the Poisson fit is used."""


def nb2_logpmf(y: np.ndarray, mean: np.ndarray, dispersion: np.ndarray) -> np.ndarray:
    """NB2 log probability of ``y`` with the given mean and dispersion (numpy)."""
    size = 1.0 / dispersion
    return stats.nbinom.logpmf(y, size, size / (size + mean))


def nb2_loglik(
    eta: Any, dispersion: Any, n: Any, value: Any, row_exposure: Any, const: Any, study: Any, k: int
) -> Any:
    """NB2 log-likelihood per trial from cells of equal count value (PyTensor).

    Per cell, ``n [lgamma(y + r) - lgamma(r) + r log r + y eta - (y + r) log(r + mu)] +
    const`` with ``r = 1 / dispersion`` and ``mu = E exp(eta)``.
    """
    import pytensor.tensor as pt

    r = 1.0 / dispersion[study]
    log_mu = pt.log(row_exposure) + eta
    kernel = (
        pt.gammaln(value + r)
        - pt.gammaln(r)
        + r * pt.log(r)
        + value * eta
        - (value + r) * pt.logaddexp(pt.log(r), log_mu)
    )
    return per_trial_sum(n * kernel + const, study, k)


def dispersion_draws(params: xr.Dataset, k: int) -> np.ndarray:
    """(S, K) dispersion per trial (a common one repeated)."""
    a = params["dispersion"]
    if "study" in a.dims:
        return flat_draws(a, "study")
    return np.repeat(flat_draws(a)[:, None], k, axis=1)


@dataclass(frozen=True)
class NegativeBinomialFamily(PoissonFamily):
    """Overdispersed count outcome; log link, exposure offset, NB2 dispersion."""

    def trial_statistics(
        self,
        z: np.ndarray,
        arm: np.ndarray,
        responses: Mapping[str, np.ndarray],
        cutpoints: Sequence[float],
    ) -> dict[str, np.ndarray]:
        """Participants per cell of identical (design row, exposure, count value)."""
        y = responses["outcome"]
        exposure = exposure_of(responses)
        cells, inverse = unique_cells(np.column_stack([exposure, y, z]))
        c = len(cells)
        const = y * np.log(exposure) - gammaln(y + 1.0)
        return {
            "cell_z": cells[:, 2:],
            "cell_n": np.bincount(inverse, minlength=c).astype(np.float64),
            "cell_value": cells[:, 1],
            "cell_events": np.bincount(inverse, weights=y, minlength=c),
            "cell_exposure": np.bincount(inverse, weights=exposure, minlength=c),
            "cell_const": np.bincount(inverse, weights=const, minlength=c),
            "cell_freq": cell_frequencies(y, inverse, c),
        }

    def data_arrays(self, design: DesignLike) -> dict[str, np.ndarray]:
        """The cells: trial, design row, participants, count value, per-row exposure,
        constant."""
        st = design.stats
        return {
            "cell_study": st["cell_study"],
            "cell_z": st["cell_z"],
            "cell_n": st["cell_n"],
            "cell_value": st["cell_value"],
            "cell_row_exposure": st["cell_exposure"] / st["cell_n"],
            "cell_const": st["cell_const"],
        }

    def loglik(
        self, design: DesignLike, spec: ModelSpecLike, priors: PriorSet, coef: Any, data: Mapping
    ) -> Any:
        """NB2 log-likelihood per trial, the dispersion per trial or common."""
        import pymc as pm
        import pytensor.tensor as pt

        if spec.residual_sd == "common":
            dispersion = pm.HalfNormal("dispersion", DISPERSION_PRIOR_SCALE) * pt.ones(design.k)
        else:
            dispersion = pm.HalfNormal("dispersion", DISPERSION_PRIOR_SCALE, dims="study")
        eta = cell_linear_predictor(coef, data["cell_z"], data["cell_study"])
        return nb2_loglik(
            eta,
            dispersion,
            data["cell_n"],
            data["cell_value"],
            data["cell_row_exposure"],
            data["cell_const"],
            data["cell_study"],
            design.k,
        )

    def model_description(self, spec: ModelSpecLike) -> str:
        """The dispersion option."""
        which = "common" if spec.residual_sd == "common" else "per trial"
        return f", NB2 dispersion {which} (half_normal({DISPERSION_PRIOR_SCALE:g}))"

    def replicate(
        self, design: DesignLike, params: xr.Dataset, coef: np.ndarray, index: np.ndarray, rng: Any
    ) -> dict[str, np.ndarray]:
        """Replicated count frequencies under NB2 (:func:`replicate_counts`)."""
        st = design.stats
        per_row = st["cell_exposure"] / st["cell_n"]
        a_all = dispersion_draws(params, design.k)[index][:, st["cell_study"]]
        out: dict[str, list[np.ndarray]] = {}
        for block in draw_blocks(coef.shape[0], len(per_row)):
            rate = per_row * np.exp(np.minimum(cell_eta(design, coef[block]), _EXP_MAX))
            rate = np.minimum(rate, 1e15)
            a = np.maximum(a_all[block], 1e-12)

            def pmf(value: int, mean: np.ndarray, a: np.ndarray = a) -> np.ndarray:
                return np.exp(nb2_logpmf(value, mean, a))

            def total(mean: np.ndarray, n: np.ndarray, g: Any, a: np.ndarray = a) -> np.ndarray:
                # a sum of n iid NB2(mean, a) counts is NB(size n/a, p = 1/(1 + a mean))
                return g.negative_binomial(n / a, 1.0 / (1.0 + a * mean)).astype(np.float64)

            part = replicate_counts(design, rate, pmf, total, rng)
            for name, value in part.items():
                out.setdefault(name, []).append(value)
        return {name: np.concatenate(parts) for name, parts in out.items()}

    def arm_replicates(
        self,
        design: DesignLike,
        params: xr.Dataset,
        coef: np.ndarray,
        arm_columns: Sequence[int],
        rng: np.random.Generator,
    ) -> ArmReplicates:
        """Events per trial and arm: per cell the sum of its ``n_c`` NB2 counts of mean
        ``mu_c = e_c e^{z_c'b_k}``, ``NB(n_c / a_k, 1 / (1 + a_k mu_c))``
        (:mod:`~bayes_ipd.families.arm_replicates`)."""
        st = design.stats
        per_row = st["cell_exposure"] / st["cell_n"]
        a_all = np.maximum(dispersion_draws(params, design.k), 1e-12)  # (S, K)

        def draw(eta: np.ndarray, block: slice) -> np.ndarray:
            mean = np.minimum(per_row * np.exp(np.minimum(eta, _EXP_MAX)), 1e15)
            a = a_all[block][:, st["cell_study"]]
            return rng.negative_binomial(st["cell_n"] / a, 1.0 / (1.0 + a * mean)).astype(float)

        return cell_arm_replicates(
            "events", st, coef, arm_columns, draw, design.k, st["cell_events"]
        )

    # ------------------------------------------------ leave-one-trial-out (marginal LOO)

    def _loo_cells(self, design: DesignLike, trial: int, draws: TrialDraws) -> tuple:
        st = design.stats
        sel = st["cell_study"] == trial
        cells = self.trial_cells(design, trial, draws)  # fixed includes the log exposure
        log_e = np.log(st["cell_exposure"][sel] / st["cell_n"][sel])
        const = float(
            np.sum(st["cell_const"][sel] - st["cell_n"][sel] * st["cell_value"][sel] * log_e)
        )
        a = dispersion_draws(draws.params, design.k)[:, trial]
        return cells, st["cell_value"][sel], a, const

    @staticmethod
    def _nb_cells(cells: Any, value: np.ndarray, a: np.ndarray, own: np.ndarray) -> np.ndarray:
        """(S, N) ``sum_c n_c log NB2(y_c | exp(eta), a)`` without ``log y!`` and exposure."""
        r = (1.0 / np.maximum(a, 1e-300))[:, None, None]
        out = np.empty(own.shape[:2])
        for j in range(own.shape[1]):
            eta = cells.fixed + own[:, j, :1] + own[:, j, 1:] * cells.treat  # (S, C)
            kernel = (
                gammaln(value + r[:, 0])
                - gammaln(r[:, 0])
                + r[:, 0] * np.log(r[:, 0])
                + value * eta
                - (value + r[:, 0]) * np.logaddexp(np.log(r[:, 0]), eta)
            )
            out[:, j] = (cells.n * kernel).sum(axis=-1)
        return out

    def trial_loglik(
        self, design: DesignLike, trial: int, draws: TrialDraws, own: np.ndarray
    ) -> np.ndarray:
        """(S, N) exact NB2 log-likelihood of one trial at points ``(alpha_k, theta_k)``."""
        cells, value, a, const = self._loo_cells(design, trial, draws)
        return self._nb_cells(cells, value, a, own) + const

    def marginal_trial_loglik(
        self, design: DesignLike, trial: int, draws: TrialDraws
    ) -> np.ndarray:
        """Quadrature over ``(alpha_k, theta_k)``, the cells assembled once."""
        cells, value, a, const = self._loo_cells(design, trial, draws)
        return draws.integrate(trial, lambda own: self._nb_cells(cells, value, a, own)) + const

    def fit_trial(
        self, responses: Mapping[str, np.ndarray], x: np.ndarray, names: Sequence[str], term: int
    ) -> tuple[float, float]:
        """NB2 maximum likelihood (statsmodels ``NegativeBinomial``, dispersion estimated),
        inverse-information SE.

        When the likelihood is largest at dispersion 0 (no overdispersion in the trial) the
        NB2 maximum is the Poisson fit, which is then returned.
        """
        xi = with_intercept(x)
        check_design(xi, ("intercept", *names), min_residual_df=0)
        y, offset = responses["outcome"], np.log(exposure_of(responses))
        poisson = POISSON.fit_trial(responses, x, names, term)
        fit = nb2_fit(y, xi, offset)
        if fit is None:
            return poisson
        return term_estimate(fit.params, fit.bse, term + 1)


@dataclass(frozen=True)
class NegativeBinomialArms(NetworkArmModel):
    """Network arms of an overdispersed count. The NB2 kernel is not linear in ``y``, so
    arm sums are not enough: each arm keeps its **cells of equal (count value, exposure)**
    (``cell_arm, cell_value, cell_exposure`` per row, ``cell_n`` participants,
    ``cell_const = sum (y log e - log y!)``; without an exposure column, the arm's count
    histogram), with which the arm's row-level NB2 log-likelihood is exact; ``events`` per
    arm for the predictive check. Dispersion ``a_k`` per trial, ``half_normal(1)`` as the
    family's."""

    def sums(self, row_arm: np.ndarray, a: int, roles: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """The arm's cells of equal (count, exposure) and its events."""
        y = roles["outcome"]
        exposure = roles.get("time", np.ones(y.size))
        cells, inverse = unique_cells(np.column_stack([row_arm, exposure, y]))
        c = len(cells)
        const = y * np.log(exposure) - gammaln(y + 1.0)
        return {
            "events": np.bincount(row_arm, weights=y, minlength=a),
            "cell_arm": cells[:, 0].astype(np.int64),
            "cell_n": np.bincount(inverse, minlength=c).astype(np.float64),
            "cell_value": cells[:, 2],
            "cell_exposure": cells[:, 1],
            "cell_const": np.bincount(inverse, weights=const, minlength=c),
        }

    def loglik(self, eta: Any, data: Mapping[str, Any], priors: Any, hyper: Any) -> Any:
        """NB2 log-likelihood per arm from its cells (:func:`nb2_loglik` on arms)."""
        import pymc as pm

        dispersion = pm.HalfNormal("dispersion", DISPERSION_PRIOR_SCALE, dims="study")
        cell_arm = data["cell_arm"]
        return nb2_loglik(
            eta[cell_arm],
            dispersion[data["arm_study"]],
            data["cell_n"],
            data["cell_value"],
            data["cell_exposure"],
            data["cell_const"],
            cell_arm,
            eta.shape[0],
        )

    def loglik_numpy(
        self, stats: Mapping[str, np.ndarray], arm_study: np.ndarray, eta: np.ndarray, nuisance: Any
    ) -> np.ndarray:
        """NB2 log-likelihood per arm, ``nuisance`` (..., K) the dispersions."""
        cell_arm, y = stats["cell_arm"], stats["cell_value"]
        r = 1.0 / np.asarray(nuisance)[..., arm_study[cell_arm]]
        eta_c = np.asarray(eta)[..., cell_arm]
        log_mu = np.log(stats["cell_exposure"]) + eta_c
        kernel = (
            gammaln(y + r)
            - gammaln(r)
            + r * np.log(r)
            + y * eta_c
            - (y + r) * np.logaddexp(np.log(r), log_mu)
        )
        return per_arm_sum(stats["cell_n"] * kernel + stats["cell_const"], cell_arm, eta.shape[-1])

    def saturated(self, stats: Mapping[str, np.ndarray]) -> None:
        """None: no saturated model with an unknown dispersion (deviance ``-2 loglik``)."""
        return None

    def replicate(
        self,
        stats: Mapping[str, np.ndarray],
        arm_study: np.ndarray,
        eta: np.ndarray,
        nuisance: Any,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Events per arm: per cell, a sum of ``n`` NB2 counts, ``NB(n / a, 1 / (1 + a mu))``."""
        cell_arm = stats["cell_arm"]
        a = np.maximum(np.asarray(nuisance)[..., arm_study[cell_arm]], 1e-12)
        mean = stats["cell_exposure"] * np.exp(np.minimum(eta[..., cell_arm], _EXP_MAX))
        mean = np.minimum(mean, 1e15)
        counts = rng.negative_binomial(stats["cell_n"] / a, 1.0 / (1.0 + a * mean))
        return per_arm_sum(counts.astype(np.float64), cell_arm, eta.shape[-1])

    def select(self, stats: Mapping[str, np.ndarray], arms: np.ndarray) -> dict[str, np.ndarray]:
        """The cells of the arms ``arms``, ``cell_arm`` renumbered to their order."""
        position = np.full(np.asarray(stats["events"]).size, -1, dtype=np.int64)
        position[arms] = np.arange(len(arms))
        keep = position[stats["cell_arm"]] >= 0
        out = {name: np.asarray(stats[name])[keep] for name in self.statistics[1:]}
        out["cell_arm"] = position[stats["cell_arm"][keep]]
        out["events"] = np.asarray(stats["events"])[arms]
        return out

    def eta_derivatives(
        self, stats: Mapping[str, np.ndarray], eta: np.ndarray, nuisance: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per arm, summed over its cells: ``n_c [y_c - (y_c + r) p_c]`` and ``-n_c (y_c + r)
        p_c (1 - p_c)``, ``p_c = mu_c / (r + mu_c)``, ``mu_c = e_c e^eta``, ``r = 1 / a``
        (``nuisance``: the dispersion, broadcast over the arms)."""
        eta = np.asarray(eta)
        cell_arm, y, n = stats["cell_arm"], stats["cell_value"], stats["cell_n"]
        r = 1.0 / np.broadcast_to(np.asarray(nuisance, dtype=float), eta.shape)[..., cell_arm]
        p = expit(eta[..., cell_arm] + np.log(stats["cell_exposure"]) - np.log(r))
        first = n * (y - (y + r) * p)
        second = -n * (y + r) * p * (1.0 - p)
        a = eta.shape[-1]
        return per_arm_sum(first, cell_arm, a), per_arm_sum(second, cell_arm, a)

    def nuisance_draws(self, posterior: Any) -> np.ndarray:
        """(S, K) dispersions."""
        return study_draws(posterior, "dispersion")

    def mean_link(self) -> tuple[Any, Any]:
        """The rate: ``exp`` and ``log``."""
        return np.exp, np.log


NEGATIVE_BINOMIAL_ARMS = NegativeBinomialArms(
    "negative_binomial",
    ("events", "cell_arm", "cell_n", "cell_value", "cell_exposure", "cell_const"),
    replicated="events",
)
"""The negative binomial family's arm-level network model."""


def nb2_fit(y: np.ndarray, xi: np.ndarray, offset: np.ndarray) -> Any:
    """NB2 maximum likelihood (statsmodels ``NegativeBinomial``, dispersion estimated) of
    ``y`` on ``xi`` (intercept included) with an offset; None when the likelihood is largest
    at dispersion 0 (no overdispersion: the Poisson fit is the maximum).

    Raises
    ------
    Unfittable
        The fit failed or did not converge.
    """
    from statsmodels.discrete.discrete_model import NegativeBinomial
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    model = NegativeBinomial(y, xi, loglike_method="nb2", offset=offset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # judged below: convergence and the boundary
        try:
            fit = model.fit(disp=0, method="newton", maxiter=200)
        except (np.linalg.LinAlgError, ValueError, OverflowError) as exc:
            raise Unfittable(f"the NB2 regression could not be fitted ({exc})") from exc
    alpha = float(np.asarray(fit.params)[-1])
    if np.isfinite(alpha) and alpha <= _BOUNDARY_ALPHA:  # the maximum is at a = 0
        return None
    if not np.isfinite(alpha):
        # the Newton steps left the parameter space; the score of a at 0
        # (Cameron & Trivedi 1990) says whether the maximum is at the boundary
        mu = GLM(y, xi, family=families.Poisson(), offset=offset).fit().fittedvalues
        if np.sum((y - mu) ** 2 - y) <= 0:
            return None
        raise Unfittable("the negative binomial (NB2) regression did not converge")
    if not fit.mle_retvals.get("converged", False):
        raise Unfittable("the negative binomial (NB2) regression did not converge")
    return fit


def network_log_rate_ratios_nb(
    trial: TrialArms, sparse: str | None, covariates: TrialCovariates | None = None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """NB2 regression on the treatment factor with a log-exposure offset (statsmodels
    ``NegativeBinomial``, as the two-arm stage one): log rate ratios and their
    inverse-information covariance; at the boundary (no overdispersion) the Poisson fit's
    closed form. An arm without events is refused (``sparse=None``) or its trial excluded
    (no correction applies to rows); arm-level AD cannot enter a row-level NB2 fit. With
    covariates (centred within the trial) the same NB2 fit on
    :func:`~bayes_ipd.families.network_contrasts.adjusted_columns` (at the boundary the
    Poisson GLM's)."""
    if trial.aggregate is not None:
        raise ExcludedTrial("arm-level aggregate data: the NB2 regression needs the rows")
    y = trial.responses["outcome"]
    events = np.bincount(trial.arm_index, weights=y, minlength=len(trial.arms))
    refuse_or_exclude_eventless(
        trial, events, sparse, effect="rate ratio", model="a negative binomial regression"
    )
    m = 1 + (len(trial.arms) - 1 if covariates is None else covariates.terms(len(trial.arms)))
    try:
        fit = nb2_fit(
            y,
            with_intercept(adjusted_columns(trial, covariates)),
            np.log(exposure_of(trial.responses)),
        )
    except Unfittable as reason:
        raise ExcludedTrial(str(reason)) from None
    if fit is None:
        if covariates is not None:
            return adjusted_poisson(trial, sparse, covariates)
        return network_log_rate_ratios(trial, sparse)
    estimate = np.asarray(fit.params, dtype=float)[1:m]
    cov = np.asarray(fit.cov_params(), dtype=float)[1:m, 1:m]
    if not (np.isfinite(estimate).all() and np.isfinite(cov).all()):
        raise ExcludedTrial("the NB2 regression gave non-finite estimates")
    return estimate, cov, False


NEGATIVE_BINOMIAL = NegativeBinomialFamily(
    name="negative_binomial",
    data_kind="overdispersed counts",
    scale=SCALES["logIRR"],
    responses=POISSON.responses,
    statistics=(
        "cell_z",
        "cell_n",
        "cell_value",
        "cell_events",
        "cell_exposure",
        "cell_const",
        "cell_freq",
    ),
    stage_one_model="negative binomial (NB2) regression (log link, exposure offset)",
    ppc_statistics=COUNT_STATISTICS,
    network_arms=NEGATIVE_BINOMIAL_ARMS,
    network_contrasts=network_log_rate_ratios_nb,
)
