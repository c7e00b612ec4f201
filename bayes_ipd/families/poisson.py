"""The Poisson family: a count outcome, log link, optional exposure; effect = log rate ratio.

For participant ``i`` of trial ``k`` with design row ``z`` and exposure ``E`` (1 when no
exposure column is given), ``y ~ Poisson(E exp(z'b_k))``.

Sufficient statistics: per cell of identical (design row, exposure) within a trial, the
participants ``cell_n``, the total exposure ``cell_exposure``, the events ``cell_events``
and the constant ``cell_const = sum(y log E - log y!)``, so the collapsed log-likelihood
``sum_c d_c eta_c - E_c exp(eta_c) + const_c`` equals the row-level one exactly. Default
priors: those of the log-odds families (:data:`~bayes_ipd.families.binomial.LOG_SCALE_PRIORS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats
from scipy.special import gammaln

from bayes_ipd.conventions import SCALES
from bayes_ipd.families.arm_replicates import ArmReplicates, cell_arm_replicates
from bayes_ipd.families.base import ResponseRole
from bayes_ipd.families.binomial import LOG_SCALE_PRIORS
from bayes_ipd.families.cells import (
    CellFamily,
    arm_totals,
    cell_eta,
    cell_linear_predictor,
    draw_blocks,
    per_trial_sum,
    unique_cells,
)
from bayes_ipd.families.network_adjusted import adjusted_poisson
from bayes_ipd.families.network_arms import NetworkArmModel
from bayes_ipd.families.network_contrasts import (
    CONTINUITY,
    ExcludedTrial,
    TrialArms,
    TrialCovariates,
    ZeroArms,
)
from bayes_ipd.families.regression import (
    Unfittable,
    arm_name,
    check_design,
    quietly,
    term_estimate,
    with_intercept,
)

if TYPE_CHECKING:
    import xarray as xr

    from bayes_ipd.families.protocols import DesignLike, ModelSpecLike
    from bayes_ipd.families.quadrature import TrialDraws
    from bayes_ipd.prior_values import PriorSet

__all__ = [
    "COUNT_BINS",
    "POISSON",
    "PoissonFamily",
    "exposure_of",
    "replicate_counts",
]

COUNT_BINS = 4
"""Count frequencies compared by the predictive check: 0, 1, 2 and 3 or more."""

COUNT_STATISTICS: tuple[tuple[str, str], ...] = (
    ("count_0", "Proportion with count 0"),
    ("count_1", "Proportion with count 1"),
    ("count_2", "Proportion with count 2"),
    ("count_3plus", "Proportion with count 3 or more"),
    ("mean", "Mean count"),
)
_EXP_MAX = 700.0


def exposure_of(responses: Mapping[str, np.ndarray]) -> np.ndarray:
    """The exposure column (``time=``), or ones when none was given."""
    counts = responses["outcome"]
    exposure = responses.get("time")
    return np.ones_like(counts, dtype=np.float64) if exposure is None else exposure


def _bin_probabilities(mean: np.ndarray, pmf: Any) -> np.ndarray:
    """(..., COUNT_BINS) probabilities of counts 0, 1, 2, 3+ under ``pmf(value, mean)``."""
    head = np.stack([pmf(b, mean) for b in range(COUNT_BINS - 1)], axis=-1)
    tail = np.clip(1.0 - head.sum(axis=-1, keepdims=True), 0.0, 1.0)
    probs = np.concatenate([head, tail], axis=-1)
    return probs / probs.sum(axis=-1, keepdims=True)


def replicate_counts(
    design: DesignLike, rate: np.ndarray, pmf: Any, draw: Any, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Replicated count frequencies (0, 1, 2, 3+) and mean count per trial and arm.

    Parameters
    ----------
    design : DesignLike
        A count design (cells with ``cell_n`` participants of equal exposure).
    rate : numpy.ndarray
        (S, C) mean count of one participant of each cell.
    pmf : callable
        ``pmf(value, mean)`` of one participant's count.
    draw : callable
        ``draw(mean, n, rng)``: the total count of ``n`` participants (per cell).
    rng : numpy.random.Generator

    Returns
    -------
    dict
        ``count_0 ... count_3plus`` and ``mean``, each (S, K, 2). Frequencies are drawn per
        cell as ``Multinomial(n_c, p_c)`` over the bins, which is the distribution of the
        bin counts of ``n_c`` independent participants.
    """
    st = design.stats
    n = np.rint(st["cell_n"]).astype(np.int64)
    group = st["cell_study"] * 2 + st["cell_z"][:, 1].astype(np.int64)
    s, k = rate.shape[0], design.k
    arm_n = np.bincount(group, weights=n, minlength=2 * k)
    freq = rng.multinomial(np.broadcast_to(n, rate.shape), _bin_probabilities(rate, pmf))
    out = {}
    for b, (name, _) in enumerate(COUNT_STATISTICS[:COUNT_BINS]):
        summed = np.zeros((s, 2 * k))
        np.add.at(summed, (slice(None), group), freq[..., b])
        out[name] = (summed / arm_n).reshape(s, k, 2)
    totals = np.zeros((s, 2 * k))
    np.add.at(totals, (slice(None), group), draw(rate, n, rng))
    out["mean"] = (totals / arm_n).reshape(s, k, 2)
    return out


