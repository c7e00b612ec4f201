"""The ``[sensitivity]`` section of a TOML spec: the prior grid of ``run --sensitivity``.

:class:`SensitivityGrid` holds a list of priors per slot (every combination is a refit);
a two-arm spec's slots are :data:`GRID_SLOTS` (swept by :mod:`bayes_ipd.sensitivity`), a
network spec's (``[data] reference``) :data:`NETWORK_GRID_SLOTS` (swept by
:mod:`bayes_ipd.one_stage.network_sensitivity`). Re-exported by :mod:`bayes_ipd.spec_sections`
and :mod:`bayes_ipd.spec`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bayes_ipd.errors import SpecError
from bayes_ipd.priors import Prior, as_prior, check_slot

__all__ = ["GRID_SLOTS", "MAX_GRID", "NETWORK_GRID_SLOTS", "SensitivityGrid", "grid_from_table"]

GRID_SLOTS = ("tau", "effect")
"""The prior slots a ``[sensitivity]`` grid may vary."""

NETWORK_GRID_SLOTS = ("effect", "tau", "intercept", "sigma", "coefficients", "interactions")
"""The prior slots the ``[sensitivity]`` grid of a network spec (``[data] reference``) may
vary: the one-stage network model's (``sigma``: gaussian; ``coefficients``,
``interactions``: with ``[model] covariates``; checked against the spec by
:func:`bayes_ipd.one_stage.network_sensitivity.check_network_grid`)."""
_ALL_GRID_SLOTS = ("tau", "effect", "intercept", "sigma", "coefficients", "interactions")

MAX_GRID = 100
"""The most prior combinations a ``[sensitivity]`` grid may hold (each one is a refit)."""


def _grid_priors(where: str, slot: str, values: Any) -> tuple[Prior, ...]:
    """One slot's list of priors, each parsed and checked for the slot."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise SpecError(f"{where}.{slot} = {values!r} must be a non-empty list of priors")
    priors = []
    for value in values:
        try:
            prior = as_prior(value)
            check_slot(slot, prior)
        except ValueError as err:
            raise SpecError(f"{where}.{slot}: {err}") from None
        priors.append(prior)
    return tuple(priors)


def grid_from_table(
    table: Mapping[str, Any], where: str = "sensitivity", slots: tuple[str, ...] = GRID_SLOTS
) -> dict[str, tuple[Prior, ...]]:
    """A ``[sensitivity]`` table as ``{slot: (Prior, ...)}`` (``slots``: :data:`GRID_SLOTS`,
    or :data:`NETWORK_GRID_SLOTS` for a network spec).

    Raises
    ------
    SpecError
        An unknown key, a value that is not a non-empty list of prior strings, or a prior
        unfit for its slot (naming ``sensitivity.<slot>`` and the prior).
    """
    out: dict[str, tuple[Prior, ...]] = {}
    for slot, values in table.items():
        if slot not in slots:
            raise SpecError(
                f"unknown key {where}.{slot}; allowed keys in [{where}]: {', '.join(slots)}"
            )
        out[slot] = _grid_priors(where, slot, values)
    return out


@dataclass(frozen=True)
class SensitivityGrid:
    """``[sensitivity]``: the priors ``run --sensitivity`` refits the model over.

    Every combination of the ``tau`` and ``effect`` priors is fitted
    (:func:`bayes_ipd.sensitivity.sensitivity`); an empty slot keeps the fit's prior, and
    a grid with both slots empty sweeps :func:`bayes_ipd.sensitivity.default_grid`. At
    most :data:`MAX_GRID` (100) combinations: each one is a full refit.

    A network spec's grid may also vary ``intercept``, ``sigma``, ``coefficients`` and
    ``interactions`` (:data:`NETWORK_GRID_SLOTS`; ``from_dict(..., network=True)``, swept by
    :func:`bayes_ipd.one_stage.network_sensitivity.network_sensitivity`).

    Parameters
    ----------
    tau, effect : tuple of Prior
        Priors of the slot (strings are parsed); each checked for its slot.
    intercept, sigma, coefficients, interactions : tuple of Prior
        The network-only slots (empty for a two-arm spec).

    Raises
    ------
    SpecError
        A value that is not a non-empty list of priors, or a prior unfit for its slot
        (naming ``sensitivity.<slot>``), or more than :data:`MAX_GRID` combinations.

    Examples
    --------
    >>> grid = SensitivityGrid.from_dict({"tau": ["half_normal(0.5)", "half_cauchy(0.5)"]})
    >>> grid.to_dict()
    {'tau': ['half_normal(0.5)', 'half_cauchy(0.5)']}
    """

    tau: tuple[Prior, ...] = ()
    effect: tuple[Prior, ...] = ()
    intercept: tuple[Prior, ...] = ()  # the network-only slots (NETWORK_GRID_SLOTS)
    sigma: tuple[Prior, ...] = ()
    coefficients: tuple[Prior, ...] = ()
    interactions: tuple[Prior, ...] = ()

    def __post_init__(self) -> None:
        for slot in _ALL_GRID_SLOTS:
            values = getattr(self, slot)
            if values != ():  # () is the slot left out; anything else is checked
                object.__setattr__(self, slot, _grid_priors("sensitivity", slot, values))
        count = math.prod(max(len(getattr(self, s)), 1) for s in _ALL_GRID_SLOTS)
        if count > MAX_GRID:
            shown = [s for s in _ALL_GRID_SLOTS if s in GRID_SLOTS or getattr(self, s)]
            sizes = " x ".join(f"{len(getattr(self, s))} {s}" for s in shown)
            raise SpecError(
                f"[sensitivity] grid has {count:,} prior combinations "
                f"({sizes}), each a full refit; at most {MAX_GRID} are allowed"
            )

    def by_slot(self) -> dict[str, tuple[Prior, ...]]:
        """The slots given, as ``{slot: (Prior, ...)}`` (the form of :func:`grid_from_table`)."""
        return {slot: getattr(self, slot) for slot in _ALL_GRID_SLOTS if getattr(self, slot)}

    def to_dict(self) -> dict[str, list[str]]:
        """Plain TOML/JSON-ready values: the slots given, priors as strings."""
        return {slot: [str(p) for p in priors] for slot, priors in self.by_slot().items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, network: bool = False) -> SensitivityGrid:
        """Build from a ``[sensitivity]`` table; an unknown key is a SpecError naming it
        (``network``: the slots of a network spec, :data:`NETWORK_GRID_SLOTS`)."""
        return cls(**grid_from_table(d, slots=NETWORK_GRID_SLOTS if network else GRID_SLOTS))
