"""Outcome families as plug-ins, registered by name.

Adding an outcome type means adding one module that defines a :class:`Family` instance and
listing it in :data:`REGISTRY`; nothing else in the package names a family.
"""

from __future__ import annotations

from bayes_ipd.errors import BayesIPDError, SpecError
from bayes_ipd.families.base import Family, ResponseRole
from bayes_ipd.families.binomial import BINOMIAL
from bayes_ipd.families.gaussian import GAUSSIAN
from bayes_ipd.families.negative_binomial import NEGATIVE_BINOMIAL
from bayes_ipd.families.ordinal import ORDINAL
from bayes_ipd.families.poisson import POISSON
from bayes_ipd.families.survival import SURVIVAL

__all__ = ["FAMILY_NAMES", "REGISTRY", "Family", "ResponseRole", "get_family"]

REGISTRY: dict[str, Family] = {
    f.name: f for f in (GAUSSIAN, BINOMIAL, SURVIVAL, POISSON, NEGATIVE_BINOMIAL, ORDINAL)
}
"""Every family, by name, in the order they are listed to users."""

FAMILY_NAMES: tuple[str, ...] = tuple(REGISTRY)


def get_family(name: str | Family, error: type[BayesIPDError] = SpecError) -> Family:
    """The registered family called ``name`` (a :class:`Family` is returned as it is).

    Parameters
    ----------
    name : str or Family
    error : type of BayesIPDError
        Raised for an unknown name, with the valid names listed (the caller's domain:
        :class:`~bayes_ipd.errors.IPDDataError` for data, ``SpecError`` for specs).

    Examples
    --------
    >>> get_family("binomial").scale.code
    'logOR'
    """
    if isinstance(name, Family):
        return name
    family = REGISTRY.get(name) if isinstance(name, str) else None
    if family is None:
        raise error(
            f"unknown family {name!r}; valid families are {', '.join(FAMILY_NAMES)} "
            f"(give one of {', '.join(repr(n) for n in FAMILY_NAMES)})"
        )
    return family