def observed_count_frequencies(design: DesignLike) -> dict[str, np.ndarray]:
    """Observed count frequencies and mean count per trial and arm, from ``cell_freq``."""
    st = design.stats
    group = st["cell_study"] * 2 + st["cell_z"][:, 1].astype(np.int64)
    k = design.k
    arm_n = np.bincount(group, weights=st["cell_n"], minlength=2 * k)
    out = {}
    for b, (name, _) in enumerate(COUNT_STATISTICS[:COUNT_BINS]):
        w = st["cell_freq"][:, b]
        out[name] = (np.bincount(group, weights=w, minlength=2 * k) / arm_n).reshape(k, 2)
    mean = np.bincount(group, weights=st["cell_events"], minlength=2 * k) / arm_n
    out["mean"] = mean.reshape(k, 2)
    return out


def cell_frequencies(counts: np.ndarray, inverse: np.ndarray, cells: int) -> np.ndarray:
    """(C, COUNT_BINS) participants of each cell with count 0, 1, 2, 3+."""
    bins = np.minimum(counts, COUNT_BINS - 1).astype(np.int64)
    out = np.zeros((cells, COUNT_BINS))
    np.add.at(out, (inverse, bins), 1.0)
    return out


def poisson_loglik(
    eta: Any, exposure: Any, events: Any, const: Any, cell_study: Any, k: int
) -> Any:
    """Poisson log-likelihood per trial from cells: ``d eta - E exp(eta) + const`` (PyTensor)."""
    import pytensor.tensor as pt

    return per_trial_sum(events * eta - exposure * pt.exp(eta) + const, cell_study, k)


def check_count_events(counts: np.ndarray, treat: np.ndarray) -> None:
    """Both arms need a count above zero (else the log rate ratio is infinite)."""
    missing = [arm for arm in (0.0, 1.0) if not np.any(counts[treat == arm] > 0)]
    if len(missing) == 2:
        raise Unfittable("no events in either arm")
    if missing:
        raise Unfittable(f"no events in the {arm_name(missing[0] == 1.0)} arm")


