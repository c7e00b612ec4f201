"""The ordinal family: cumulative-logit proportional odds with trial-specific cut points;
effect = log cumulative odds ratio.

The outcome is coded 0..J-1 by the data layer (levels in the order given, or numeric order).
For trial ``k`` and design row ``z`` (first column the intercept),

``logit P(Y <= j) = c_kj - z'b_k``,  ``c_k0 = 0 < c_k1 < ... < c_k,J-2``

R's sign convention (``MASS::polr``, ``ordinal::clm``, statsmodels ``OrderedModel``):
``logit P(Y <= j) = zeta_j - beta * treat``, so an effect ``theta > 0`` shifts the
treated arm towards higher categories. The trial intercept ``alpha_k`` is the control-arm
log odds of exceeding the lowest category (at the trial's mean covariates); the gaps
``cutpoint_gap`` [study, gap] between successive cut points are ``half_normal(5)``
(stratified cut points, the analogue of stratified intercepts). With J = 2 the model is the
logistic model of ``Y > lowest``.

Sufficient statistics: per cell of identical design rows within a trial, the participants in
each category ``cell_counts`` (C, J) (exact).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import expit

from bayes_ipd.conventions import SCALES
from bayes_ipd.families.arm_replicates import ArmReplicates, cell_arm_replicates
from bayes_ipd.families.base import ResponseRole, flat_draws, take_columns
from bayes_ipd.families.binomial import LOG_SCALE_PRIORS
from bayes_ipd.families.cells import (
    CellFamily,
    cell_eta,
    cell_linear_predictor,
    draw_blocks,
    per_trial_sum,
    unique_cells,
)
from bayes_ipd.families.network_arms import NetworkArmModel, study_draws
from bayes_ipd.families.network_contrasts import (
    ExcludedTrial,
    TrialArms,
    TrialCovariates,
    adjusted_columns,
    factor_columns,
)
from bayes_ipd.families.ordinal_marginal import (
    counts_eta_derivatives,
    gaps_marginal_loglik,
    log_category_probabilities,
    ordinal_cells_loglik,
)
from bayes_ipd.families.regression import (
    Unfittable,
    check_design,
    quietly,
    separable,
    term_estimate,
)

if TYPE_CHECKING:
    import xarray as xr

    from bayes_ipd.families.protocols import DesignLike, ModelSpecLike
    from bayes_ipd.families.quadrature import TrialDraws
    from bayes_ipd.prior_values import PriorSet

__all__ = [
    "GAP_PRIOR_SCALE",
    "ORDINAL",
    "OrdinalFamily",
    "category_probabilities",
    "cutpoint_draws",
    "n_categories",
]

GAP_PRIOR_SCALE = 5.0
"""Scale of the half-normal prior on the gaps between a trial's successive cut points."""


def n_categories(design: DesignLike) -> int:
    """Number of outcome categories J of an ordinal design."""
    return int(design.stats["cell_counts"].shape[1])


