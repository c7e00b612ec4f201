"""The vocabulary every route shares: effect scales, pooling methods, arms, seeds, JSON values.

Nothing here computes a statistic. Each name is defined once and imported where it is used,
so that a scale's label, a method's name or the JSON rules cannot drift apart between the
one-stage route, the two-stage route and the reports.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ARMS",
    "METAREG_METHODS",
    "METHODS",
    "METHOD_NAMES",
    "NODE_KEYS",
    "SCALES",
    "SCALE_CODES",
    "SEED_OFFSETS",
    "EffectScale",
    "distribution_version",
    "effect_scale",
    "interaction_covariate",
    "json_ready",
    "method_label",
    "readonly",
    "scale_name",
    "term_measure",
]


@dataclass(frozen=True)
class EffectScale:
    """An effect measure and how it is written.

    Attributes
    ----------
    code : str
        Short name used in files and JSON (``"MD"``, ``"logOR"``, ...).
    name : str
        Words for reports (``"log odds ratio"``).
    ratio_label : str or None
        Abbreviation of the exponentiated measure (``"OR"``) on a log-ratio scale, else None.
    ratio_name : str or None
        Words for the exponentiated measure (``"odds ratio"``).
    """

    code: str
    name: str
    ratio_label: str | None = None
    ratio_name: str | None = None

    @property
    def is_ratio(self) -> bool:
        """Whether the measure is a log ratio (then also reported exponentiated)."""
        return self.ratio_label is not None


SCALES: dict[str, EffectScale] = {
    "MD": EffectScale("MD", "mean difference"),
    "logOR": EffectScale("logOR", "log odds ratio", "OR", "odds ratio"),
    "logRR": EffectScale("logRR", "log risk ratio", "RR", "risk ratio"),
    "logHR": EffectScale("logHR", "log hazard ratio", "HR", "hazard ratio"),
    "logIRR": EffectScale("logIRR", "log rate ratio", "RR", "rate ratio"),
    "logCOR": EffectScale("logCOR", "log cumulative odds ratio", "OR", "cumulative odds ratio"),
    # survival two-stage --effect rmst (bayes_ipd.two_stage.rmst): the code is its own name
    "RMST difference": EffectScale("RMST difference", "RMST difference"),
}
"""Every effect scale the package writes, by code."""

SCALE_CODES: tuple[str, ...] = tuple(SCALES)


def effect_scale(code: str | None) -> EffectScale | None:
    """The :class:`EffectScale` of ``code`` (None for an unnamed scale)."""
    return None if code is None else SCALES[code]


def scale_name(code: str | None) -> str:
    """Words for a scale code; ``"effect"`` when the scale is not named."""
    return "effect" if code is None else SCALES[code].name


def interaction_covariate(term: str | None) -> str | None:
    """The covariate of an interaction term ``"treat:age"`` (None for a main effect)."""
    if not term or ":" not in term:
        return None
    return term.partition(":")[2].strip() or None


def term_measure(measure: str, term: str | None, exponentiate: bool = False) -> str:
    """Name of what is pooled for ``term``: ``measure`` for the treatment effect, and for a
    within-trial interaction the change in it per unit of the covariate.

    >>> term_measure("Mean difference", "treat:age")
    'Change in mean difference per unit of age'
    >>> term_measure("Odds ratio", "treat:age", exponentiate=True)
    'Ratio of odds ratios per unit of age'
    """
    covariate = interaction_covariate(term)
    if covariate is None:
        return measure
    if exponentiate:
        return f"Ratio of {measure.lower()}s per unit of {covariate}"
    return f"Change in {measure.lower()} per unit of {covariate}"


METHODS: tuple[str, ...] = ("FE", "DL", "REML", "PM", "ML", "EB", "SJ")
"""τ² estimators of the two-stage route (``FE`` = common effect, τ² = 0)."""

METAREG_METHODS: tuple[str, ...] = ("FE", "DL", "REML", "PM", "ML")
"""τ² estimators of the meta-regression on trial-level moderators (metafor ``rma(mods=)``)."""

METHOD_NAMES: dict[str, str] = {
    "FE": "common effect (fixed effect)",
    "DL": "DerSimonian-Laird",
    "REML": "restricted maximum likelihood",
    "PM": "Paule-Mandel",
    "ML": "maximum likelihood",
    "EB": "empirical Bayes",
    "SJ": "Sidik-Jonkman",
}


def method_label(method: str | None, hksj: bool) -> str:
    """``"REML + HKSJ"``-style name of a pooling method (``"HKSJ"`` when no method)."""
    if not hksj:
        return str(method) if method else ""
    return f"{method} + HKSJ" if method else "HKSJ"


ARMS: tuple[str, str] = ("control", "treated")
"""Arm names, in the order of the treatment code (0, 1)."""

NODE_KEYS: tuple[str, ...] = ("mean", "sd", "median", "q025", "q975", "ess_bulk", "r_hat")
"""Keys of every posterior summary node in JSON."""

SEED_OFFSETS: dict[str, int] = {
    "new_study": 1,
    "ppc": 2,
    "prior_predictive": 3,
    "interval_ppc": 4,
    "predictive_survival": 5,
}
"""Offsets added to the sampler's seed for each derived random draw, so every report is
reproducible and no two reports share a stream."""


def json_ready(value: Any) -> Any:
    """Plain JSON values: dicts, lists, Python scalars, paths as text; NaN, infinities and
    NA as None.

    Examples
    --------
    >>> json_ready({"a": np.float64("nan"), "b": (1, np.int64(2))})
    {'a': None, 'b': [1, 2]}
    """
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_ready(v) for v in value.tolist()]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def readonly(values: Any, dtype: Any = np.float64) -> np.ndarray:
    """A read-only copy of ``values`` as an array of ``dtype``."""
    out = np.array(values, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


def distribution_version(name: str, missing: str = "unknown") -> str:
    """The installed version of distribution ``name`` from its metadata (nothing is
    imported), or ``missing`` when it is not installed (a source tree never installed)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return missing
