"""Calibration of the one-stage model and the two-stage estimators by simulation.

``run_calibration(study, replications)`` simulates meta-analyses of a design with truths
drawn from the model's priors, fits every one with the one-stage model (NUTS) and the
two-stage route, and reports simulation-based calibration (Talts et al. 2018: ranks of
the truths among thinned posterior draws, chi-square uniformity p-values, rank histograms,
ECDF-difference plots with simultaneous bands per Säilynoja et al. 2022) and frequentist
coverage of 95% intervals (one-stage CrI; two-stage DL, REML, REML + HKSJ; the prediction
intervals) with Monte Carlo SEs, counting divergent and R-hat > 1.01 replicates, for the
gaussian, binomial, survival and poisson families. It runs on Dask
(:mod:`bayes_ipd.calibration.engine`). Shipped designs (``bayes_ipd/models/calibration/``)
are read by name: ``read_calibration_spec("calibration_binomial")``.

Modules: :mod:`~bayes_ipd.calibration.design` (the study and its TOML),
:mod:`~bayes_ipd.calibration.replicate` (one replicate), :mod:`~bayes_ipd.calibration.summary`
(tables), :mod:`~bayes_ipd.calibration.engine` (Dask), :mod:`~bayes_ipd.calibration.study`
(the result).
"""

from __future__ import annotations

from bayes_ipd.calibration.design import CalibrationStudy, read_calibration_spec
from bayes_ipd.calibration.engine import CONNECT_TIMEOUT, SchedulerError
from bayes_ipd.calibration.study import CalibrationResult, run_calibration

__all__ = [
    "CONNECT_TIMEOUT",
    "CalibrationResult",
    "CalibrationStudy",
    "SchedulerError",
    "read_calibration_spec",
    "run_calibration",
]
