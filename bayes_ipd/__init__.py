"""bayes_ipd: Bayesian one-stage and frequentist two-stage IPD meta-analysis of randomised trials.

The public face: re-exports only. See README.md for a worked example.
"""

from __future__ import annotations

from bayes_ipd import datasets, simulate, two_stage
from bayes_ipd.data import IPD
from bayes_ipd.design import Design, build_design
from bayes_ipd.errors import BayesIPDError, IPDDataError, PoolingError, PriorError, SpecError
from bayes_ipd.fitting import fit
from bayes_ipd.priors import Prior, PriorSet, parse_prior
from bayes_ipd.results import OneStageResult
from bayes_ipd.spec import AnalysisSpec, ModelSpec, SamplerSettings, read_analysis_spec
from bayes_ipd.summaries import TrialSummary, read_summaries, summarise, write_summaries
from bayes_ipd.two_stage import (
    AggregateData,
    PooledResult,
    TwoStageResult,
    fit_per_study,
    pool,
    pool_aggregate,
)
from bayes_ipd.two_stage import two_stage as fit_two_stage

__version__ = "0.1.0"

__all__ = [
    "IPD",
    "AggregateData",
    "AnalysisSpec",
    "BayesIPDError",
    "Design",
    "IPDDataError",
    "ModelSpec",
    "OneStageResult",
    "PooledResult",
    "PoolingError",
    "Prior",
    "PriorError",
    "PriorSet",
    "SamplerSettings",
    "SpecError",
    "TrialSummary",
    "TwoStageResult",
    "__version__",
    "build_design",
    "datasets",
    "fit",
    "fit_per_study",
    "fit_two_stage",
    "parse_prior",
    "pool",
    "pool_aggregate",
    "read_analysis_spec",
    "read_summaries",
    "simulate",
    "summarise",
    "two_stage",
    "write_summaries",
]
