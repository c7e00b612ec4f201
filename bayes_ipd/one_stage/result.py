"""OneStageResult: the public face of a one-stage fit.

A :class:`OneStageResult` is the fit's :class:`~bayes_ipd.one_stage.posterior.Posterior`
(the InferenceData, model, sampler settings and diagnostics, with the summary, study
effects, effect curve, JSON output and printed report) and adds, as methods, the readers
that take a posterior as a value: effect predictions at new patients' covariates
(:mod:`~bayes_ipd.one_stage.prediction`), the meta-regression's effect at moderator values
and forest rows (:mod:`~bayes_ipd.one_stage.metareg`), posterior and prior predictive checks
per trial and arm (:mod:`bayes_ipd.checks.ppc`), leave-one-trial-out PSIS-LOO
(:mod:`bayes_ipd.checks.loo`), survival estimands (RMST differences, each arm's
survival curve in each trial and a new trial, the hazard ratio over time, median survival;
:mod:`~bayes_ipd.one_stage.survival_estimands`), the prior sensitivity sweep
(:mod:`bayes_ipd.one_stage.sensitivity`)
and the netCDF file with the default leave-one-trial-out terms, which :func:`load` reads back
into a working result (:mod:`~bayes_ipd.one_stage.storage`; the same record makes results
picklable).

The conventions (effect scale, new-trial effect, intervals, seeds of derived draws) are
those of :mod:`bayes_ipd.one_stage.posterior`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from bayes_ipd.checks.loo import LooResult, leave_one_trial_out, marginal_loglik
from bayes_ipd.checks.ppc import (
    PPCResult,
    posterior_predictive_check,
    prior_draws,
    prior_predictive_check,
)
from bayes_ipd.conventions import NODE_KEYS
from bayes_ipd.errors import AnalysisNote, IPDDataError
from bayes_ipd.one_stage.metareg import forest_rows, metareg_lines, predict_theta
from bayes_ipd.one_stage.posterior import Posterior
from bayes_ipd.one_stage.prediction import EffectPrediction, predict_effect
from bayes_ipd.one_stage.storage import (
    ResultRecord,
    posterior_of,
    read_posterior,
    record_of,
    write_netcdf,
)
from bayes_ipd.one_stage.survival_estimands import SurvivalEstimands, rmst_lines

__all__ = ["NODE_KEYS", "OneStageResult", "load"]


@dataclass(frozen=True, eq=False, repr=False)
class OneStageResult(Posterior, SurvivalEstimands):
    """Posterior of a one-stage model (ArviZ InferenceData) with its model and diagnostics.

    Every method derives a new value; the result itself never changes. The fields and the
    value-level methods (:meth:`summary`, :meth:`study_effects`, :meth:`predict_new_study`,
    :meth:`effect_curve`, :meth:`tau_plot`, :meth:`to_dict`, :meth:`to_json`) are those of
    :class:`~bayes_ipd.one_stage.posterior.Posterior`.

    Attributes
    ----------
    idata, built, sampler, diagnostics
        As :class:`~bayes_ipd.one_stage.posterior.Posterior`.

    Examples
    --------
    >>> result = fit(ipd, spec, SamplerSettings(draws=500, chains=2))  # doctest: +SKIP
    >>> result.summary(threshold=-0.1)  # doctest: +SKIP
    >>> result.study_effects()  # doctest: +SKIP
    >>> result.ppc().plot()  # doctest: +SKIP
    """

    @classmethod
    def of(cls, posterior: Posterior) -> OneStageResult:
        """The public face of ``posterior`` (the same fields, shared, not copied)."""
        if isinstance(posterior, cls):
            return posterior
        return cls(**{f.name: getattr(posterior, f.name) for f in fields(Posterior)})

    # ------------------------------------------------------------------ predictions

    def predict_effect(
        self, new_patients: pd.DataFrame, *, study: str | None = None, seed: int | None = None
    ) -> EffectPrediction:
        """Posterior draws of the treatment effect at each new patient's covariates (mean
        trial, new trial, optionally one trial); see
        :func:`bayes_ipd.one_stage.prediction.predict_effect`."""
        return predict_effect(self, new_patients, study=study, seed=seed)

    def predict_theta(
        self, values: Any, *, level: float = 0.95, seed: int | None = None
    ) -> pd.DataFrame:
        """The pooled effect at given trial-level moderator values, for the mean trial and
        a new trial (a meta-regression fit; :func:`bayes_ipd.one_stage.metareg.predict_theta`).

        Examples
        --------
        >>> result.predict_theta({"ablat": [20, 40]})  # doctest: +SKIP
        """
        return predict_theta(self, values, level=level, seed=seed)

    def forest_rows(self, level: float = 0.95) -> list[Any]:
        """Forest rows of every trial (IPD and aggregate-data, labelled by source), the
        pooled effect and the new-trial interval
        (:func:`bayes_ipd.one_stage.metareg.forest_rows`)."""
        return forest_rows(self, level)

    # ------------------------------------------------------------ predictive checks

    def ppc(self, seed: int | None = None, draws: int | None = None) -> PPCResult:
        """Posterior predictive check per trial and arm
        (:func:`bayes_ipd.checks.ppc.posterior_predictive_check`).

        Parameters
        ----------
        seed : int, optional
            Seed of the replication; by default the sampler's seed + 2.
        draws : int, optional
            Use this many evenly spaced posterior draws (all by default).

        Returns
        -------
        PPCResult

        Raises
        ------
        IPDDataError
            A fit with covariates imputed in the model (``missing="impute"``): the check
            replicates trial statistics of complete rows, which such a fit does not
            describe (its trials are centred at modelled covariate means, and a trial that
            never recorded a covariate has no complete rows).
        """
        refuse_imputed(self, "the posterior predictive check")
        return posterior_predictive_check(self, seed=seed, draws=draws)

    def prior_draws(self, draws: int = 500, seed: int | None = None) -> xr.Dataset:
        """Parameter draws from the model's prior (:func:`bayes_ipd.checks.ppc.prior_draws`)."""
        return prior_draws(self, draws, seed)

    def prior_predictive(self, draws: int = 500, seed: int | None = None) -> PPCResult:
        """Prior predictive check (:func:`bayes_ipd.checks.ppc.prior_predictive_check`).

        Parameters
        ----------
        draws : int
            Prior draws.
        seed : int, optional
            Seed of the prior draws and of the replication; by default the sampler's
            seed + 3.

        Returns
        -------
        PPCResult
            With ``kind="prior"``.
        """
        return prior_predictive_check(self, draws, seed)

    # ------------------------------------------------------------------ model checks

    def loo(self, marginal: bool | None = None) -> LooResult:
        """Leave-one-trial-out PSIS-LOO, one log-likelihood term per trial
        (:func:`bayes_ipd.checks.loo.leave_one_trial_out`).

        Parameters
        ----------
        marginal : bool, optional
            ``False``: each trial's log-likelihood given its own parameters; ``True``:
            with its intercept and treatment effect integrated out (exactly for gaussian,
            by adaptive quadrature otherwise). Default: marginal wherever the family
            provides it (every shipped family).

        Returns
        -------
        LooResult

        Notes
        -----
        With covariates imputed in the model (``missing="impute"``) the terms are the
        conditional ones - the model's own per-trial likelihood of every row, missing
        covariates integrated out (a note says so); ``marginal=True`` is refused.
        """
        if self.built.design.imputation is not None:
            if marginal:
                refuse_imputed(self, "the marginal leave-one-trial-out")
            warnings.warn(IMPUTED_LOO_NOTE, AnalysisNote, stacklevel=2)
            marginal = False
        return leave_one_trial_out(self, marginal)

    def marginal_loglik(self) -> xr.DataArray:
        """Each trial's log-likelihood with ``alpha_k`` and ``theta_k`` integrated out
        (:func:`bayes_ipd.checks.loo.marginal_loglik`); (chain, draw, study)."""
        return marginal_loglik(self)

    def sensitivity(self, tau: Any = None, effect: Any = None, **options: Any) -> Any:
        """Refit over a grid of tau / effect priors
        (:func:`bayes_ipd.one_stage.sensitivity.sensitivity`)."""
        from bayes_ipd.one_stage.sensitivity import sensitivity

        return sensitivity(self, tau=tau, effect=effect, **options)

    # ------------------------------------------------------------------------ output

    def to_netcdf(self, path: str | Path) -> Path:
        """Write the result to a netCDF file (h5netcdf engine): :func:`load` gives it back
        whole; :func:`arviz.from_netcdf` reads its InferenceData.

        The ``log_likelihood`` group holds the default leave-one-trial-out terms
        (:func:`bayes_ipd.checks.loo.loo_idata`: marginal wherever the family has them,
        the conditional ones then in ``conditional_log_likelihood``), so ``arviz.loo`` on
        the file equals :meth:`loo`. The group ``bayes_ipd`` holds what rebuilds the model
        (spec, priors, sampler settings, diagnostics and the design's exact per-trial
        statistics, no participant rows - except for a fit with ``missing="impute"``, whose
        model needs its covariate model's rows; :mod:`~bayes_ipd.one_stage.storage`).
        """
        return write_netcdf(self, path)

    def save(self, path: str | Path) -> Path:
        """Save the result to a netCDF file that :func:`bayes_ipd.load` reads back
        (:meth:`to_netcdf`).

        Examples
        --------
        >>> result.save("fit.nc")  # doctest: +SKIP
        >>> same = bayes_ipd.load("fit.nc")  # doctest: +SKIP
        """
        return write_netcdf(self, path)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # The PyMC model holds compiled functions that do not pickle; the record rebuilds
        # it on unpickling (and checks its fingerprint), so results travel to Dask workers.
        return _unpickle, (self.idata, record_of(self))

    def _extra_lines(self) -> list[str]:
        """The meta-regression block of the printed summary
        (:func:`bayes_ipd.one_stage.metareg.metareg_lines`; empty without moderators) and
        the RMST block (:func:`~bayes_ipd.one_stage.survival_estimands.rmst_lines`; empty
        without ``rmst_horizons``)."""
        return metareg_lines(self) + rmst_lines(self)


