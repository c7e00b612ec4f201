"""Participant rows read through :meth:`IPD.from_frame` with ``reference=``: a network.

``bi.IPD.from_frame(df, study=, treatment=, outcome=, family=, reference="Placebo")`` reads
a treatment column with any number of levels as a network of trials, the
:class:`~bayes_ipd.data.network.Network` of
:func:`~bayes_ipd.data.network.network_from_frame` (the same value, the same checks). The
two-arm arguments of ``from_frame`` that mean nothing for a network are refused here by name
rather than ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from bayes_ipd.data.network import Network, network_from_frame
from bayes_ipd.errors import IPDDataError

__all__ = ["TWO_ARM_DEFAULTS", "network_rows"]

TWO_ARM_DEFAULTS: Mapping[str, Any] = {
    "covariates": (),
    "missing": "error",
    "experimental": None,
    "levels": None,
    "min_trials": 2,
    "participant": None,
}
"""The two-arm arguments of ``IPD.from_frame`` and their defaults: with ``reference=``
only the default is accepted."""

_WHY = {
    "covariates": (
        "a network's covariates and interactions are given to the network fit: "
        "bi.fit_network(rows, ..., covariates=[...], interactions=[...])"
    ),
    "missing": "a network's rows must be complete (missing='error')",
    "experimental": (
        "a network compares every level against reference=; experimental= is the two-arm "
        "spelling (leave reference= out for a two-arm analysis)"
    ),
    "levels": "an ordinal network's categories are its outcome's codes in numeric order",
    "min_trials": "a network needs its trials connected, not a count",
    "participant": "the participant check is not run on a network's rows",
}


def _not_default(name: str, value: Any) -> bool:
    default = TWO_ARM_DEFAULTS[name]
    if name == "covariates":
        return bool([value] if isinstance(value, str) else list(value))
    return value != default


def network_rows(
    frame: pd.DataFrame,
    *,
    study: str,
    treatment: str,
    reference: Any,
    family: str,
    responses: Mapping[str, str | None],
    two_arm: Mapping[str, Any],
) -> Network:
    """The network of ``frame``'s rows, after refusing two-arm arguments.

    Parameters
    ----------
    frame : DataFrame
        One row per participant (only read).
    study, treatment : str
        The trial and treatment columns.
    reference : str
        The network's common comparator, a level of ``treatment``.
    family : str
        Outcome family name.
    responses : Mapping[str, str or None]
        The response columns by role (``{"outcome": "quit", "time": None, ...}``).
    two_arm : Mapping[str, object]
        The two-arm arguments of ``from_frame`` as given (keys of
        :data:`TWO_ARM_DEFAULTS`).

    Returns
    -------
    Network

    Raises
    ------
    IPDDataError
        A two-arm argument away from its default (named, with the reason), an empty
        ``reference``, or any refusal of :func:`~bayes_ipd.data.network.network_from_frame`.
    """
    for name in TWO_ARM_DEFAULTS:
        if name in two_arm and _not_default(name, two_arm[name]):
            raise IPDDataError(
                f"{name}={two_arm[name]!r} has no meaning with reference={reference!r} "
                f"(a network of treatments): {_WHY[name]}"
            )
    if not isinstance(reference, str) or not reference.strip():
        raise IPDDataError(
            f"reference={reference!r} must be a non-empty treatment level (text) of "
            f"column {treatment!r}"
        )
    return network_from_frame(
        frame,
        study=study,
        treatment=treatment,
        reference=reference,
        family=family,
        **{role: column for role, column in responses.items() if column is not None},
    )
