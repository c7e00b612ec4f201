"""What an outcome family is: the one interface every route asks family questions through.

A family (gaussian, binomial, survival, ...) is one module under :mod:`bayes_ipd.families`
holding one :class:`Family` subclass instance, registered by name in
:mod:`bayes_ipd.families`. Everything that differs between outcome types lives there:

* its response columns and their checks (the data layer);
* its exact per-trial sufficient statistics and how trials stack into a design;
* its crude per-trial effect (the parameterisation rule) and control-arm level;
* its default priors (scale-aware) and the prior slots it has;
* its collapsed log-likelihood as a PyTensor graph (the one-stage builder);
* its posterior predictive replication and the statistics a check shows;
* its stage-one regression for the two-stage route;
* its labels in reports.

No module outside ``families/`` compares a family's name; it asks the family.

Families sit below the routes that call them: they import nothing above
:mod:`bayes_ipd.prior_values`. What a family reads from the one-stage design and the model
description is typed by the protocols of :mod:`bayes_ipd.families.protocols`
(:class:`~bayes_ipd.families.protocols.DesignLike`,
:class:`~bayes_ipd.families.protocols.ModelSpecLike`), and the quadrature of the marginal
leave-one-trial-out LOO lives in :mod:`bayes_ipd.families.quadrature`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bayes_ipd.conventions import EffectScale

if TYPE_CHECKING:
    import xarray as xr

    from bayes_ipd.families.arm_replicates import ArmReplicates
    from bayes_ipd.families.network_arms import NetworkArmModel
    from bayes_ipd.families.network_contrasts import TrialContrastFit
    from bayes_ipd.families.protocols import DesignLike, ModelSpecLike
    from bayes_ipd.families.quadrature import TrialDraws
    from bayes_ipd.prior_values import PriorSet

__all__ = ["Family", "ResponseRole", "draw_count", "flat_draws", "take_columns"]


@dataclass(frozen=True)
class ResponseRole:
    """One response column a family reads.

    Attributes
    ----------
    role : str
        Keyword of the column in :meth:`bayes_ipd.IPD.from_frame` (``"outcome"``,
        ``"time"``, ``"event"``).
    description : str
        What the column holds, for "needs ...=" messages (``"the follow-up time column"``).
    label : str
        The column's name in validation messages (``"survival time"``).
    check : {"finite", "binary", "positive", "count", "ordinal"}
        The value check the data layer applies to it (``"ordinal"``: coded 0..J-1 from
        its levels by the data layer).
    integer : bool
        Whether the values are counts or indicators (written back as integers).
    optional : bool
        Whether the column may be left out (a count family's exposure).
    option : str or None
        The command-line option naming the column when it differs from ``role``
        (``"exposure"`` for a count family's ``time=`` column).
    """

    role: str
    description: str
    label: str
    check: str
    integer: bool = False
    optional: bool = False
    option: str | None = None

    @property
    def option_name(self) -> str:
        """The command-line option (without ``--``) that names the column."""
        return self.option or self.role

    @property
    def coded_from_levels(self) -> bool:
        """Whether the data layer codes the column 0..J-1 from its ordered levels (an
        ordinal outcome, ``levels=``), instead of reading its numbers."""
        return self.check == "ordinal"


@dataclass(frozen=True)
class Family:
    """Base of every outcome family; subclasses fill the attributes and override the methods.

    PyMC, PyTensor and statsmodels are imported only inside the methods that build a graph
    or fit a regression, so the data layer and the two-stage pooling, which also ask
    families questions, never load a sampler.

    Attributes
    ----------
    name : str
        Registry name (``"gaussian"``).
    data_kind : str
        Words for the data the family analyses, for hints (``"time-to-event data"``).
    scale : EffectScale
        The treatment effect's scale (mean difference, log odds ratio, ...).
    responses : tuple of ResponseRole
        The response columns, in the order they are given.
    event_role : str or None
        The response whose 1s are events (None for a family without events).
    warn_event_free : bool
        Whether the data layer warns about trials without events.
    statistics : tuple of str
        Names of the per-trial sufficient statistics (:attr:`TrialSummary.stats` keys).
    integer_statistics : tuple of str
        Those of them that hold indices (read back as integers).
    prior_slots : tuple of str
        The prior slots the one-stage model has (``sigma`` only with a residual SD).
    stage_one_model : str
        The per-trial regression of the two-stage route, in words.
    ppc_statistics : tuple of (str, str)
        Statistics a predictive check compares per trial and arm, with their labels; the
        first is drawn by default.
    has_baseline_hazard : bool
        Whether the model has a piecewise baseline hazard (intervals, cut points).
    marginal_loo : bool
        Whether leave-one-trial-out LOO integrates each trial's own parameters out by
        default (it does when the family can: :attr:`supports_marginal_loo`).
    sparse_methods : tuple of str
        Stage-one options for sparse trials besides ``"none"`` (binomial: continuity
        corrections and Firth), each handled by :meth:`fit_sparse_trial`.
    repeated_measures : bool
        Whether outcomes measured at several visits per participant can be analysed (a
        mixed model for repeated measures; gaussian).
    network_arms : NetworkArmModel or None
        The family's arm-level model of the one-stage network meta-analysis
        (:mod:`bayes_ipd.families.network_arms`); None: the family has none.
    network_contrasts : TrialContrastFit or None
        Stage one of the two-stage network meta-analysis: the family's regression on a
        treatment factor, a trial's contrasts and their covariance
        (:mod:`bayes_ipd.families.network_contrasts`); called ``fit(trial, sparse,
        covariates=None)``: with a ``TrialCovariates`` the regression adjusts for them and
        also returns the factor x covariate interactions. None: the family has none.
    """

    name: str
    scale: EffectScale
    responses: tuple[ResponseRole, ...]
    data_kind: str = "data"
    event_role: str | None = None
    warn_event_free: bool = False
    statistics: tuple[str, ...] = ()
    integer_statistics: tuple[str, ...] = ()
    prior_slots: tuple[str, ...] = ("intercept", "effect", "tau", "coefficients", "interactions")
    stage_one_model: str = ""
    ppc_statistics: tuple[tuple[str, str], ...] = ()
    has_baseline_hazard: bool = False
    marginal_loo: bool = True
    sparse_methods: tuple[str, ...] = ()
    repeated_measures: bool = False
    network_arms: NetworkArmModel | None = None
    network_contrasts: TrialContrastFit | None = None

    @property
    def response_names(self) -> tuple[str, ...]:
        """The keywords of the response columns (``("time", "event")``)."""
        return tuple(r.role for r in self.responses)

    @property
    def required_response_names(self) -> tuple[str, ...]:
        """The keywords of the response columns that must be given."""
        return tuple(r.role for r in self.responses if not r.optional)

    @property
    def has_events(self) -> bool:
        """Whether the outcome counts events."""
        return self.event_role is not None

    @property
    def statistic_labels(self) -> dict[str, str]:
        """Label of each predictive-check statistic, by name."""
        return dict(self.ppc_statistics)

    def cutpoints(self, event_times: np.ndarray, intervals: Any) -> tuple[float, ...]:
        """Interior cut points of a piecewise baseline (none for families without one)."""
        return ()

    def model_cutpoints(self, event_times: np.ndarray, spec: ModelSpecLike) -> tuple[float, ...]:
        """The cut points a model spec needs (default: :meth:`cutpoints` of its
        ``intervals``; survival adds period cut points or a spline baseline's grid)."""
        return self.cutpoints(event_times, spec.intervals)

    # ------------------------------------------------------------ sufficient statistics

    def trial_statistics(
        self,
        z: np.ndarray,
        arm: np.ndarray,
        responses: Mapping[str, np.ndarray],
        cutpoints: Sequence[float],
    ) -> dict[str, np.ndarray]:
        """Exact one-stage sufficient statistics of one trial from its design rows."""
        raise NotImplementedError

    def statistics_problem(
        self, stats: Mapping[str, np.ndarray], n_arm: np.ndarray, width: int
    ) -> str | None:
        """Why a trial's sufficient statistics cannot come from any data, or None.

        The default checks what holds for every family: each statistic is finite, and the
        cell statistics that count participants, events or exposure (:data:`COUNT_CELLS`)
        are non-negative, counts (not exposure) whole. A family adds its own identities
        (gaussian: ``Z'Z``'s count equals ``n_arm``, moments possible).

        Parameters
        ----------
        stats : Mapping of str to numpy.ndarray
            The statistics of one trial, by name (:attr:`statistics`).
        n_arm : numpy.ndarray
            (2,) participants in the control and the treated arm.
        width : int
            Number of design columns ``m``.

        Returns
        -------
        str or None
            The statistic and what is wrong with it, e.g. ``"cell_events holds -3, a
            negative count"``.
        """
        for name, value in stats.items():
            array = np.asarray(value, dtype=np.float64)
            if not np.all(np.isfinite(array)):
                return f"{name} holds {array[~np.isfinite(array)].flat[0]}, not a finite number"
            if name in COUNT_CELLS and np.any(array < 0):
                return f"{name} holds {array[array < 0].flat[0]:g}, a negative value"
            whole = name in COUNT_CELLS and name not in ("cell_n", "cell_exposure")
            if whole and np.any(array != np.round(array)):
                bad = array[array != np.round(array)].flat[0]
                return f"{name} holds {bad:g}, not a whole count"
        if "cell_n" in stats and "cell_z" in stats and not self.has_baseline_hazard:
            return _cell_count_problem(stats["cell_z"], stats["cell_n"], n_arm, width)
        return None

    def arm_count_statistics(self, events: np.ndarray, n: np.ndarray) -> dict[str, np.ndarray]:
        """Exact sufficient statistics of a trial published as arm-level counts.

        Parameters
        ----------
        events, n : numpy.ndarray
            (2,) events and participants in the control and the treated arm.

        Raises
        ------
        IPDDataError
            The family's likelihood is not per-cell event counts (only then is a 2x2
            table all the trial's information); the default.
        """
        from bayes_ipd.errors import IPDDataError

        raise IPDDataError(
            f"arm-level counts enter only a model whose likelihood is per-cell event "
            f"counts; the {self.name} family's is not: give an estimate and SE instead"
        )

    def stack_statistics(
        self, per_trial: Sequence[Mapping[str, np.ndarray]], columns: Sequence[np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Stack trials' statistics into a design, each mapped onto the global columns."""
        raise NotImplementedError

    def term_sums_of_squares(self, stats: Mapping[str, np.ndarray], p: int) -> np.ndarray:
        """Per covariate term, a number that is 0 exactly when the term is constant."""
        raise NotImplementedError

    def term_scales(self, design: DesignLike) -> np.ndarray:
        """Pooled within-trial SD of each covariate term (1 where it is 0 or undefined)."""
        raise NotImplementedError

    # ------------------------------------------------------------- crude per-trial values

    def crude_effects(self, design: DesignLike) -> tuple[np.ndarray, np.ndarray]:
        """Per-trial unadjusted treatment effect and its approximate SE."""
        raise NotImplementedError

    def control_levels(self, design: DesignLike) -> tuple[np.ndarray, np.ndarray]:
        """Per-trial crude control-arm level and its SE (for the intercept rule)."""
        raise NotImplementedError

    def outcome_scale(self, design: DesignLike) -> tuple[float, float] | None:
        """(mean, SD) of the outcome that scale-aware priors use; None on a fixed scale."""
        return None

    # ------------------------------------------------------------------- priors

    def default_prior_params(
        self, outcome_sd: float | None, outcome_mean: float | None
    ) -> dict[str, tuple[str, tuple[float, ...]]]:
        """Default prior of each slot as ``(distribution, parameters)``."""
        raise NotImplementedError

    @property
    def needs_outcome_scale(self) -> bool:
        """Whether the default priors need the outcome's SD (scale-aware defaults)."""
        return False

    # --------------------------------------------------------------- one-stage graph

    def coords(self, design: DesignLike) -> dict[str, list]:
        """Extra coordinates of the family's model variables."""
        return {}

    def data_arrays(self, design: DesignLike) -> dict[str, np.ndarray]:
        """The values of the family's data containers, by name (a refit replaces them)."""
        raise NotImplementedError

    def loglik(
        self, design: DesignLike, spec: ModelSpecLike, priors: PriorSet, coef: Any, data: Mapping
    ) -> Any:
        """Per-trial log-likelihood (a length-K PyTensor vector) of the coefficient matrix."""
        raise NotImplementedError

    def row_loglik(
        self, eta: Any, responses: Mapping[str, Any], study: Any, extra_var: Any = None
    ) -> Any:
        """Row-level log-likelihood (PyTensor, one value per row) of participants whose
        linear predictor is ``eta``; the one-stage imputation of missing covariates
        (:mod:`bayes_ipd.one_stage.imputation_model`) uses it for incomplete rows only.

        Parameters
        ----------
        eta : tensor (R,)
            Linear predictor of each row.
        responses : Mapping of str to tensor
            The rows' responses by role (``"outcome"``, ``"time"``, ``"event"``).
        study : ndarray of int64 (R,)
            Trial index of each row (for a trial-specific nuisance parameter, e.g. the
            gaussian ``sigma``, created by :meth:`loglik` in the same model).
        extra_var : tensor (R,), optional
            Variance of ``eta`` left by covariates integrated out in closed form; only a
            family with :attr:`integrates_normal_covariates` accepts it.

        A family without it (the default) cannot impute covariates inside the one-stage
        model: :attr:`supports_row_loglik` is False and ``missing="impute"`` is refused.
        """
        raise NotImplementedError

    @property
    def supports_row_loglik(self) -> bool:
        """Whether the family provides :meth:`row_loglik` (one-stage imputation)."""
        return type(self).row_loglik is not Family.row_loglik

    @property
    def integrates_normal_covariates(self) -> bool:
        """Whether :meth:`row_loglik` integrates normally distributed missing covariates
        out in closed form (``extra_var``): the gaussian family does, others need one latent
        value per missing value."""
        return False

    def model_description(self, spec: ModelSpecLike) -> str:
        """Words appended to the model line of a report (e.g. the residual SD option)."""
        return ""

    def design_lines(self, design: DesignLike) -> list[str]:
        """Extra report lines about the design (e.g. the baseline-hazard intervals)."""
        return []

    def spec_lines(self, design: DesignLike, spec: ModelSpecLike) -> list[str]:
        """Extra report lines about model options of the family (none by default; survival:
        a time-varying effect, a spline baseline, periods without events)."""
        return []

    def marginal_loo_fits(self, posterior: xr.Dataset) -> bool:
        """Whether the marginal LOO's integral over ``(alpha_k, theta_k)`` covers a fit with
        these draws (True by default; survival: not with a time-varying effect or a spline
        baseline, whose other per-trial parameters it does not integrate)."""
        return True

    def posterior_blocks(
        self, design: DesignLike, spec: ModelSpecLike, posterior: xr.Dataset
    ) -> dict[str, Any]:
        """Extra ``posterior`` members of a result's JSON, by key: ``(labels, draws)`` or a
        list of them, ``labels`` a dict of fields and ``draws`` a (chain, draw) DataArray
        (summarised as a posterior node beside the labels). None by default; survival: a
        per-period effect's ``effect_by_interval`` and ``tau_by_interval``."""
        return {}

    # ------------------------------------------------------------- predictive checks

    def observed_statistics(self, design: DesignLike) -> dict[str, np.ndarray]:
        """The observed (K, 2) per-trial, per-arm statistics of :attr:`ppc_statistics`."""
        raise NotImplementedError

    def frequency_statistics(self, design: DesignLike) -> tuple[tuple[str, str], ...]:
        """The predictive-check statistics that form a discrete outcome's distribution.

        Pairs of (statistic, the value or category it counts), what
        :meth:`bayes_ipd.checks.ppc.PPCResult.rootogram` draws. Default: none (a
        continuous or binary outcome has no rootogram).
        """
        return ()

    def replicate(
        self, design: DesignLike, params: xr.Dataset, coef: np.ndarray, index: np.ndarray, rng: Any
    ) -> dict[str, np.ndarray]:
        """Replicated (S, K, 2) statistics from parameter draws (``coef`` already indexed)."""
        raise NotImplementedError

    def arm_replicates(
        self,
        design: DesignLike,
        params: xr.Dataset,
        coef: np.ndarray,
        arm_columns: Sequence[int],
        rng: np.random.Generator,
    ) -> ArmReplicates:
        """The arm-level network check's statistic (:attr:`network_arms`' ``replicated``)
        per trial and arm of a design whose columns ``arm_columns`` are arm dummies, each
        row (cell) replicated from its own linear predictor ``z'b_k`` (the covariate
        network model; :mod:`bayes_ipd.families.arm_replicates`).

        Parameters
        ----------
        design : DesignLike
        params : xarray.Dataset
            Posterior draws of the family's nuisance parameters (``sigma``, ...).
        coef : numpy.ndarray
            (S, K, m) coefficient rows, draws in ``params``' chain-major order.
        arm_columns : sequence of int
        rng : numpy.random.Generator

        A family without it (the default) refuses: :attr:`supports_arm_replicates` False.
        """
        raise NotImplementedError(
            f"the predictive check per trial and arm of the {self.name} network model with "
            "covariates is not built"
        )

    @property
    def supports_arm_replicates(self) -> bool:
        """Whether the family provides :meth:`arm_replicates`."""
        return type(self).arm_replicates is not Family.arm_replicates

    # ------------------------------------------------------ leave-one-trial-out LOO

    def trial_loglik(
        self, design: DesignLike, trial: int, draws: TrialDraws, own: np.ndarray
    ) -> np.ndarray:
        """(S, N) numpy log-likelihood of trial ``trial`` at N points of its own parameters.

        ``own`` (S, N, 2) holds values of ``(alpha_k, theta_k)`` (the first two design
        columns' coefficients) per draw; every other parameter is at its draw
        (``draws.coef``, ``draws.params``). Constants may be dropped only if they do not
        depend on any parameter. A family that provides this gets the marginal
        leave-one-trial-out LOO by quadrature (:meth:`marginal_trial_loglik`).
        """
        raise NotImplementedError(
            f"the {self.name} family has no per-trial numpy log-likelihood, so its trials' "
            "own parameters cannot be integrated out; use loo(marginal=False)"
        )

    def marginal_trial_loglik(
        self, design: DesignLike, trial: int, draws: TrialDraws
    ) -> np.ndarray:
        """(S,) ``log p(y_k | shared parameters)``: trial ``trial``'s log-likelihood with its
        ``(alpha_k, theta_k)`` integrated out over their prior / population distribution.

        Default: adaptive Gauss-Hermite quadrature of :meth:`trial_loglik`
        (:meth:`bayes_ipd.families.quadrature.TrialDraws.integrate`); a family with a closed
        form overrides it (gaussian).
        """
        return draws.integrate(trial, lambda own: self.trial_loglik(design, trial, draws, own))

    @property
    def supports_marginal_loo(self) -> bool:
        """Whether the family integrates a trial's own parameters out (it provides
        :meth:`trial_loglik` or overrides :meth:`marginal_trial_loglik`) and does so by
        default (:attr:`marginal_loo`)."""
        cls = type(self)
        provides = (
            cls.trial_loglik is not Family.trial_loglik
            or cls.marginal_trial_loglik is not Family.marginal_trial_loglik
        )
        return self.marginal_loo and provides

    # ---------------------------------------------------------------- stage one

    def check_trial_events(self, responses: Mapping[str, np.ndarray], treat: np.ndarray) -> None:
        """Raise :class:`~bayes_ipd.families.regression.Unfittable` when an arm's outcome
        makes the trial's regression impossible (no events, only events)."""

    def fit_trial(
        self, responses: Mapping[str, np.ndarray], x: np.ndarray, names: Sequence[str], term: int
    ) -> tuple[float, float]:
        """Estimate and SE of design column ``term`` (``x`` has no intercept column)."""
        raise NotImplementedError

    def fit_sparse_trial(
        self,
        responses: Mapping[str, np.ndarray],
        treat: np.ndarray,
        x: np.ndarray,
        names: Sequence[str],
        term: int,
        method: str,
    ) -> tuple[float, float]:
        """Estimate and SE under a sparse-data method of :attr:`sparse_methods` (e.g. a
        continuity correction or Firth's penalised likelihood); none by default."""
        raise NotImplementedError

    # ------------------------------------------ time-to-event checks (survival family)

    @property
    def supports_time_effects(self) -> bool:
        """Whether the family offers :meth:`proportionality_test` and
        :meth:`fit_trial_by_period` (a time-to-event outcome)."""
        return type(self).proportionality_test is not Family.proportionality_test

    def proportionality_test(
        self, responses: Mapping[str, np.ndarray], x: np.ndarray, names: Sequence[str]
    ) -> Any:
        """The test that the effects do not change in time, on the trial's stage-one model
        (survival: Grambsch-Therneau, a :class:`~bayes_ipd.families.cox_zph.ZphResult`);
        none by default."""
        raise NotImplementedError

    def fit_trial_by_period(
        self,
        responses: Mapping[str, np.ndarray],
        x: np.ndarray,
        names: Sequence[str],
        term: int,
        cuts: Sequence[float],
    ) -> tuple[Any, ...]:
        """The effect of design column ``term`` in each period between ``cuts`` (survival:
        :class:`~bayes_ipd.families.cox_periods.PeriodFit` per period); none by default."""
        raise NotImplementedError


COUNT_CELLS = ("cell_n", "cell_events", "cell_counts", "cell_exposure", "cell_freq")
"""Cell statistics that count participants, events or exposure time: never negative
(``cell_n`` is exposure time for survival, so only the others must be whole)."""


def _cell_count_problem(
    cell_z: np.ndarray, cell_n: np.ndarray, n_arm: np.ndarray, width: int
) -> str | None:
    """Participants per cell (``cell_n``; exposure time with a baseline hazard, so not
    checked then) must be whole and add up to ``n_arm`` in each arm (column 1 of
    ``cell_z`` is the treatment)."""
    z, n = np.asarray(cell_z, dtype=np.float64), np.asarray(cell_n, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != width or n.shape != (z.shape[0],):
        return f"cell_z has shape {z.shape} and cell_n {n.shape}; expected (C, {width}) and (C,)"
    if np.any(n != np.round(n)):
        return f"cell_n holds {n[n != np.round(n)][0]:g}, not a whole number of participants"
    for a in (0, 1):
        total = n[z[:, 1] == a].sum()
        if total != n_arm[a]:
            return f"cell_n adds up to {total:g} in arm {a} but n_arm[{a}] is {int(n_arm[a])}"
    return None


def flat_draws(da: Any, *dims: str) -> np.ndarray:
    """Draws of an xarray variable as (S, *dims), S = chains x draws (chain-major)."""
    values = np.asarray(da.transpose("chain", "draw", *dims).values, dtype=np.float64)
    return values.reshape(-1, *values.shape[2:])


def draw_count(params: xr.Dataset) -> int:
    """Number of draws S = chains x draws of a dataset with ``chain`` and ``draw`` dims."""
    return int(params.sizes["chain"] * params.sizes["draw"])


def take_columns(a: np.ndarray, cols: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """Select ``cols`` along ``axes`` of ``a``, with zeros where the column is -1.

    Maps one trial's design columns onto the global design (a trial without a categorical
    level or a covariate contributes zeros there).
    """
    out = a
    for ax in axes:
        padded = np.concatenate([out, np.zeros_like(out.take([0], axis=ax))], axis=ax)
        out = padded.take(np.where(cols < 0, out.shape[ax], cols), axis=ax)
    return out
