"""The binomial family: a 0/1 outcome, logit link, effect = log odds ratio.

Sufficient statistics: per cell of identical design rows within a trial, the participants
and the events (exact). Default priors (log-odds scale): intercept ``normal(0, 10)``, effect
``normal(0, 2.5)``, τ ``half_normal(1)``, coefficients and interactions ``normal(0, 2.5)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from bayes_ipd.conventions import SCALES
from bayes_ipd.families.arm_replicates import ArmReplicates, cell_arm_replicates
from bayes_ipd.families.base import ResponseRole
from bayes_ipd.families.cells import (
    CellFamily,
    arm_totals,
    cell_eta,
    draw_blocks,
    sum_arms,
    unique_cells,
)
from bayes_ipd.families.network_adjusted import adjusted_logistic
from bayes_ipd.families.network_arms import NetworkArmModel
from bayes_ipd.families.network_contrasts import (
    CONTINUITY,
    ArmSums,
    ExcludedTrial,
    ZeroArms,
    independent_arms,
)
from bayes_ipd.families.regression import (
    Unfittable,
    arm_name,
    check_design,
    quietly,
    separable,
    term_estimate,
    with_intercept,
)
from bayes_ipd.families.sparse import sparse_estimate

if TYPE_CHECKING:
    import xarray as xr

    from bayes_ipd.families.protocols import DesignLike, ModelSpecLike
    from bayes_ipd.prior_values import PriorSet

__all__ = ["BINOMIAL", "LOG_SCALE_PRIORS", "BinomialFamily", "replicate_binomial"]

LOG_SCALE_PRIORS: dict[str, tuple[str, tuple[float, ...]]] = {
    "intercept": ("normal", (0.0, 10.0)),
    "effect": ("normal", (0.0, 2.5)),
    "tau": ("half_normal", (1.0,)),
    "coefficients": ("normal", (0.0, 2.5)),
    "interactions": ("normal", (0.0, 2.5)),
}
"""Weakly informative defaults on a log-odds or log-hazard scale; coefficients and
interactions per SD of each covariate (:data:`~bayes_ipd.priors.PER_SD_SLOTS`)."""


def replicate_binomial(
    design: DesignLike, coef: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Replicated event proportion per trial and arm.

    Events are drawn per cell, ``Binomial(n_c, expit(z_c'b_k))``, and summed per trial and
    arm. Returns ``{"event_rate": (S, K, 2)}``.
    """
    counts = np.rint(design.stats["cell_n"]).astype(np.int64)
    out = np.empty((coef.shape[0], design.k, 2))
    for block in draw_blocks(coef.shape[0], len(counts)):
        p = expit(cell_eta(design, coef[block]))
        out[block] = sum_arms(rng.binomial(counts, p).astype(np.float64), design)
    return {"event_rate": out / arm_totals(design, "cell_n")}


