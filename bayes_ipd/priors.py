"""Priors by model slot, with the defaults and slots of each outcome family.

A prior is written as ``name(number, ...)``, e.g. ``"normal(0, 10)"``, ``"half_normal(1)"``,
``"log_student_t(5, -3.44, 2.59)"``; :mod:`bayes_ipd.prior_values` tabulates the
distributions, their parameters and aliases, and holds the values themselves
(:class:`Prior`, :class:`PriorSet`, :func:`tau_to_pymc`, ...), which this module re-exports.
``turner(...)`` / ``rhodes(...)`` name empirical tau priors
(:mod:`bayes_ipd.empirical_priors`). Every prior is proper: the grammar has no flat or
improper distribution.

Model slots
-----------
A one-stage model takes one prior per slot: ``intercept`` (trial intercepts alpha_k, or
their mean under random intercepts), ``effect`` (mean treatment effect mu), ``tau``
(between-trial SD of the treatment effect), ``coefficients`` (prognostic covariate effects
beta, **per unit of the raw covariate**, which is centred within trial but not scaled),
``interactions`` (treatment-covariate interactions gamma, per unit of the covariate) and
``sigma`` (residual SD, gaussian family only) and, in a model with trial-level moderators
(``ModelSpec(moderators=...)``), ``moderator`` (the across-trial meta-regression
coefficients ``gamma_moderator``, per unit of the moderator; default: the family's
interaction default per SD of the moderator across trials, :func:`with_moderator_prior`).
``tau`` and ``sigma`` need a prior on positive values.

The tau convention
------------------
In the ``tau`` slot, ``log_normal(m, s)`` is a prior on the between-trial **variance**
tau², as in the empirical priors of Turner et al. (2012), so ``log(tau²) ~ Normal(m, s)``
and tau = sqrt(tau²). Every other distribution in the ``tau`` slot is a prior on tau
itself. :func:`tau_to_pymc` applies this rule; :func:`tau_scale_prior` gives the implied
prior on tau. In every other slot a ``log_normal`` prior is on the parameter itself.

Default priors
--------------
Weakly informative and on the scale of the outcome.

*gaussian* family, with ``s`` the pooled within-trial SD of the outcome and ``m`` its mean
(0 when not given); numbers are rounded to 4 significant digits:

* intercept ``normal(m, 10 s)``
* effect ``normal(0, 10 s)``
* tau ``half_normal(s)``
* coefficients ``normal(0, 10 s)`` (per unit of the covariate)
* interactions ``normal(0, 10 s)`` (per unit of the covariate)
* sigma ``half_normal(5 s)``

*binomial* and *survival* families (log odds / log hazard scale):

* intercept ``normal(0, 10)``
* effect ``normal(0, 2.5)``
* tau ``half_normal(1)``
* coefficients ``normal(0, 2.5)``
* interactions ``normal(0, 2.5)``
* sigma: none (no residual SD)

A ready-made empirical prior, :data:`TURNER_GENERAL_TAU2`, is the generic-setting
predictive distribution for tau² of a log odds ratio of Turner et al. (2012).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

from bayes_ipd.empirical_priors import warn_scale_mismatch
from bayes_ipd.errors import PriorError
from bayes_ipd.families import FAMILY_NAMES, Family, get_family
from bayes_ipd.prior_values import (
    DISTRIBUTIONS,
    MODERATOR_SLOT,
    PER_SD_SLOTS,
    PER_SD_SUFFIX,
    SLOTS,
    TURNER_GENERAL_TAU2,
    Prior,
    PriorSet,
    as_prior,
    check_slot,
    parse_prior,
    tau_scale_prior,
    tau_to_pymc,
)

__all__ = [
    "DISTRIBUTIONS",
    "FAMILIES",
    "MODERATOR_SLOT",
    "PER_SD_SLOTS",
    "PER_SD_SUFFIX",
    "SLOTS",
    "TURNER_GENERAL_TAU2",
    "Prior",
    "PriorSet",
    "as_prior",
    "check_family_slots",
    "check_slot",
    "default_priors",
    "parse_prior",
    "resolve_priors",
    "tau_scale_prior",
    "tau_to_pymc",
    "with_moderator_prior",
]

FAMILIES = FAMILY_NAMES

_SLOT_MEANINGS = {"sigma": "residual SD", "coefficients": "covariate coefficients"}


def _check_outcome_scale(outcome_sd: float | None, outcome_mean: float | None) -> None:
    if outcome_sd is None:
        raise PriorError(
            "gaussian default priors need outcome_sd (pooled within-trial SD of the outcome)"
        )
    if not math.isfinite(outcome_sd) or outcome_sd <= 0:
        raise PriorError(
            f"the gaussian default priors are scaled by the outcome's pooled within-trial SD "
            f"(outcome_sd), "
            f"which is {outcome_sd!r} here (it must be finite and > 0: check the outcome "
            "column for values so large that their squares overflow, or for no spread "
            "within any trial arm), or give every prior explicitly"
        )
    if outcome_mean is not None and not math.isfinite(outcome_mean):
        raise PriorError(f"outcome_mean must be a finite number, got {outcome_mean!r}")


def default_priors(
    family: str | Family, *, outcome_sd: float | None = None, outcome_mean: float | None = None
) -> PriorSet:
    """Weakly informative default priors of ``family`` (each family module states its rules).

    Parameters
    ----------
    family : str or Family
        A registered family (``"gaussian"``, ``"binomial"``, ``"survival"``).
    outcome_sd : float, optional
        Pooled within-trial SD of the outcome; required for a family with scale-aware
        defaults (gaussian).
    outcome_mean : float, optional
        Mean of the outcome (gaussian intercept prior centre); 0 when not given.

    Examples
    --------
    >>> default_priors("gaussian", outcome_sd=2.0, outcome_mean=5.0).to_dict()["sigma"]
    'half_normal(10)'
    """
    fam = get_family(family)
    if fam.needs_outcome_scale:
        _check_outcome_scale(outcome_sd, outcome_mean)
    params = fam.default_prior_params(outcome_sd, outcome_mean)
    return PriorSet(
        **{slot: Prior(*params[slot]) if slot in params else None for slot in SLOTS},
        per_sd=PER_SD_SLOTS,
        outcome_sd=outcome_sd if fam.needs_outcome_scale else None,
    )


def resolve_priors(
    family: str | Family,
    user: Mapping[str, str | Prior],
    *,
    outcome_sd: float | None = None,
    outcome_mean: float | None = None,
) -> PriorSet:
    """The default priors of ``family`` with the user's priors put in their slots.

    Parameters
    ----------
    family : str or Family
    user : mapping of slot to prior (string or Prior)
        Overrides, e.g. ``{"tau": "half_normal(0.5)"}``.
    outcome_sd, outcome_mean : float, optional
        As in :func:`default_priors`; ``outcome_sd`` may be left out for the gaussian
        family only when the user gives every slot.

    Raises
    ------
    PriorError
        Unknown slot, a prior unfit for its slot, a prior for a slot the family does not
        have (``sigma`` outside the gaussian family), or a missing ``outcome_sd`` needed by
        a default.
    """
    fam = get_family(family)
    given: dict[str, Prior] = {}
    for slot, value in user.items():
        prior = as_prior(value)
        check_slot(slot, prior)
        given[slot] = prior
        if getattr(prior, "effect_scale", None) is not None:
            warn_scale_mismatch(fam.scale, slot, prior, model=fam.name)
    check_family_slots(fam, given)
    needed = [s for s in fam.prior_slots if s not in given]
    if fam.needs_outcome_scale and outcome_sd is None and needed:
        raise PriorError(
            f"{fam.name} default priors need outcome_sd (pooled within-trial SD of the "
            f"outcome); give it, or give priors for: {', '.join(needed)}"
        )
    if not needed:
        return PriorSet(**{s: given.get(s) for s in SLOTS})
    defaults = default_priors(fam, outcome_sd=outcome_sd, outcome_mean=outcome_mean)
    return PriorSet(
        **{s: given.get(s, getattr(defaults, s)) for s in SLOTS},
        per_sd=tuple(s for s in defaults.per_sd if s not in given),
        outcome_sd=defaults.outcome_sd,
    )


def check_family_slots(family: Family, priors: Mapping[str, Prior], where: str = "") -> None:
    """Refuse a prior for a slot the family's model does not have (e.g. ``sigma``)."""
    for slot, prior in priors.items():
        if slot not in family.prior_slots and slot != MODERATOR_SLOT:
            raise PriorError(
                f"a {where}{slot} prior ({prior}) was given, but the {family.name} family has "
                f"no {_SLOT_MEANINGS.get(slot, slot)}; remove it"
            )


