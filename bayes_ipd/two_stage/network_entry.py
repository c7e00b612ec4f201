"""``bi.fit_two_stage(network, ...)``: the two-stage route's entry for a network.

:func:`~bayes_ipd.two_stage.two_stage` takes a :class:`~bayes_ipd.data.network.Network`
(``bi.IPD.from_frame(..., reference=...)``) as well as two-arm :class:`IPD`: a network goes
to :func:`~bayes_ipd.two_stage.network.fit_network_data` with the keywords that mean the
same on both routes (``method``, ``hksj``, ``sparse``). The two-arm keywords that have no
meaning for a network are refused by name here when they are not at their defaults.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from bayes_ipd.data.network import Network
from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage.network import fit_network_data
from bayes_ipd.two_stage.network_result import NetworkResult

__all__ = ["TWO_ARM_KEYWORDS", "two_stage_network"]

TWO_ARM_KEYWORDS: Mapping[str, Any] = {
    "covariates": (),
    "pool_var": "treat",
    "level": 0.95,
    "aggregate": None,
    "overlap": "error",
    "stage_one": None,
    "effect": "coefficient",
    "horizons": (),
    "imputations": None,
    "seed": 0,
    "ph_test": False,
    "effect_intervals": None,
}
"""The keywords of ``two_stage`` that a network refuses unless at these defaults."""

_POINTERS = {
    "covariates": (
        "a network's covariates and interactions: bi.fit_network(rows, ..., "
        "covariates=[...], interactions=[...])"
    ),
    "aggregate": (
        "a network's aggregate-data trials: bi.fit_network(rows, ..., aggregate_arms=..., "
        "aggregate_contrasts=...)"
    ),
    "level": "a network's intervals are 95% (z, or t with hksj=True)",
}


def _given(name: str, value: Any) -> bool:
    default = TWO_ARM_KEYWORDS[name]
    if name in ("covariates", "horizons"):
        return len([value] if isinstance(value, str) else list(value)) > 0
    if default is None:
        return value is not None
    return bool(value != default)


def two_stage_network(
    network: Network,
    *,
    method: str,
    hksj: bool,
    sparse: str | None,
    two_arm: Mapping[str, Any],
) -> NetworkResult:
    """Two-stage network meta-analysis of ``network`` (``bi.fit_two_stage``'s network route).

    Parameters
    ----------
    network : Network
    method : {"REML", "ML", "FE"}
    hksj : bool
    sparse : {"none", "cc"} or None
        Zero-event arms: their trials excluded (``"none"``, the default of
        ``fit_two_stage``; named in the result's ``excluded`` and in a warning per trial,
        as the two-arm stage one does), 0.5 added to every cell of
        those trials (``"cc"``), or refused (None).
    two_arm : Mapping[str, object]
        The other keywords of ``fit_two_stage`` as given (keys of
        :data:`TWO_ARM_KEYWORDS`).

    Returns
    -------
    NetworkResult
        ``network()`` (tables), ``to_dict()`` (the JSON of ``bayes-ipd network --json``).

    Raises
    ------
    PoolingError
        A two-arm keyword away from its default, named.
    """
    for name in TWO_ARM_KEYWORDS:
        if name in two_arm and _given(name, two_arm[name]):
            pointer = _POINTERS.get(name, "leave it out")
            raise PoolingError(
                f"{name}={two_arm[name]!r} has no meaning for a network of treatments "
                f"(bi.fit_two_stage of a Network): {pointer}"
            )
    result = fit_network_data(network, method=method, sparse=sparse, hksj=hksj)
    for study, reason in result.stage_one.excluded.items():  # as the two-arm stage one says
        warnings.warn(f"trial {study!r} excluded from pooling: {reason}", UserWarning, stacklevel=3)
    return result