IMPUTED_LOO_NOTE = (
    "missing='impute': leave-one-trial-out uses each trial's conditional log-likelihood "
    "(all its rows, missing covariates integrated out), not the marginal one"
)
"""The note of :meth:`OneStageResult.loo` on a fit with covariates imputed in the model."""


def refuse_imputed(result: Posterior, what: str) -> None:
    """Refuse ``what`` on a fit whose covariates were imputed in the model (it describes
    trial statistics of complete rows, which such a fit does not have for every trial)."""
    if result.built.design.imputation is not None:
        raise IPDDataError(
            f"{what} is not available for a fit with covariates imputed in the model "
            "(missing='impute'): it replicates the complete rows' trial statistics; check "
            "the analysis model on a fit with missing='drop', and use loo() (conditional "
            "terms of every row)"
        )


def load(path: str | Path) -> OneStageResult:
    """A one-stage result saved by :meth:`OneStageResult.save` (or ``bayes-ipd run --out``'s
    ``posterior.nc``), rebuilt whole: summary, study effects, checks, LOO and figures as
    before saving.

    The design and the PyMC model are rebuilt from the file's record (no participant rows
    are stored or needed, except the covariate model's rows of a fit with
    ``missing="impute"``) and the model's graph fingerprint is checked against the saved
    one (:func:`bayes_ipd.one_stage.storage.read_posterior`).

    Raises
    ------
    bayes_ipd.one_stage.storage.ResultFileError
        The file is missing, not netCDF, not a saved result (e.g. written by ArviZ alone)
        or written by a version whose model differs.

    Examples
    --------
    >>> import bayes_ipd as bi
    >>> result = bi.load("out/posterior.nc")  # doctest: +SKIP
    >>> result.summary()  # doctest: +SKIP
    """
    return OneStageResult.of(read_posterior(path))


def _unpickle(idata: Any, record: ResultRecord) -> OneStageResult:
    """The result of a pickle (:meth:`OneStageResult.__reduce__`)."""
    return OneStageResult.of(posterior_of(idata, record))
