"""``bi.fit(network, spec, sampler)``: a :class:`ModelSpec` read for the network model.

:func:`~bayes_ipd.one_stage.fitting.fit` takes the network route when its data is a
:class:`~bayes_ipd.data.network.Network` (``bi.IPD.from_frame(..., reference=...)``) or the
spec names a ``reference``. The one-stage network model
(:mod:`~bayes_ipd.one_stage.network_model`) reads only the spec's family, priors and
reference; every other field it has no meaning for is refused by name here when it is not
at its default, rather than ignored. Then :func:`fit_network_bayes_data` runs with random
effects.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from bayes_ipd.data.network import Network
from bayes_ipd.errors import SpecError
from bayes_ipd.one_stage.network_fit import fit_network_bayes_data
from bayes_ipd.spec import ModelSpec

if TYPE_CHECKING:
    from bayes_ipd.one_stage.network_posterior import NetworkPosterior
    from bayes_ipd.priors import PriorSet
    from bayes_ipd.spec import SamplerSettings

__all__ = ["NETWORK_SPEC_FIELDS", "check_network_spec", "fit_network_spec", "wants_network"]

NETWORK_SPEC_FIELDS = ("family", "priors", "reference")
"""The :class:`ModelSpec` fields the network model reads; the others must keep their
defaults."""

_COVARIATE_FIELDS = ("covariates", "interactions", "covariate_effects", "random_interactions")


def wants_network(data: Any, spec: ModelSpec | None) -> bool:
    """True when ``bi.fit`` should take the network route: a ``Network`` as data, or a
    spec with a ``reference``."""
    return isinstance(data, Network) or (spec is not None and spec.reference is not None)


def _refusal(name: str, value: Any) -> SpecError:
    if name in _COVARIATE_FIELDS:
        return SpecError(
            f"model.{name} = {value!r}: the network model of bi.fit has no covariates; fit "
            "a network with covariates and interactions by bi.fit_network(rows, ..., "
            "covariates=[...], interactions=[...], route='one-stage')"
        )
    return SpecError(
        f"model.{name} = {value!r} has no meaning in the one-stage network model (bi.fit of "
        f"a network reads only {', '.join(NETWORK_SPEC_FIELDS)}); leave it at its default"
    )


def check_network_spec(network: Network, spec: ModelSpec) -> None:
    """Refuse a spec the network model cannot honour.

    Parameters
    ----------
    network : Network
    spec : ModelSpec

    Raises
    ------
    SpecError
        ``spec.reference`` differs from the network's (both named), ``spec.family``
        differs from the network's, or a field outside :data:`NETWORK_SPEC_FIELDS` is not
        at its default (the field named).
    """
    if spec.reference is not None and spec.reference != network.reference:
        raise SpecError(
            f"model.reference = {spec.reference!r} differs from the network's reference "
            f"{network.reference!r} (its treatment order is built on it): build the network "
            f"with bi.IPD.from_frame(..., reference={spec.reference!r})"
        )
    if spec.family != network.family:
        raise SpecError(
            f"model.family = {spec.family!r} differs from the network's family {network.family!r}"
        )
    default = ModelSpec(family=spec.family)
    for item in dataclasses.fields(ModelSpec):
        if item.name in NETWORK_SPEC_FIELDS:
            continue
        value = getattr(spec, item.name)
        if value != getattr(default, item.name):
            raise _refusal(item.name, value)


def fit_network_spec(
    data: Any,
    spec: ModelSpec | None,
    sampler: SamplerSettings | None,
    *,
    priors: PriorSet | None = None,
    duplicates: str = "error",
) -> NetworkPosterior:
    """The network route of ``bi.fit``: the one-stage network model, random effects.

    Parameters
    ----------
    data : Network
        The rows as a network (``bi.IPD.from_frame(..., reference=...)``).
    spec : ModelSpec, optional
        By default ``ModelSpec(family=data.family)``; checked by
        :func:`check_network_spec`.
    sampler : SamplerSettings, optional
    priors : PriorSet, optional
        Priors in use; by default the spec's (unset slots: the network model's defaults).
    duplicates : {"error"}
        Only the default: a network holds no trial summaries.

    Returns
    -------
    NetworkPosterior
        ``network()`` gives the tables, ``to_dict()`` the JSON of the one-stage route.

    Raises
    ------
    SpecError
        Two-arm data with ``spec.reference``, a spec the network model cannot honour,
        ``duplicates`` other than ``"error"``.
    """
    if not isinstance(data, Network):
        reference = None if spec is None else spec.reference
        raise SpecError(
            f"model.reference = {reference!r} needs a network of treatments as data, not "
            f"{type(data).__name__}: build it with bi.IPD.from_frame(rows, study=..., "
            f"treatment=..., outcome=..., family=..., reference={reference!r})"
        )
    if duplicates != "error":
        raise SpecError(f"duplicates={duplicates!r} has no meaning for a network")
    spec = ModelSpec(family=data.family) if spec is None else spec
    check_network_spec(data, spec)
    chosen = priors if priors is not None else (dict(spec.priors) or None)
    return fit_network_bayes_data(data, sampler=sampler, priors=chosen, effects="random")