def _crude_log_odds(events: np.ndarray, at_risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log odds with 0.5 added to every count, and the SD of that estimate's terms."""
    ev = events + 0.5
    non = at_risk - ev + 1.0
    return np.log(ev / non), 1 / ev + 1 / non


@dataclass(frozen=True)
class BinomialFamily(CellFamily):
    """Binary outcome; logit link."""

    def trial_statistics(
        self,
        z: np.ndarray,
        arm: np.ndarray,
        responses: Mapping[str, np.ndarray],
        cutpoints: Sequence[float],
    ) -> dict[str, np.ndarray]:
        """Participants and events per cell of identical design rows."""
        cells, inverse = unique_cells(z)
        return {
            "cell_z": cells,
            "cell_n": np.bincount(inverse, minlength=len(cells)).astype(np.float64),
            "cell_events": np.bincount(inverse, weights=responses["outcome"], minlength=len(cells)),
        }

    def arm_count_statistics(self, events: np.ndarray, n: np.ndarray) -> dict[str, np.ndarray]:
        """One cell per arm (design rows ``(1, 0)`` and ``(1, 1)``): the exact binomial
        likelihood of a 2x2 table."""
        return {"cell_z": np.array([[1.0, 0.0], [1.0, 1.0]]), "cell_n": n, "cell_events": events}

    def crude_arm_levels(
        self, events: np.ndarray, at_risk: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Log odds with 0.5 added to every count, and its variance (Woolf)."""
        return _crude_log_odds(events, at_risk)

    def default_prior_params(
        self, outcome_sd: float | None, outcome_mean: float | None
    ) -> dict[str, tuple[str, tuple[float, ...]]]:
        """Log-odds-scale defaults (:data:`LOG_SCALE_PRIORS`)."""
        return dict(LOG_SCALE_PRIORS)

    def loglik(
        self, design: DesignLike, spec: ModelSpecLike, priors: PriorSet, coef: Any, data: Mapping
    ) -> Any:
        """Bernoulli log-likelihood per trial from cells (one fused kernel with its
        gradient, :func:`~bayes_ipd.families.kernels.logistic_kernel`)."""
        from bayes_ipd.families.kernels import logistic_kernel

        z, study = data["cell_z"], data["cell_study"]
        return logistic_kernel(coef, z, study, data["cell_events"], data["cell_n"])

    def row_loglik(
        self, eta: Any, responses: Mapping[str, Any], study: Any, extra_var: Any = None
    ) -> Any:
        """Bernoulli ``y eta - log(1 + e^eta)`` per row (one-stage imputation)."""
        import pytensor.tensor as pt

        if extra_var is not None:
            raise NotImplementedError("the binomial row likelihood has no closed-form margin")
        return responses["outcome"] * eta - pt.softplus(eta)

    def cell_kernel(self, eta: np.ndarray, n: np.ndarray, events: np.ndarray) -> np.ndarray:
        """``y eta - n log(1 + e^eta)`` (numpy; for the marginal leave-one-trial-out LOO)."""
        return events * eta - n * np.logaddexp(0.0, eta)

    def observed_statistics(self, design: DesignLike) -> dict[str, np.ndarray]:
        """Event proportion per trial and arm."""
        return {"event_rate": arm_totals(design, "cell_events") / arm_totals(design, "cell_n")}

    def replicate(
        self, design: DesignLike, params: xr.Dataset, coef: np.ndarray, index: np.ndarray, rng: Any
    ) -> dict[str, np.ndarray]:
        """Replicated event proportions (:func:`replicate_binomial`)."""
        return replicate_binomial(design, coef, rng)

    def arm_replicates(
        self,
        design: DesignLike,
        params: xr.Dataset,
        coef: np.ndarray,
        arm_columns: Sequence[int],
        rng: np.random.Generator,
    ) -> ArmReplicates:
        """Events per trial and arm, ``Binomial(n_c, expit(z_c'b_k))`` per cell
        (:mod:`~bayes_ipd.families.arm_replicates`)."""
        st = design.stats
        n = np.rint(st["cell_n"]).astype(np.int64)

        def draw(eta: np.ndarray, block: slice) -> np.ndarray:
            return rng.binomial(n, expit(eta)).astype(np.float64)

        return cell_arm_replicates(
            "events", st, coef, arm_columns, draw, design.k, st["cell_events"]
        )

    def check_trial_events(self, responses: Mapping[str, np.ndarray], treat: np.ndarray) -> None:
        """Both arms need events and non-events."""
        arms = [responses["outcome"][treat == arm] for arm in (0.0, 1.0)]
        if not any(np.any(in_arm == 1.0) for in_arm in arms):
            raise Unfittable("no events in either arm")
        if all(np.all(in_arm == 1.0) for in_arm in arms):
            raise Unfittable("every participant in both arms had the event")
        for treated, in_arm in zip((False, True), arms, strict=True):
            if not np.any(in_arm == 1.0):
                raise Unfittable(f"no events in the {arm_name(treated)} arm")
            if np.all(in_arm == 1.0):
                raise Unfittable(f"every participant in the {arm_name(treated)} arm had the event")

    def fit_trial(
        self, responses: Mapping[str, np.ndarray], x: np.ndarray, names: Sequence[str], term: int
    ) -> tuple[float, float]:
        """Logistic maximum likelihood, inverse-information SE.

        The likelihood of 0/1 rows is that of their distinct design rows with the events
        and participants of each (:func:`grouped_rows`): statsmodels' binomial GLM
        (Newton) on those gives the estimate and SE of ``Logit`` on every row (tested to
        1e-8), in a fraction of the time when covariates are few or discrete.
        """
        from statsmodels.genmod import families
        from statsmodels.genmod.generalized_linear_model import GLM

        xi = with_intercept(x)
        y = responses["outcome"]
        check_design(xi, ("intercept", *names), min_residual_df=0)
        rows, events, n = grouped_rows(xi, y)
        # the distinct rows (2y - 1) x: +row where a group has events, -row where non-events
        if separable(np.vstack([rows[events > 0], -rows[n - events > 0]])):
            raise Unfittable(
                "separation: the design predicts the outcome perfectly, so the maximum "
                "likelihood estimate does not exist"
            )
        model = GLM(np.column_stack([events, n - events]), rows, family=families.Binomial())
        fit = quietly(lambda: _fit_grouped(model))
        if not fit.mle_retvals.get("converged", False):
            raise Unfittable("the logistic regression did not converge")
        return term_estimate(fit.params, fit.bse, term + 1)

    def fit_sparse_trial(
        self,
        responses: Mapping[str, np.ndarray],
        treat: np.ndarray,
        x: np.ndarray,
        names: Sequence[str],
        term: int,
        method: str,
    ) -> tuple[float, float]:
        """Continuity-corrected 2x2 log odds ratio of a trial with a zero cell, or Firth's
        penalised logistic regression (:mod:`bayes_ipd.families.sparse`)."""
        estimate = sparse_estimate(responses["outcome"], treat, x, term, method)
        if estimate is None:  # no zero cell: the ordinary fit
            self.check_trial_events(responses, treat)
            return self.fit_trial(responses, x, names, term)
        return term_estimate(np.array([estimate[0]]), np.array([estimate[1]]), 0)


def _fit_grouped(model: Any) -> Any:
    """Newton's method on grouped rows (the SE from the information at the estimate, as
    ``Logit``; IRLS would give it at the weights of the step before).

    statsmodels flags a saturated grouped fit (as many distinct rows as parameters, e.g. a
    trial's two arms) as perfect prediction; separation has been ruled out on the rows
    themselves (:func:`separable`), so that warning is not one.
    """
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    with warnings.catch_warnings(), np.errstate(divide="ignore"):
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        return model.fit(method="newton", maxiter=100, tol=1e-12, disp=0)


def grouped_rows(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct rows of ``x`` with the sum of ``y`` (events) and the count of rows
    (participants) of each, in the order of their first appearance.

    Examples
    --------
    >>> rows, events, n = grouped_rows(np.array([[1.0, 0], [1, 1], [1, 0]]), np.array([1.0, 0, 0]))
    >>> rows.tolist(), events.tolist(), n.tolist()
    ([[1.0, 0.0], [1.0, 1.0]], [1.0, 0.0], [2, 1])
    """
    codes = np.zeros(len(x), dtype=np.int64)
    for column in x.T:  # codes of the rows so far, refined column by column (hashing)
        values, levels = pd.factorize(column, sort=False)
        codes, _ = pd.factorize(codes * len(levels) + values, sort=False)
    groups = int(codes.max()) + 1 if len(codes) else 0
    events = np.bincount(codes, weights=y, minlength=groups)
    n = np.bincount(codes, minlength=groups)
    rows = x[np.unique(codes, return_index=True)[1]]
    return rows, events, n


@dataclass(frozen=True)
class BinomialArms(NetworkArmModel):
    """Network arms of a 0/1 outcome: events ``r`` of ``n``, ``r eta - n log(1 + e^eta)``
    (exact)."""

    def sums(self, row_arm: np.ndarray, a: int, roles: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """The events per arm."""
        return {"events": np.bincount(row_arm, weights=roles["outcome"], minlength=a)}

    def loglik(self, eta: Any, data: Mapping[str, Any], priors: Any, hyper: Any) -> Any:
        """``r eta - n log(1 + e^eta)`` per arm."""
        import pytensor.tensor as pt

        return data["events"] * eta - data["n"] * pt.softplus(eta)

    def loglik_numpy(
        self, stats: Mapping[str, np.ndarray], arm_study: np.ndarray, eta: np.ndarray, nuisance: Any
    ) -> np.ndarray:
        """``r eta - n log(1 + e^eta)`` per arm."""
        r, n = stats["events"], stats["n"]
        return r * eta - n * np.logaddexp(0.0, eta)

    def saturated(self, stats: Mapping[str, np.ndarray]) -> np.ndarray:
        """The binomial log-likelihood at the arm's observed proportion."""
        r, n = stats["events"], stats["n"]
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(r > 0, r * np.log(r / n), 0.0)
            terms += np.where(n - r > 0, (n - r) * np.log((n - r) / n), 0.0)
        return terms

    def replicate(
        self,
        stats: Mapping[str, np.ndarray],
        arm_study: np.ndarray,
        eta: np.ndarray,
        nuisance: Any,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Events ``Binomial(n, expit(eta))``."""
        n = np.broadcast_to(stats["n"], eta.shape).astype(np.int64)
        return rng.binomial(n, 1.0 / (1.0 + np.exp(-eta))).astype(float)

    def eta_derivatives(
        self, stats: Mapping[str, np.ndarray], eta: np.ndarray, nuisance: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """``r - n p`` and ``-n p (1 - p)``, ``p = expit(eta)``."""
        p = expit(eta)
        return stats["events"] - stats["n"] * p, -stats["n"] * p * (1.0 - p)

    def mean_link(self) -> tuple[Any, Any]:
        """The event probability: ``expit`` and ``logit``."""
        return expit, logit


BINOMIAL_ARMS = BinomialArms(
    "binomial", ("events",), replicated="events", aggregate_columns=("events", "n")
)
"""The binomial family's arm-level network model."""


def network_arm_log_odds(sums: ArmSums, sparse: str | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """Each arm's log odds ``log(a_j / (n_j - a_j))`` and its variance ``1/a_j + 1/(n_j -
    a_j)`` (the saturated logistic regression on a treatment factor; R ``metafor::escalc(
    measure = "OR")`` per pair). Arms with no events (or only events): refused (``sparse=
    None``), the trial excluded (``"none"``), or 0.5 added to every cell (``"cc"``)."""
    a, n = sums.total, sums.n
    zero = (a == 0) | (a == n)
    if zero.all():
        raise ExcludedTrial("every arm has no events (or only events): no odds ratio is estimable")
    corrected = False
    if zero.any():
        if sparse is None:
            raise ZeroArms(
                [
                    (arm, int(e), int(m))
                    for arm, e, m, z in zip(sums.arms, a, n, zero, strict=True)
                    if z
                ]
            )
        if sparse == "none":
            named = ", ".join(
                f"{label!r} ({int(e)} of {int(m)})"
                for label, e, m, z in zip(sums.labels, a, n, zero, strict=True)
                if z
            )
            raise ExcludedTrial(
                f"arm(s) with no events (or only events): {named}; --sparse none excludes the trial"
            )
        a, n, corrected = a + CONTINUITY, n + 2 * CONTINUITY, True
    return np.log(a / (n - a)), 1.0 / a + 1.0 / (n - a), corrected


BINOMIAL = BinomialFamily(
    name="binomial",
    data_kind="binary outcomes",
    scale=SCALES["logOR"],
    responses=(
        ResponseRole("outcome", "the outcome column", "binomial outcome", "binary", integer=True),
    ),
    event_role="outcome",
    statistics=("cell_z", "cell_n", "cell_events"),
    stage_one_model="logistic regression",
    ppc_statistics=(("event_rate", "Event proportion"),),
    sparse_methods=("cc", "tacc", "firth"),
    network_arms=BINOMIAL_ARMS,
    network_contrasts=independent_arms(network_arm_log_odds, adjusted_logistic),
)
