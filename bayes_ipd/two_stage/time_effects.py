"""The two-stage result's time-to-event members beside the single pooled effect: the
per-trial proportional-hazards tests and the per-period log hazard ratios."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bayes_ipd.data import IPD
from bayes_ipd.errors import SpecError
from bayes_ipd.two_stage.periods import effects_by_interval, parse_cut_points
from bayes_ipd.two_stage.ph_test import proportionality_tests
from bayes_ipd.two_stage.trial_models import survival_family

__all__ = ["time_effect_members"]


def time_effect_members(
    ipd: IPD,
    *,
    covariates: Sequence[str],
    pool_var: str,
    ph_test: bool,
    effect_intervals: str | Sequence[float] | None,
    method: str,
    hksj: bool,
    level: float,
    excluded: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``{"ph_tests": ProportionalityChecks}`` with ``ph_test`` and ``{"by_interval":
    (IntervalResult, ...)}`` with ``effect_intervals``; empty when neither is asked for.
    ``excluded``: trials stage one excluded (study -> reason), neither tested nor refitted.

    Raises
    ------
    SpecError
        Either is asked for on an outcome that is not time to event, bad cut points, or
        per-period effects of a term other than the treatment.
    """
    members: dict[str, Any] = {}
    if not ph_test and effect_intervals is None:
        return members
    what = "the proportional-hazards test" if ph_test else "effect intervals"
    survival_family(ipd, what)
    if effect_intervals is not None:
        cuts = parse_cut_points(effect_intervals)
        if pool_var.partition(":")[1]:
            raise SpecError(
                f"effect intervals pool the treatment effect per period; not with "
                f"pool_var {pool_var!r}"
            )
    if ph_test:
        members["ph_tests"] = proportionality_tests(
            ipd, covariates=covariates, pool_var=pool_var, excluded=excluded
        )
    if effect_intervals is not None:
        members["by_interval"] = effects_by_interval(
            ipd,
            cuts,
            covariates=covariates,
            method=method,
            hksj=hksj,
            level=level,
            excluded=excluded,
        )
    return members