def with_moderator_prior(
    priors: PriorSet, family: str | Family, outcome_sd: float | None = None
) -> PriorSet:
    """``priors`` with the ``moderator`` slot filled (for a model with trial-level moderators).

    A moderator prior already given is kept (per raw unit of the moderator). Otherwise the
    default is the family's default interaction prior, stated per SD of each moderator
    across trials: ``normal(0, 2.5)`` per SD on the log odds / log hazard scale, and
    ``normal(0, 2.5 s)`` per SD for gaussian (``s`` the pooled within-trial outcome SD) --
    a moderator's association with the trial effect is the across-trial counterpart of a
    treatment-covariate interaction.

    Raises
    ------
    PriorError
        A family whose defaults need the outcome SD, without it (aggregate data only): the
        moderator prior must then be given.
    """
    if priors.moderator is not None:
        return priors
    fam = get_family(family)
    if fam.needs_outcome_scale and outcome_sd is None:
        raise PriorError(
            f"a {fam.name} model with moderators and no participant rows has no outcome SD "
            "for the default moderator prior; give priors.moderator, e.g. 'normal(0, 1)' "
            "(per unit of the moderator)"
        )
    dist, params = fam.default_prior_params(outcome_sd, None)["interactions"]
    return replace(
        priors,
        moderator=Prior(dist, params),
        per_sd=(*priors.per_sd, MODERATOR_SLOT),
    )
