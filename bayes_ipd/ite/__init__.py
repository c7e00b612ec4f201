"""Individualised treatment effects (ITE) from several trials: the two-stage framework of
Mainetti, Chalkou, Philipona, Schwarzer, Salanti & Efthimiou.

Stage 1 fits one model per trial (:mod:`~bayes_ipd.ite.learners`: OLS, ridge, lasso,
random forest and gradient boosting as T- or S-learners, conjugate Bayesian regression);
stage 2 combines them (:mod:`~bayes_ipd.ite.stage2`: multivariate REML meta-analysis of the
coefficients, a weighted average of predicted ITEs, a multivariate Bayesian meta-analysis,
a mixture of posteriors) into the ITE of a new patient with its SE, confidence interval and
prediction interval. :mod:`~bayes_ipd.ite.validation` chooses between methods on real data
(internal-external cross-validation, calibration for benefit, c-for-benefit) and
:mod:`~bayes_ipd.ite.simulation` compares them on simulated trials.

Examples
--------
>>> from bayes_ipd.ite import Scenario, fit_ite, ite_data, simulate_ite
>>> frame, _ = simulate_ite(Scenario(n_trials=4, n_per_trial=200), seed=1)
>>> data = ite_data(frame, study="trial", treatment="treat", outcome="y",
...                 covariates=["x1", "x2"])
>>> fit_ite(data, "ols", "mvma").k
4
"""

from __future__ import annotations

from bayes_ipd.ite.data import ITEData, TrialData, ite_data, ite_data_from_ipd, patient_matrix
from bayes_ipd.ite.fit import ITEResult, fit_ite
from bayes_ipd.ite.learners import LEARNER_NAMES, TrialNotFittable, get_learner
from bayes_ipd.ite.mvma import MultivariateMA, mvma
from bayes_ipd.ite.prediction import ITEPrediction
from bayes_ipd.ite.simulation import (
    DEFAULT_METHODS,
    GridResult,
    Method,
    Scenario,
    run_grid,
    simulate_ite,
)
from bayes_ipd.ite.stage2 import STAGE2_NAMES
from bayes_ipd.ite.validation import IECVResult, c_for_benefit, internal_external

__all__ = [
    "DEFAULT_METHODS",
    "LEARNER_NAMES",
    "STAGE2_NAMES",
    "GridResult",
    "IECVResult",
    "ITEData",
    "ITEPrediction",
    "ITEResult",
    "Method",
    "MultivariateMA",
    "Scenario",
    "TrialData",
    "TrialNotFittable",
    "c_for_benefit",
    "fit_ite",
    "get_learner",
    "internal_external",
    "ite_data",
    "ite_data_from_ipd",
    "mvma",
    "patient_matrix",
    "run_grid",
    "simulate_ite",
]
