"""The repeated-measures keys of a TOML spec (``[data] visit``; ``docs/longitudinal.md``).

With ``[data] visit`` a spec describes long data (one row per participant and visit) and
``bayes-ipd run`` fits the one-stage Bayesian MMRM (``bayes_ipd.fit_repeated``) beside the
two-stage route (an MMRM per trial, pooled per visit and jointly). The ``[model]`` table then
takes, besides ``covariates``, ``interactions`` (at the primary visit, within / across
trials; one-stage only) and ``residual_sd``:

* ``effect_time`` (``"visit"``: an effect per visit; ``"slope"``: a treatment-by-time line),
  ``eta`` (the LKJ shape of the correlation priors): the one-stage model;
* ``covariance`` (``"unstructured"``, ``"cs"``, ``"ar1"``: a participant's visits in each
  trial's MMRM) and ``between`` (``"unstructured"``, ``"cs"``: the visits' effects across
  trials in the joint pooling): the two-stage route, as ``two-stage --covariance`` and
  ``--between``.

The ``[priors]`` slots the one-stage MMRM takes are ``effect = "normal(0, S)"``,
``tau = "half_normal(S)"`` and ``sigma = "half_normal(S)"`` (:func:`repeated_prior_scales`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bayes_ipd.errors import SpecError
from bayes_ipd.families import get_family
from bayes_ipd.spec_values import check_keys, choice

__all__ = [
    "BETWEEN",
    "COVARIANCES",
    "EFFECT_TIMES",
    "REPEATED_MODEL_KEYS",
    "RepeatedSettings",
    "check_repeated_spec",
    "repeated_prior_scales",
]

EFFECT_TIMES = ("visit", "slope")
COVARIANCES = ("unstructured", "cs", "ar1")
BETWEEN = ("unstructured", "cs")
REPEATED_MODEL_KEYS = ("effect_time", "eta", "covariance", "between")
"""``[model]`` keys read only with ``[data] visit``."""

SHARED_MODEL_KEYS = ("covariates", "interactions", "residual_sd")
"""``[model]`` keys of the ordinary model that the repeated-measures model also takes."""

PRIOR_SCALES: dict[str, tuple[str, str]] = {
    "effect": ("normal", "effect_sd"),
    "tau": ("half_normal", "tau_scale"),
    "sigma": ("half_normal", "sigma_scale"),
}
"""Prior slot -> (the distribution it must be, the one-stage MMRM option it sets)."""

RESIDUAL_OF_SD = {"per_study": "trial", "common": "common"}
"""``[model] residual_sd`` -> the one-stage MMRM's ``residual`` option."""


@dataclass(frozen=True)
class RepeatedSettings:
    """The repeated-measures options of ``[model]`` (module docstring).

    Parameters
    ----------
    effect_time : {"visit", "slope"}
    eta : float
        LKJ shape (> 0) of the one-stage model's correlation priors.
    covariance : {"unstructured", "cs", "ar1"}
        Two-stage: each trial's MMRM covariance of a participant's visits.
    between : {"unstructured", "cs"}
        Two-stage: the between-trial covariance of the joint pooling.
    """

    effect_time: str = "visit"
    eta: float = 2.0
    covariance: str = "unstructured"
    between: str = "unstructured"

    def __post_init__(self) -> None:
        choice("model.effect_time", self.effect_time, EFFECT_TIMES)
        choice("model.covariance", self.covariance, COVARIANCES)
        choice("model.between", self.between, BETWEEN)
        eta = self.eta
        ok = isinstance(eta, numbers.Real) and not isinstance(eta, bool)
        if not ok or not (math.isfinite(float(eta)) and float(eta) > 0):
            raise SpecError(f"model.eta = {eta!r} must be a positive number (LKJ shape)")
        object.__setattr__(self, "eta", float(eta))

    def to_dict(self) -> dict[str, Any]:
        """Plain TOML/JSON-ready values (the ``[model]`` keys)."""
        return {key: getattr(self, key) for key in REPEATED_MODEL_KEYS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RepeatedSettings:
        """From the repeated-measures keys of a ``[model]`` table."""
        check_keys("model", d, REPEATED_MODEL_KEYS)
        return cls(**d)


def repeated_prior_scales(priors: Mapping[str, Any]) -> dict[str, float]:
    """The one-stage MMRM's prior options (``effect_sd``, ``tau_scale``, ``sigma_scale``)
    from a spec's priors (:class:`~bayes_ipd.prior_values.Prior` by slot).

    Raises
    ------
    SpecError
        A slot the MMRM does not take, another distribution, or a non-zero effect mean.
    """
    out: dict[str, float] = {}
    for slot, prior in priors.items():
        if slot not in PRIOR_SCALES:
            raise SpecError(
                f"priors.{slot}: the repeated-measures model (data.visit) takes priors "
                f"{', '.join(PRIOR_SCALES)} only"
            )
        dist, option = PRIOR_SCALES[slot]
        params = tuple(prior.params)
        if prior.dist != dist or (dist == "normal" and params[0] != 0):
            form = "normal(0, S)" if dist == "normal" else "half_normal(S)"
            raise SpecError(
                f"priors.{slot} = {str(prior)!r}: the repeated-measures model (data.visit) "
                f"takes {slot} = {form!r}"
            )
        out[option] = float(params[-1])
    return out


def check_repeated_spec(data: Any, model: Any, model_keys: set[str], sections: set[str]) -> None:
    """A spec with ``[data] visit``: the family takes repeated measures, the ``[model]``
    table holds only keys the MMRM reads, and no section of the ordinary analysis
    (``[ite]``, ``[sensitivity]``, ``[report]``, ``[harmonise]`` aside) is given.

    ``model_keys`` are the keys written in ``[model]``, ``sections`` the spec's sections.
    """
    if not get_family(data.family).repeated_measures:
        raise SpecError(
            f"data.visit (repeated measures) is for family 'gaussian', not {data.family!r}"
        )
    if data.path is None or data.summaries or data.aggregate is not None:
        raise SpecError(
            "data.visit needs participant rows (data.path) and takes no summaries or "
            "aggregate trials"
        )
    if data.missing == "impute":
        raise SpecError(
            'data.missing = "impute" is not for repeated measures: a missing visit is left '
            'out of the likelihood (valid under MAR); use "error" or "drop"'
        )
    allowed = (*SHARED_MODEL_KEYS, *REPEATED_MODEL_KEYS)
    given, default = model.to_dict(), type(model)(family=model.family).to_dict()
    for key in sorted(model_keys):  # a default value written back by write_analysis_spec: ok
        if key not in allowed and given.get(key) != default.get(key):
            raise SpecError(
                f"model.{key} is not taken by the repeated-measures model (data.visit); "
                f"it takes {', '.join(allowed)}"
            )
    for section in ("ite", "sensitivity", "report"):
        if section in sections:
            raise SpecError(f"[{section}] is not available with data.visit (repeated measures)")
    repeated_prior_scales(model.priors)