def category_probabilities(eta: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """(..., J) category probabilities of ``logit P(Y <= j) = cuts_j - eta`` (numpy).

    ``eta`` is (...), ``cuts`` (..., J - 1) increasing.
    """
    cumulative = expit(cuts - eta[..., None])
    ones = np.ones_like(eta)[..., None]
    upper = np.concatenate([cumulative, ones], axis=-1)
    lower = np.concatenate([np.zeros_like(ones), cumulative], axis=-1)
    return np.clip(upper - lower, 0.0, 1.0)


def cutpoint_draws(params: xr.Dataset, k: int, j: int) -> np.ndarray:
    """(S, K, J - 1) cut points ``[0, cumsum(gaps)]`` per draw and trial."""
    s = int(params.sizes["chain"] * params.sizes["draw"])
    zeros = np.zeros((s, k, 1))
    if j <= 2:
        return zeros
    gaps = flat_draws(params["cutpoint_gap"], "study", "gap")
    return np.concatenate([zeros, np.cumsum(gaps, axis=2)], axis=2)


def ordinal_log_probabilities(eta: Any, cuts: Any) -> Any:
    """(C, J) log category probabilities, stable in both tails (PyTensor).

    ``eta`` (C,), ``cuts`` (C, J - 1). For a middle category with bounds ``a > b`` (on
    ``c - eta``), ``log(F(a) - F(b)) = a + log1mexp(b - a) - softplus(a) - softplus(b)``.
    """
    import pytensor.tensor as pt

    u = cuts - eta[:, None]  # (C, J - 1)
    first = -pt.softplus(-u[:, :1])
    last = -pt.softplus(u[:, -1:])
    if cuts.type.shape[1] == 1:
        return pt.concatenate([first, last], axis=1)
    a, b = u[:, 1:], u[:, :-1]
    middle = a + pt.log1mexp(b - a) - pt.softplus(a) - pt.softplus(b)
    return pt.concatenate([first, middle, last], axis=1)


def _category_differences(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rows ``x_h - x_l`` for every participant ``h`` in a higher category than ``l``
    (on distinct design rows): a direction with all of them >= 0 separates the data."""
    levels = np.unique(y)
    blocks = []
    for low in levels[:-1]:
        lower = np.unique(x[y == low], axis=0)
        higher = np.unique(x[y > low], axis=0)
        blocks.append((higher[:, None, :] - lower[None, :, :]).reshape(-1, x.shape[1]))
    return np.concatenate(blocks)


@dataclass(frozen=True)
class OrdinalFamily(CellFamily):
    """Ordered categorical outcome; cumulative logit, proportional odds."""

    def trial_statistics(
        self,
        z: np.ndarray,
        arm: np.ndarray,
        responses: Mapping[str, np.ndarray],
        cutpoints: Sequence[float],
    ) -> dict[str, np.ndarray]:
        """Participants per category in each cell of identical design rows."""
        y = responses["outcome"].astype(np.int64)
        cells, inverse = unique_cells(z)
        counts = np.zeros((len(cells), int(y.max()) + 1))
        np.add.at(counts, (inverse, y), 1.0)
        return {
            "cell_z": cells,
            "cell_n": counts.sum(axis=1),
            "cell_events": counts[:, 1:].sum(axis=1),
            "cell_counts": counts,
        }

    def stack_statistics(
        self, per_trial: Sequence[Mapping[str, np.ndarray]], columns: Sequence[np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Concatenated cells; category counts padded with zeros to the largest level."""
        j = max(s["cell_counts"].shape[1] for s in per_trial)
        padded = [
            {**s, "cell_counts": take_columns(s["cell_counts"], self._pad(s, j), (1,))}
            for s in per_trial
        ]
        return super().stack_statistics(padded, columns)

    @staticmethod
    def _pad(stats: Mapping[str, np.ndarray], j: int) -> np.ndarray:
        have = stats["cell_counts"].shape[1]
        return np.where(np.arange(j) < have, np.arange(j), -1)

    def crude_arm_levels(
        self, events: np.ndarray, at_risk: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Log odds of exceeding the lowest category, 0.5 added to every count."""
        ev = events + 0.5
        non = at_risk - ev + 1.0
        return np.log(ev / non), 1 / ev + 1 / non

    def default_prior_params(
        self, outcome_sd: float | None, outcome_mean: float | None
    ) -> dict[str, tuple[str, tuple[float, ...]]]:
        """Log-odds-scale defaults (:data:`~bayes_ipd.families.binomial.LOG_SCALE_PRIORS`)."""
        return dict(LOG_SCALE_PRIORS)

    def coords(self, design: DesignLike) -> dict[str, list]:
        """``category`` and ``gap`` (between successive cut points)."""
        j = n_categories(design)
        return {"category": list(range(j)), "gap": list(range(1, j - 1))}

    def data_arrays(self, design: DesignLike) -> dict[str, np.ndarray]:
        """The cells: trial, design row, category counts."""
        return {name: design.stats[name] for name in ("cell_study", "cell_z", "cell_counts")}

    def loglik(
        self, design: DesignLike, spec: ModelSpecLike, priors: PriorSet, coef: Any, data: Mapping
    ) -> Any:
        """Multinomial log-likelihood of the category counts of every cell."""
        import pymc as pm
        import pytensor.tensor as pt

        j, k = n_categories(design), design.k
        cuts = pt.zeros((k, 1))
        if j > 2:
            gap = pm.HalfNormal("cutpoint_gap", GAP_PRIOR_SCALE, dims=("study", "gap"))
            cuts = pt.concatenate([cuts, pt.cumsum(gap, axis=1)], axis=1)
        eta = cell_linear_predictor(coef, data["cell_z"], data["cell_study"])
        logp = ordinal_log_probabilities(eta, cuts[data["cell_study"]])
        return per_trial_sum((data["cell_counts"] * logp).sum(axis=1), data["cell_study"], k)

    def model_description(self, spec: ModelSpecLike) -> str:
        """The cut points."""
        return f", trial-specific cut points (gaps half_normal({GAP_PRIOR_SCALE:g}))"

    def design_lines(self, design: DesignLike) -> list[str]:
        """The number of categories."""
        return [f"Ordinal outcome: {n_categories(design)} categories, cumulative logit"]

    def _arm_groups(self, design: DesignLike) -> np.ndarray:
        st = design.stats
        return st["cell_study"] * 2 + st["cell_z"][:, 1].astype(np.int64)

    def observed_statistics(self, design: DesignLike) -> dict[str, np.ndarray]:
        """Mean level (1 = lowest) and the proportion in each category, per trial and arm."""
        counts = np.asarray(design.stats["cell_counts"])[None]
        return {name: value[0] for name, value in self._summaries(design, counts).items()}

    def frequency_statistics(self, design: DesignLike) -> tuple[tuple[str, str], ...]:
        """The category proportions of the predictive check with their level numbers
        (``category_1`` -> ``"1"``, 1 = lowest): what
        :meth:`bayes_ipd.checks.ppc.PPCResult.rootogram` draws."""
        return tuple((f"category_{c}", str(c)) for c in range(1, n_categories(design) + 1))

    def _summaries(self, design: DesignLike, counts: np.ndarray) -> dict[str, np.ndarray]:
        """(S, K, 2) mean level and category proportions from (S, C, J) counts."""
        group, k = self._arm_groups(design), design.k
        s, _, j = counts.shape
        per_arm = np.zeros((s, 2 * k, j))
        np.add.at(per_arm, (slice(None), group), counts)
        n = per_arm.sum(axis=2)
        share = per_arm / n[..., None]
        out = {"mean_level": (share * np.arange(1, j + 1)).sum(axis=2).reshape(s, k, 2)}
        for c in range(j):
            out[f"category_{c + 1}"] = share[..., c].reshape(s, k, 2)
        return out

    def replicate(
        self, design: DesignLike, params: xr.Dataset, coef: np.ndarray, index: np.ndarray, rng: Any
    ) -> dict[str, np.ndarray]:
        """Replicated category counts per cell, ``Multinomial(n_c, p_c)``, summarised per
        trial and arm."""
        st = design.stats
        j = n_categories(design)
        cuts = cutpoint_draws(params, design.k, j)[index][:, st["cell_study"]]
        n = np.rint(st["cell_n"]).astype(np.int64)
        parts: dict[str, list[np.ndarray]] = {}
        for block in draw_blocks(coef.shape[0], len(n)):
            probs = category_probabilities(cell_eta(design, coef[block]), cuts[block])
            probs = probs / probs.sum(axis=-1, keepdims=True)
            counts = rng.multinomial(np.broadcast_to(n, probs.shape[:-1]), probs)
            for name, value in self._summaries(design, counts.astype(np.float64)).items():
                parts.setdefault(name, []).append(value)
        return {name: np.concatenate(values) for name, values in parts.items()}

    def arm_replicates(
        self,
        design: DesignLike,
        params: xr.Dataset,
        coef: np.ndarray,
        arm_columns: Sequence[int],
        rng: np.random.Generator,
    ) -> ArmReplicates:
        """Mean level per trial and arm: per cell ``Multinomial(n_c, p(z_c'b_k, c_k))``
        category counts (:mod:`~bayes_ipd.families.arm_replicates`). Levels number the
        categories observed in the network 1, 2, ... (as the arm-level network model's
        ``mean_level``; a never-observed code takes the level below it, at least 1)."""
        st = design.stats
        counts = np.asarray(st["cell_counts"])
        j = counts.shape[1]
        seen = counts.sum(axis=0) > 0
        levels = np.maximum(np.cumsum(seen), 1).astype(np.float64)
        cuts = cutpoint_draws(params, design.k, j)  # (S, K, J - 1)
        n = np.rint(st["cell_n"]).astype(np.int64)

        single = n == 1  # one participant (a continuous covariate): one category draw

        def draw(eta: np.ndarray, block: slice) -> np.ndarray:
            probs = category_probabilities(eta, cuts[block][:, st["cell_study"]])
            probs = probs / probs.sum(axis=-1, keepdims=True)
            out = np.empty(eta.shape)
            upper = np.cumsum(probs[:, single, :-1], axis=-1)
            u = rng.random((eta.shape[0], int(single.sum()), 1))
            out[:, single] = levels[(u > upper).sum(axis=-1)]
            many = probs[:, ~single]
            counts = rng.multinomial(np.broadcast_to(n[~single], many.shape[:-1]), many)
            out[:, ~single] = counts @ levels
            return out

        return cell_arm_replicates(
            "mean_level", st, coef, arm_columns, draw, design.k, counts @ levels, st["cell_n"]
        )

    # ------------------------------------------------ leave-one-trial-out (marginal LOO)

    def _loo_cells(self, design: DesignLike, trial: int, draws: TrialDraws) -> tuple:
        sel = design.stats["cell_study"] == trial
        cells = self.trial_cells(design, trial, draws)
        cuts = cutpoint_draws(draws.params, design.k, n_categories(design))[:, trial]
        return cells, design.stats["cell_counts"][sel], cuts

    @staticmethod
    def _ordinal_cells(cells: Any, counts: np.ndarray, cuts: np.ndarray, own: np.ndarray):
        """(S, N) ``sum_c sum_j counts_cj log P(Y = j)`` at points ``(alpha_k, theta_k)``."""
        out = np.empty(own.shape[:2])
        for j in range(own.shape[1]):
            eta = cells.fixed + own[:, j, :1] + own[:, j, 1:] * cells.treat  # (S, C)
            out[:, j] = ordinal_cells_loglik(eta, counts, cuts)
        return out

    def trial_loglik(
        self, design: DesignLike, trial: int, draws: TrialDraws, own: np.ndarray
    ) -> np.ndarray:
        """(S, N) exact log-likelihood of one trial at points ``(alpha_k, theta_k)``."""
        cells, counts, cuts = self._loo_cells(design, trial, draws)
        return self._ordinal_cells(cells, counts, cuts, own)

    def marginal_trial_loglik(
        self, design: DesignLike, trial: int, draws: TrialDraws
    ) -> np.ndarray:
        """Quadrature over ``(alpha_k, theta_k)``, the cells assembled once; at every
        quadrature point the trial's cut-point gaps are integrated over their
        ``half_normal(5)`` prior by a Laplace approximation
        (:func:`~bayes_ipd.families.ordinal_marginal.gaps_marginal_loglik`)."""
        cells, counts, cuts = self._loo_cells(design, trial, draws)
        if cuts.shape[-1] < 2:
            return draws.integrate(trial, lambda own: self._ordinal_cells(cells, counts, cuts, own))
        start = np.log(np.diff(cuts, axis=-1))[:, None, :]  # (S, 1, J - 2) drawn log gaps

        def loglik(own: np.ndarray) -> np.ndarray:
            eta = cells.fixed[:, None, :] + own[..., :1] + own[..., 1:] * cells.treat
            return gaps_marginal_loglik(eta, counts, start, GAP_PRIOR_SCALE)

        return draws.integrate(trial, loglik)

    def check_trial_events(self, responses: Mapping[str, np.ndarray], treat: np.ndarray) -> None:
        """The outcome must take at least two levels in the trial."""
        if np.unique(responses["outcome"]).size < 2:
            raise Unfittable("the outcome takes a single level in this trial")

    def fit_trial(
        self, responses: Mapping[str, np.ndarray], x: np.ndarray, names: Sequence[str], term: int
    ) -> tuple[float, float]:
        """Proportional-odds maximum likelihood (statsmodels ``OrderedModel``, logit),
        inverse-information SE; ``beta > 0`` shifts towards higher categories."""
        from statsmodels.miscmodels.ordinal_model import OrderedModel

        y = responses["outcome"]
        check_design(
            np.column_stack([np.ones(len(x)), x]), ("intercept", *names), min_residual_df=0
        )
        if separable(_category_differences(y, x)):
            raise Unfittable(
                "complete separation: the design orders the categories perfectly, so the "
                "cumulative odds ratio is not estimable (infinite); Firth's penalised "
                "estimate is finite: sparse='firth' (CLI: --sparse firth)"
            )
        codes = np.unique(y, return_inverse=True)[1].astype(np.float64)
        model = OrderedModel(codes, x, distr="logit")
        fit = quietly(lambda: model.fit(method="newton", disp=False, maxiter=200))
        if not fit.mle_retvals.get("converged", False):
            raise Unfittable("the proportional-odds regression did not converge")
        estimate, se = float(fit.params[term]), float(fit.bse[term])
        if not (np.isfinite(estimate) and np.isfinite(se) and se > 0):
            raise Unfittable(f"the fit gave estimate {estimate} with standard error {se}")
        return estimate, se

    def fit_sparse_trial(
        self,
        responses: Mapping[str, np.ndarray],
        treat: np.ndarray,
        x: np.ndarray,
        names: Sequence[str],
        term: int,
        method: str,
    ) -> tuple[float, float]:
        """Firth-penalised proportional-odds regression (``method="firth"``) in every
        trial: finite under separation, where maximum likelihood has no estimate
        (:func:`~bayes_ipd.families.sparse.firth_proportional_odds`)."""
        from bayes_ipd.families.sparse import firth_proportional_odds

        self.check_trial_events(responses, treat)
        check_design(
            np.column_stack([np.ones(len(x)), x]), ("intercept", *names), min_residual_df=0
        )
        codes = np.unique(responses["outcome"], return_inverse=True)[1]
        fit = firth_proportional_odds(x, codes)
        offset = len(fit.params) - x.shape[1]
        return term_estimate(fit.params, fit.bse, offset + term)


def _mean_level(counts: np.ndarray) -> np.ndarray:
    """(..., A) mean category (1 = lowest) of (..., A, J) counts; 0 for an arm without
    participants."""
    n = counts.sum(axis=-1)
    level = (counts * np.arange(1, counts.shape[-1] + 1)).sum(axis=-1)
    return np.divide(level, n, out=np.zeros_like(level), where=n > 0)


@dataclass(frozen=True)
class OrdinalArms(NetworkArmModel):
    """Network arms of an ordinal outcome: the participants per category and arm,
    ``counts`` (A, J), exact for the proportional-odds model with the arm-level predictor
    ``eta`` (``logit P(Y <= j) = c_kj - eta``); categories in numeric order of the coded
    outcome, cut points per trial ``c_k = [0, cumsum(cutpoint_gap_k)]`` with gaps
    ``half_normal(5)``, as the family's; ``mean_level`` per arm for the predictive check."""

    def sums(self, row_arm: np.ndarray, a: int, roles: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Counts per arm and category, and each arm's mean level."""
        from bayes_ipd.errors import IPDDataError

        levels, codes = np.unique(roles["outcome"], return_inverse=True)
        if levels.size < 2:
            raise IPDDataError(
                f"the ordinal outcome holds one category ({levels[0]:g}) in the network"
            )
        counts = np.zeros((a, levels.size))
        np.add.at(counts, (row_arm, codes), 1.0)
        return {"counts": counts, "mean_level": _mean_level(counts)}

    def coords(self, stats: Mapping[str, np.ndarray], cutpoints: tuple[float, ...]) -> dict:
        """``gap`` (between successive cut points)."""
        return {"gap": list(range(1, stats["counts"].shape[1] - 1))}

    def loglik(self, eta: Any, data: Mapping[str, Any], priors: Any, hyper: Any) -> Any:
        """Multinomial log-likelihood of each arm's category counts."""
        import pymc as pm
        import pytensor.tensor as pt

        model = pm.modelcontext(None)
        k, gaps = len(model.coords["study"]), len(model.coords["gap"])
        cuts = pt.zeros((k, 1))
        if gaps:
            gap = pm.HalfNormal("cutpoint_gap", GAP_PRIOR_SCALE, dims=("study", "gap"))
            cuts = pt.concatenate([cuts, pt.cumsum(gap, axis=1)], axis=1)
        logp = ordinal_log_probabilities(eta, cuts[data["arm_study"]])
        return (data["counts"] * logp).sum(axis=1)

    def loglik_numpy(
        self, stats: Mapping[str, np.ndarray], arm_study: np.ndarray, eta: np.ndarray, nuisance: Any
    ) -> np.ndarray:
        """Multinomial log-likelihood per arm, ``nuisance`` (..., K, J - 1) the cut points."""
        u = np.asarray(nuisance)[..., arm_study, :] - np.asarray(eta)[..., None]
        logp = log_category_probabilities(u)
        counts = stats["counts"]
        return np.where(counts > 0, counts * np.where(counts > 0, logp, 0.0), 0.0).sum(-1)

    def saturated(self, stats: Mapping[str, np.ndarray]) -> np.ndarray:
        """The multinomial log-likelihood at the arm's observed category proportions."""
        counts = stats["counts"]
        n = counts.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(counts > 0, counts * np.log(counts / n), 0.0).sum(axis=1)

    def replicate(
        self,
        stats: Mapping[str, np.ndarray],
        arm_study: np.ndarray,
        eta: np.ndarray,
        nuisance: Any,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Each arm's mean level from ``Multinomial(n, p(eta, c_k))`` counts."""
        probs = category_probabilities(eta, np.asarray(nuisance)[..., arm_study, :])
        probs = probs / probs.sum(axis=-1, keepdims=True)
        n = np.rint(stats["counts"].sum(axis=1)).astype(np.int64)
        counts = rng.multinomial(np.broadcast_to(n, probs.shape[:-1]), probs)
        return _mean_level(counts.astype(np.float64))

    def eta_derivatives(
        self, stats: Mapping[str, np.ndarray], eta: np.ndarray, nuisance: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """The multinomial log-likelihood's derivatives in ``eta`` (..., A), ``nuisance``
        the cut points (..., 1 or A, J - 1) (:func:`counts_eta_derivatives`)."""
        u = np.asarray(nuisance) - np.asarray(eta)[..., None]
        return counts_eta_derivatives(stats["counts"], u)

    def nuisance_draws(self, posterior: Any) -> np.ndarray:
        """(S, K, J - 1) cut points ``[0, cumsum(gaps)]``."""
        s = int(posterior.sizes["chain"] * posterior.sizes["draw"])
        zeros = np.zeros((s, int(posterior.sizes["study"]), 1))
        if "cutpoint_gap" not in posterior:
            return zeros
        gaps = study_draws(posterior, "cutpoint_gap", "gap")
        return np.concatenate([zeros, np.cumsum(gaps, axis=2)], axis=2)


ORDINAL_ARMS = OrdinalArms("ordinal", ("counts", "mean_level"), replicated="mean_level")
"""The ordinal family's arm-level network model."""


def network_log_cumulative_odds_ratios(
    trial: TrialArms, sparse: str | None, covariates: TrialCovariates | None = None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Proportional-odds regression on the treatment factor (statsmodels ``OrderedModel``,
    logit, as the two-arm stage one; R ``MASS::polr``): log cumulative odds ratios (``> 0``:
    towards higher categories) and their inverse-information covariance. A trial whose arms
    are separated (the factor orders the categories perfectly) or with arm-level AD is
    excluded with the reason; ``sparse`` does not apply. With covariates (centred within the
    trial) the same fit on :func:`~bayes_ipd.families.network_contrasts.adjusted_columns`."""
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    if trial.aggregate is not None:
        raise ExcludedTrial("arm-level aggregate data: the proportional-odds fit needs the rows")
    y = trial.responses["outcome"]
    levels, codes = np.unique(y, return_inverse=True)
    if levels.size < 2:
        raise ExcludedTrial("a single outcome category: no cumulative odds ratio is estimable")
    x = factor_columns(trial)
    if separable(_category_differences(y, x)):
        raise ExcludedTrial(
            "complete separation: the arms order the categories perfectly, so the "
            "cumulative odds ratios are not estimable (infinite)"
        )
    m = len(trial.arms) if covariates is None else 1 + covariates.terms(len(trial.arms))
    if covariates is not None:
        x = adjusted_columns(trial, covariates)
    model = OrderedModel(codes.astype(np.float64), x, distr="logit")
    try:
        fit = quietly(lambda: model.fit(method="newton", disp=False, maxiter=200))
    except Unfittable as reason:
        raise ExcludedTrial(str(reason)) from None
    if not fit.mle_retvals.get("converged", False):
        raise ExcludedTrial("the proportional-odds regression did not converge")
    estimate = np.asarray(fit.params, dtype=float)[: m - 1]
    cov = np.asarray(fit.cov_params(), dtype=float)[: m - 1, : m - 1]
    if not (np.isfinite(estimate).all() and np.isfinite(cov).all()):
        raise ExcludedTrial("the proportional-odds regression gave non-finite estimates")
    return estimate, cov, False


ORDINAL = OrdinalFamily(
    name="ordinal",
    data_kind="ordinal outcomes",
    scale=SCALES["logCOR"],
    responses=(
        ResponseRole(
            "outcome", "the ordinal outcome column", "ordinal outcome", "ordinal", integer=True
        ),
    ),
    statistics=("cell_z", "cell_n", "cell_events", "cell_counts"),
    stage_one_model="proportional-odds (cumulative logit) regression",
    ppc_statistics=(("mean_level", "Mean level (1 = lowest)"),),
    sparse_methods=("firth",),
    network_arms=ORDINAL_ARMS,
    network_contrasts=network_log_cumulative_odds_ratios,
)
