"""bayes_ipd: Bayesian one-stage and frequentist two-stage IPD meta-analysis of randomised trials.

The public face: re-exports only. See README.md for a worked example.

Names are loaded on first use (PEP 562), so ``import bayes_ipd.two_stage`` or the
two-stage commands of the CLI never import PyMC or PyTensor; ``bayes_ipd.fit`` does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bayes_ipd.errors import BayesIPDError, IPDDataError, PoolingError, PriorError, SpecError

__version__ = "0.1.0"

_LAZY: dict[str, tuple[str, str | None]] = {
    "IPD": ("bayes_ipd.data", "IPD"),
    "harmonise": ("bayes_ipd.data.harmonise", "harmonise"),
    "HarmoniseRules": ("bayes_ipd.data.harmonise_rules", "HarmoniseRules"),
    "HarmonisationLog": ("bayes_ipd.data.harmonise", "HarmonisationLog"),
    "check_units": ("bayes_ipd.data.unit_check", "check_units"),
    "AggregateData": ("bayes_ipd.two_stage", "AggregateData"),
    "PooledResult": ("bayes_ipd.two_stage", "PooledResult"),
    "TwoStageResult": ("bayes_ipd.two_stage", "TwoStageResult"),
    "fit_per_study": ("bayes_ipd.two_stage", "fit_per_study"),
    "pool": ("bayes_ipd.two_stage", "pool"),
    "pool_aggregate": ("bayes_ipd.two_stage", "pool_aggregate"),
    "fit_two_stage": ("bayes_ipd.two_stage", "two_stage"),
    "fit_two_stage_repeated": ("bayes_ipd.two_stage.repeated", "two_stage_repeated"),
    "fit_network": ("bayes_ipd.one_stage.network_fit", "fit_network"),
    "fit_network_bayes": ("bayes_ipd.one_stage.network_fit", "fit_network_bayes"),
    "network_forest": ("bayes_ipd.one_stage.network_analysis", "network_forest"),
    "network_from_frame": ("bayes_ipd.data.network", "network_from_frame"),
    "RepeatedIPD": ("bayes_ipd.data.visits", "RepeatedIPD"),
    "repeated_from_frame": ("bayes_ipd.data.visits", "repeated_from_frame"),
    "MetaRegression": ("bayes_ipd.two_stage.metareg", "MetaRegression"),
    "meta_regression": ("bayes_ipd.two_stage.metareg", "meta_regression"),
    "check_integrity": ("bayes_ipd.two_stage.integrity", "check_integrity"),
    "PrismaFlow": ("bayes_ipd.prisma", "PrismaFlow"),
    "read_flow": ("bayes_ipd.prisma", "read_flow"),
    "compare_responders": ("bayes_ipd.responders", "compare_responders"),
    "ResponderComparison": ("bayes_ipd.responders", "ResponderComparison"),
    "Prior": ("bayes_ipd.priors", "Prior"),
    "PriorSet": ("bayes_ipd.priors", "PriorSet"),
    "parse_prior": ("bayes_ipd.priors", "parse_prior"),
    "AnalysisSpec": ("bayes_ipd.spec", "AnalysisSpec"),
    "ModelSpec": ("bayes_ipd.spec", "ModelSpec"),
    "SamplerSettings": ("bayes_ipd.spec", "SamplerSettings"),
    "read_analysis_spec": ("bayes_ipd.spec", "read_analysis_spec"),
    "Design": ("bayes_ipd.one_stage.design", "Design"),
    "build_design": ("bayes_ipd.one_stage.design", "build_design"),
    "TrialSummary": ("bayes_ipd.one_stage.summaries", "TrialSummary"),
    "read_summaries": ("bayes_ipd.one_stage.summaries", "read_summaries"),
    "summarise": ("bayes_ipd.one_stage.summaries", "summarise"),
    "write_summaries": ("bayes_ipd.one_stage.summaries", "write_summaries"),
    "fit": ("bayes_ipd.one_stage.fitting", "fit"),
    "fit_repeated": ("bayes_ipd.one_stage.repeated_result", "fit_repeated"),
    "AggregateTrials": ("bayes_ipd.one_stage.aggregate_trials", "AggregateTrials"),
    "ArmCounts": ("bayes_ipd.one_stage.aggregate_trials", "ArmCounts"),
    "trial_effects": ("bayes_ipd.one_stage.aggregate_trials", "trial_effects"),
    "write_report": ("bayes_ipd.report", "write_report"),
    "prior_predictive": ("bayes_ipd.one_stage.prior_predictive", "prior_predictive"),
    "OneStageResult": ("bayes_ipd.one_stage.result", "OneStageResult"),
    "load": ("bayes_ipd.one_stage.result", "load"),
    "datasets": ("bayes_ipd.datasets", None),
    "simulate": ("bayes_ipd.simulate", None),
    "ite": ("bayes_ipd.ite", None),
    "two_stage": ("bayes_ipd.two_stage", None),
}

__all__ = [
    "IPD",
    "AggregateData",
    "AggregateTrials",
    "AnalysisSpec",
    "ArmCounts",
    "BayesIPDError",
    "Design",
    "HarmonisationLog",
    "HarmoniseRules",
    "IPDDataError",
    "MetaRegression",
    "ModelSpec",
    "OneStageResult",
    "PooledResult",
    "PoolingError",
    "Prior",
    "PriorError",
    "PriorSet",
    "PrismaFlow",
    "RepeatedIPD",
    "ResponderComparison",
    "SamplerSettings",
    "SpecError",
    "TrialSummary",
    "TwoStageResult",
    "__version__",
    "build_design",
    "check_integrity",
    "check_units",
    "compare_responders",
    "datasets",
    "fit",
    "fit_network",
    "fit_network_bayes",
    "fit_per_study",
    "fit_repeated",
    "fit_two_stage",
    "fit_two_stage_repeated",
    "harmonise",
    "ite",
    "load",
    "meta_regression",
    "network_forest",
    "network_from_frame",
    "parse_prior",
    "pool",
    "pool_aggregate",
    "prior_predictive",
    "read_analysis_spec",
    "read_flow",
    "read_summaries",
    "repeated_from_frame",
    "simulate",
    "summarise",
    "trial_effects",
    "two_stage",
    "write_report",
    "write_summaries",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use."""
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'bayes_ipd' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from bayes_ipd import datasets, simulate, two_stage
    from bayes_ipd.data import IPD
    from bayes_ipd.data.harmonise import HarmonisationLog, harmonise
    from bayes_ipd.data.harmonise_rules import HarmoniseRules
    from bayes_ipd.data.unit_check import check_units
    from bayes_ipd.data.visits import RepeatedIPD, repeated_from_frame
    from bayes_ipd.one_stage.aggregate_trials import AggregateTrials, ArmCounts, trial_effects
    from bayes_ipd.one_stage.design import Design, build_design
    from bayes_ipd.one_stage.fitting import fit
    from bayes_ipd.one_stage.prior_predictive import prior_predictive
    from bayes_ipd.one_stage.repeated_result import fit_repeated
    from bayes_ipd.one_stage.result import OneStageResult, load
    from bayes_ipd.one_stage.summaries import (
        TrialSummary,
        read_summaries,
        summarise,
        write_summaries,
    )
    from bayes_ipd.priors import Prior, PriorSet, parse_prior
    from bayes_ipd.prisma import PrismaFlow, read_flow
    from bayes_ipd.responders import ResponderComparison, compare_responders
    from bayes_ipd.spec import AnalysisSpec, ModelSpec, SamplerSettings, read_analysis_spec
    from bayes_ipd.two_stage import (
        AggregateData,
        PooledResult,
        TwoStageResult,
        fit_per_study,
        pool,
        pool_aggregate,
    )
    from bayes_ipd.two_stage import two_stage as fit_two_stage
    from bayes_ipd.two_stage.integrity import check_integrity
    from bayes_ipd.two_stage.metareg import MetaRegression, meta_regression
    from bayes_ipd.two_stage.repeated import two_stage_repeated as fit_two_stage_repeated