@dataclass(frozen=True)
class PoissonFamily(CellFamily):
    """Count outcome; log link, exposure as an offset."""

    def trial_statistics(
        self,
        z: np.ndarray,
        arm: np.ndarray,
        responses: Mapping[str, np.ndarray],
        cutpoints: Sequence[float],
    ) -> dict[str, np.ndarray]:
        """Participants, exposure, events, count frequencies and the constant per cell of
        identical (design row, exposure)."""
        y = responses["outcome"]
        exposure = exposure_of(responses)
        cells, inverse = unique_cells(np.column_stack([exposure, z]))
        c = len(cells)
        const = y * np.log(exposure) - gammaln(y + 1.0)
        return {
            "cell_z": cells[:, 1:],
            "cell_n": np.bincount(inverse, minlength=c).astype(np.float64),
            "cell_events": np.bincount(inverse, weights=y, minlength=c),
            "cell_exposure": np.bincount(inverse, weights=exposure, minlength=c),
            "cell_const": np.bincount(inverse, weights=const, minlength=c),
            "cell_freq": cell_frequencies(y, inverse, c),
        }

    def _crude_levels(self, design: DesignLike) -> tuple[np.ndarray, np.ndarray]:
        """Log event rate per trial and arm with 0.5 added to every event count."""
        ev = arm_totals(design, "cell_events") + 0.5
        return np.log(ev / arm_totals(design, "cell_exposure")), 1 / ev

    def default_prior_params(
        self, outcome_sd: float | None, outcome_mean: float | None
    ) -> dict[str, tuple[str, tuple[float, ...]]]:
        """Log-rate-scale defaults (:data:`~bayes_ipd.families.binomial.LOG_SCALE_PRIORS`)."""
        return dict(LOG_SCALE_PRIORS)

    def data_arrays(self, design: DesignLike) -> dict[str, np.ndarray]:
        """The cells the likelihood uses (the frequencies serve the predictive check)."""
        names = ("cell_study", "cell_z", "cell_events", "cell_exposure", "cell_const")
        return {name: design.stats[name] for name in names}

    def loglik(
        self, design: DesignLike, spec: ModelSpecLike, priors: PriorSet, coef: Any, data: Mapping
    ) -> Any:
        """Poisson log-likelihood per trial from cells."""
        eta = cell_linear_predictor(coef, data["cell_z"], data["cell_study"])
        return poisson_loglik(
            eta,
            data["cell_exposure"],
            data["cell_events"],
            data["cell_const"],
            data["cell_study"],
            design.k,
        )

    def observed_statistics(self, design: DesignLike) -> dict[str, np.ndarray]:
        """Proportions with count 0, 1, 2, 3+ and the mean count per trial and arm."""
        return observed_count_frequencies(design)

    def frequency_statistics(self, design: DesignLike) -> tuple[tuple[str, str], ...]:
        """The predictive-check statistics that make up the count distribution, with the
        category each stands for (``count_0`` -> ``"0"``, ..., ``count_3plus`` -> ``"3+"``):
        what :meth:`bayes_ipd.checks.ppc.PPCResult.rootogram` draws."""
        labels = [str(b) for b in range(COUNT_BINS - 1)] + [f"{COUNT_BINS - 1}+"]
        return tuple(
            (name, label) for (name, _), label in zip(COUNT_STATISTICS, labels, strict=False)
        )

    def replicate(
        self, design: DesignLike, params: xr.Dataset, coef: np.ndarray, index: np.ndarray, rng: Any
    ) -> dict[str, np.ndarray]:
        """Replicated count frequencies (:func:`replicate_counts`)."""
        st = design.stats
        per_row = st["cell_exposure"] / st["cell_n"]
        out: dict[str, list[np.ndarray]] = {}
        for block in draw_blocks(coef.shape[0], len(per_row)):
            rate = per_row * np.exp(np.minimum(cell_eta(design, coef[block]), _EXP_MAX))
            rate = np.minimum(rate, 1e15)
            part = replicate_counts(
                design,
                rate,
                stats.poisson.pmf,
                lambda mean, n, g: g.poisson(mean * n).astype(np.float64),
                rng,
            )
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
        """Events per trial and arm: the sum over the arm's cells of ``Poisson(E_c
        e^{z_c'b_k})`` (``E_c``: the cell's exposure), drawn as one Poisson count of the
        summed mean (:mod:`~bayes_ipd.families.arm_replicates`)."""
        st = design.stats

        def mean(eta: np.ndarray, block: slice) -> np.ndarray:
            return st["cell_exposure"] * np.exp(np.minimum(eta, _EXP_MAX))

        def draw(total: np.ndarray) -> np.ndarray:
            return rng.poisson(np.minimum(total, 1e15)).astype(np.float64)

        return cell_arm_replicates(
            "events", st, coef, arm_columns, mean, design.k, st["cell_events"], finish=draw
        )

    # ------------------------------------------------ leave-one-trial-out (marginal LOO)

    def cell_offset(self, design: DesignLike, trial: int, draws: TrialDraws) -> np.ndarray:
        """(S, C) log exposure of one participant of each of the trial's cells."""
        st = design.stats
        sel = st["cell_study"] == trial
        log_e = np.log(st["cell_exposure"][sel] / st["cell_n"][sel])
        return np.broadcast_to(log_e, (draws.n_draws, log_e.size))

    def cell_kernel(self, eta: np.ndarray, n: np.ndarray, events: np.ndarray) -> np.ndarray:
        """``d eta - n exp(eta)`` per cell (``eta`` includes the log exposure)."""
        return events * eta - n * np.exp(np.minimum(eta, _EXP_MAX))

    def trial_constant(self, design: DesignLike, trial: int) -> float:
        """The parameter-free part the kernel leaves out: ``sum(const - d log e)``."""
        st = design.stats
        sel = st["cell_study"] == trial
        log_e = np.log(st["cell_exposure"][sel] / st["cell_n"][sel])
        return float(np.sum(st["cell_const"][sel] - st["cell_events"][sel] * log_e))

    def trial_loglik(
        self, design: DesignLike, trial: int, draws: TrialDraws, own: np.ndarray
    ) -> np.ndarray:
        """(S, N) exact log-likelihood of one trial at points ``(alpha_k, theta_k)``."""
        return super().trial_loglik(design, trial, draws, own) + self.trial_constant(design, trial)

    def marginal_trial_loglik(
        self, design: DesignLike, trial: int, draws: TrialDraws
    ) -> np.ndarray:
        """Quadrature over ``(alpha_k, theta_k)``, with the exact constant."""
        return super().marginal_trial_loglik(design, trial, draws) + self.trial_constant(
            design, trial
        )

    def check_trial_events(self, responses: Mapping[str, np.ndarray], treat: np.ndarray) -> None:
        """Both arms need a count above zero."""
        check_count_events(responses["outcome"], treat)

    def fit_trial(
        self, responses: Mapping[str, np.ndarray], x: np.ndarray, names: Sequence[str], term: int
    ) -> tuple[float, float]:
        """Poisson GLM (statsmodels, IRLS) with log exposure as offset; model-based SE."""
        from statsmodels.genmod import families
        from statsmodels.genmod.generalized_linear_model import GLM

        xi = with_intercept(x)
        check_design(xi, ("intercept", *names), min_residual_df=0)
        model = GLM(
            responses["outcome"],
            xi,
            family=families.Poisson(),
            offset=np.log(exposure_of(responses)),
        )
        fit = quietly(lambda: model.fit(maxiter=100))
        if not fit.converged:
            raise Unfittable("the Poisson regression did not converge")
        return term_estimate(fit.params, fit.bse, term + 1)


@dataclass(frozen=True)
class PoissonArms(NetworkArmModel):
    """Network arms of a count: events ``r``, exposure ``E = sum e_i`` (1 per row without
    an exposure column) and ``c = sum_i [y_i log e_i - log y_i!]``, ``r eta - E e^eta + c``
    (exact)."""

    def sums(self, row_arm: np.ndarray, a: int, roles: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Events, exposure and the constant per arm."""
        y = roles["outcome"]
        e = roles.get("time", np.ones(y.size))
        return {
            "events": np.bincount(row_arm, weights=y, minlength=a),
            "exposure": np.bincount(row_arm, weights=e, minlength=a),
            "const": np.bincount(row_arm, weights=y * np.log(e) - gammaln(y + 1), minlength=a),
        }

    def loglik(self, eta: Any, data: Mapping[str, Any], priors: Any, hyper: Any) -> Any:
        """``r eta - E e^eta + c`` per arm."""
        import pytensor.tensor as pt

        return data["events"] * eta - data["exposure"] * pt.exp(eta) + data["const"]

    def loglik_numpy(
        self, stats: Mapping[str, np.ndarray], arm_study: np.ndarray, eta: np.ndarray, nuisance: Any
    ) -> np.ndarray:
        """``r eta - E e^eta + c`` per arm."""
        return stats["events"] * eta - stats["exposure"] * np.exp(eta) + stats["const"]

    def saturated(self, stats: Mapping[str, np.ndarray]) -> np.ndarray:
        """The Poisson log-likelihood at the arm's observed rate."""
        r, e = stats["events"], stats["exposure"]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(r > 0, r * np.log(r / e), 0.0) - r + stats["const"]

    def replicate(
        self,
        stats: Mapping[str, np.ndarray],
        arm_study: np.ndarray,
        eta: np.ndarray,
        nuisance: Any,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Events ``Poisson(E e^eta)``."""
        return rng.poisson(stats["exposure"] * np.exp(eta)).astype(float)

    def eta_derivatives(
        self, stats: Mapping[str, np.ndarray], eta: np.ndarray, nuisance: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """``r - E e^eta`` and ``-E e^eta``."""
        rate = stats["exposure"] * np.exp(eta)
        return stats["events"] - rate, -rate

    def mean_link(self) -> tuple[Any, Any]:
        """The rate: ``exp`` and ``log``."""
        return np.exp, np.log


POISSON_ARMS = PoissonArms(
    "poisson",
    ("events", "exposure", "const"),
    replicated="events",
    aggregate_columns=("events", "exposure"),
)
"""The poisson family's arm-level network model."""


def network_log_rate_ratios(
    trial: TrialArms, sparse: str | None, covariates: TrialCovariates | None = None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Poisson regression on the treatment factor with a log-exposure offset, saturated:
    arm log rates ``log(e_j / E_j)`` with variance ``1 / e_j`` (``cc``: 0.5 added to every
    arm's events, R ``escalc(measure = "IRR")``'s correction); with covariates the GLM
    (:func:`~bayes_ipd.families.network_adjusted.adjusted_poisson`)."""
    if covariates is not None:
        return adjusted_poisson(trial, sparse, covariates)
    m = len(trial.arms)
    exposure = trial.responses.get("time", np.ones(trial.arm_index.size))
    events = np.bincount(trial.arm_index, weights=trial.responses["outcome"], minlength=m)
    person_time = np.bincount(trial.arm_index, weights=exposure, minlength=m)
    if trial.aggregate is not None:
        events, person_time = (
            events + trial.aggregate["total"],
            person_time + trial.aggregate["exposure"],
        )
    zero = events == 0
    if zero.all():
        raise ExcludedTrial("no events in any arm: no rate ratio is estimable")
    corrected = False
    if zero.any():
        if sparse is None:
            sizes = np.bincount(trial.arm_index, minlength=m)
            raise ZeroArms(
                [(a, 0, int(n)) for a, n, z in zip(trial.arms, sizes, zero, strict=True) if z]
            )
        if sparse == "none":
            named = ", ".join(repr(lab) for lab, z in zip(trial.labels, zero, strict=True) if z)
            raise ExcludedTrial(f"arm(s) without events: {named}; --sparse none excludes the trial")
        events, corrected = events + CONTINUITY, True
    log_rate, variance = np.log(events / person_time), 1.0 / events
    cov = np.full((m - 1, m - 1), variance[0]) + np.diag(variance[1:])
    return log_rate[1:] - log_rate[0], cov, corrected


POISSON = PoissonFamily(
    name="poisson",
    data_kind="counts",
    scale=SCALES["logIRR"],
    responses=(
        ResponseRole("outcome", "the count column", "count", "count", integer=True),
        ResponseRole(
            "time",
            "the exposure (person-time) column",
            "exposure",
            "positive",
            optional=True,
            option="exposure",
        ),
    ),
    statistics=("cell_z", "cell_n", "cell_events", "cell_exposure", "cell_const", "cell_freq"),
    stage_one_model="Poisson regression (log link, exposure offset)",
    ppc_statistics=COUNT_STATISTICS,
    network_arms=POISSON_ARMS,
    network_contrasts=network_log_rate_ratios,
)
