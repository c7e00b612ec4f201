"""Prior values: :class:`Prior` (``"normal(0, 10)"`` <-> value -> PyMC random variable) and
:class:`PriorSet` (one prior per model slot), independent of any outcome family.

A prior is written as ``name(number, number, ...)``. Known distributions and their
parameters (PyMC / Stan parameterisations):

=============  ======================  ==============
name           parameters              support
=============  ======================  ==============
normal         (mu, sigma)             real
student_t      (nu, mu, sigma)         real
half_normal    (sigma)                 positive
half_cauchy    (scale)                 positive
half_t         (nu, sigma)             positive
exponential    (rate)                  positive
uniform        (lo, hi)                interval
log_normal     (mu, sigma)             positive
log_student_t  (nu, mu, sigma)         positive
=============  ======================  ==============

``log_student_t``: ``log(x) ~ student_t(nu, mu, sigma)``. Named priors such as
``turner(...)`` / ``rhodes(...)`` are read by the parser a higher module registers with
:func:`register_named_prior` (:mod:`bayes_ipd.empirical_priors` does so when imported, and
:mod:`bayes_ipd.priors`, the public face of this module, imports it).

Aliases: ``halfnormal``, ``half-normal`` (and likewise for the other ``half_`` names),
``lognormal``, ``studentt``, ``student-t`` and ``t``. Every prior is proper: the grammar
has no flat or improper distribution.

Model slots
-----------
A one-stage model takes one prior per slot (:data:`SLOTS`): ``intercept``, ``effect``,
``tau``, ``coefficients``, ``interactions``, ``sigma`` and ``moderator``
(:mod:`bayes_ipd.priors` says what each holds and which defaults fill them). ``tau`` and
``sigma`` need a prior on positive values (:func:`check_slot`).

The tau convention
------------------
In the ``tau`` slot, ``log_normal(m, s)`` is a prior on the between-trial **variance**
tau², as in the empirical priors of Turner et al. (2012), so ``log(tau²) ~ Normal(m, s)``
and tau = sqrt(tau²) (likewise ``log_student_t``). Every other distribution in the ``tau``
slot is a prior on tau itself. :func:`tau_to_pymc` applies this rule (it creates ``tau2``
and then the deterministic ``tau``); :func:`tau_scale_prior` gives the implied prior on tau
(a log-normal tau² prior is ``log_normal(m / 2, s / 2)`` on tau). In every other slot a
``log_normal`` prior is on the parameter itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from bayes_ipd.errors import PriorError
from bayes_ipd.prior_grammar import (
    CALL_PATTERN,
    DISTRIBUTIONS,
    NUMBER_PATTERN,
    POSITIVE_SUPPORT,
    VARIANCE_PRIORS,
    HalfT,
    canonical_name,
    float_params,
    format_number,
    parameter_problem,
    signature,
    unknown_distribution,
)

__all__ = [
    "DISTRIBUTIONS",
    "MODERATOR_SLOT",
    "PER_SD_SLOTS",
    "PER_SD_SUFFIX",
    "SLOTS",
    "SLOT_LABELS",
    "TURNER_GENERAL_TAU2",
    "LogT",
    "NamedPriorParser",
    "Prior",
    "PriorSet",
    "as_prior",
    "check_slot",
    "parse_prior",
    "register_named_prior",
    "tau_scale_prior",
    "tau_to_pymc",
]

SLOTS = ("intercept", "effect", "tau", "coefficients", "interactions", "sigma", "moderator")
PER_SD_SUFFIX = " per SD"
PER_SD_SLOTS: tuple[str, ...] = ("coefficients", "interactions")
"""Slots whose default priors are stated per SD of each covariate (its pooled within-trial
SD), not per raw unit: ``normal(0, 2.5)`` per SD of age whatever unit age is in. Priors a
user gives for these slots are per raw unit of the covariate."""
MODERATOR_SLOT = "moderator"
"""Slot of the trial-level moderator coefficients of a one-stage meta-regression
(``gamma_moderator``); every family has it, and it is filled only when the model has
moderators (:func:`bayes_ipd.priors.with_moderator_prior`). Its default is stated per SD of
the moderator across trials (the SD of the trials' values), like :data:`PER_SD_SLOTS` per
covariate SD."""
_PER_SD_ALLOWED = (*PER_SD_SLOTS, MODERATOR_SLOT)

SLOT_LABELS = {
    "intercept": "intercept (alpha)",
    "effect": "effect (mu)",
    "tau": "tau",
    "coefficients": "coefficients (beta)",
    "interactions": "interactions (gamma)",
    "sigma": "sigma",
    "moderator": "moderators (gamma_moderator)",
}
"""How each slot is named in :meth:`PriorSet.describe`."""


class LogT:
    """``x = exp(y)``, ``y ~ student_t(nu, mu, sigma)``: the log-t of bayesmeta's ``dlt5``."""

    def __init__(self, nu: float, mu: float, sigma: float) -> None:
        self._t = stats.t(nu, loc=mu, scale=sigma)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """Log density (``-inf`` at x <= 0)."""
        x = np.asarray(x, dtype=float)
        safe = np.where(x > 0, x, 1.0)
        return np.where(x > 0, self._t.logpdf(np.log(safe)) - np.log(safe), -np.inf)

    def ppf(self, q: np.ndarray) -> np.ndarray:
        """Quantiles: ``exp(mu + sigma * t_nu(q))``."""
        return np.exp(self._t.ppf(np.asarray(q, dtype=float)))

    def rvs(self, size: Any, random_state: np.random.Generator) -> np.ndarray:
        """Draws."""
        return np.exp(self._t.rvs(size=size, random_state=random_state))


@dataclass(frozen=True)
class Prior:
    """A proper prior distribution: a canonical name and its parameters.

    Parameters
    ----------
    dist : str
        One of :data:`DISTRIBUTIONS` (aliases such as ``"halfnormal"`` are accepted and
        stored under the canonical name).
    params : tuple of float
        Parameters in the order of :data:`DISTRIBUTIONS` (``normal(mu, sigma)``).

    Raises
    ------
    PriorError
        Unknown distribution, wrong number of parameters, non-positive scale, rate or
        degrees of freedom, or ``lo >= hi`` for ``uniform``.

    Examples
    --------
    >>> p = Prior("normal", (0, 10))
    >>> str(p)
    'normal(0, 10)'
    >>> p.support
    'real'
    """

    dist: str
    params: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        canonical = canonical_name(str(self.dist))
        if canonical is None:
            raise PriorError(f"prior {self.dist!r}: {unknown_distribution(str(self.dist))}")
        object.__setattr__(self, "dist", canonical)
        object.__setattr__(self, "params", float_params(canonical, self.params))
        problem = parameter_problem(canonical, self.params)
        if problem is not None:
            raise PriorError(f"prior {str(self)!r}: {problem}")

    def __str__(self) -> str:
        return f"{self.dist}({', '.join(format_number(p) for p in self.params)})"

    @property
    def support(self) -> str:
        """``"real"``, ``"positive"`` or ``"interval"`` (uniform)."""
        if self.dist in POSITIVE_SUPPORT:
            return "positive"
        if self.dist == "uniform":
            return "interval"
        return "real"

    def to_pymc(self, name: str, *, dims: Any = None, shape: Any = None, params: Any = None) -> Any:
        """Create this prior as a PyMC random variable in the current model context.

        Parameters
        ----------
        name : str
            Name of the variable.
        dims, shape : optional
            Passed to the PyMC distribution (``dims="study"``).
        params : sequence of tensors, optional
            Used in place of :attr:`params` (``pm.Data`` entries: a refit swaps the data).

        Returns
        -------
        pytensor.tensor.TensorVariable
            The random variable. Inside the ``tau`` slot use :func:`tau_to_pymc`, which
            applies the tau² convention for ``log_normal``.
        """
        import pymc as pm

        extra = {k: v for k, v in (("dims", dims), ("shape", shape)) if v is not None}
        p = self.params if params is None else params
        match self.dist:
            case "normal":
                return pm.Normal(name, mu=p[0], sigma=p[1], **extra)
            case "student_t":
                return pm.StudentT(name, nu=p[0], mu=p[1], sigma=p[2], **extra)
            case "half_normal":
                return pm.HalfNormal(name, sigma=p[0], **extra)
            case "half_cauchy":
                return pm.HalfCauchy(name, beta=p[0], **extra)
            case "half_t":
                return pm.HalfStudentT(name, nu=p[0], sigma=p[1], **extra)
            case "exponential":
                return pm.Exponential(name, lam=p[0], **extra)
            case "uniform":
                return pm.Uniform(name, lower=p[0], upper=p[1], **extra)
            case "log_normal":
                return pm.LogNormal(name, mu=p[0], sigma=p[1], **extra)
            case "log_student_t":
                log_x = pm.StudentT(f"{name}_log", nu=p[0], mu=p[1], sigma=p[2], **extra)
                return pm.Deterministic(name, pm.math.exp(log_x), dims=dims)
        raise AssertionError(f"unhandled distribution {self.dist}")  # pragma: no cover

    def _scipy(self) -> Any:
        """The frozen scipy.stats distribution (or equivalent) of this prior."""
        p = self.params
        match self.dist:
            case "normal":
                return stats.norm(loc=p[0], scale=p[1])
            case "student_t":
                return stats.t(p[0], loc=p[1], scale=p[2])
            case "half_normal":
                return stats.halfnorm(scale=p[0])
            case "half_cauchy":
                return stats.halfcauchy(scale=p[0])
            case "half_t":
                return HalfT(p[0], p[1])
            case "exponential":
                return stats.expon(scale=1.0 / p[0])
            case "uniform":
                return stats.uniform(loc=p[0], scale=p[1] - p[0])
            case "log_normal":
                return stats.lognorm(s=p[1], scale=math.exp(p[0]))
            case "log_student_t":
                return LogT(*p)
        raise AssertionError(f"unhandled distribution {self.dist}")  # pragma: no cover

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """Log density at ``x`` (``-inf`` outside the support)."""
        return np.asarray(self._scipy().logpdf(np.asarray(x, dtype=float)))

    def ppf(self, q: np.ndarray) -> np.ndarray:
        """Quantile function at probabilities ``q``."""
        return np.asarray(self._scipy().ppf(np.asarray(q, dtype=float)))

    def rvs(self, size: Any, rng: np.random.Generator) -> np.ndarray:
        """``size`` independent draws using the numpy Generator ``rng``."""
        return np.asarray(self._scipy().rvs(size=size, random_state=rng))


NamedPriorParser = Callable[[str, str], Prior]
"""``parser(inner, text) -> Prior`` for a named prior ``name(inner)``; ``text`` is the
whole prior text, for messages."""

_NAMED_PRIORS: dict[str, NamedPriorParser] = {}


def register_named_prior(name: str, parser: NamedPriorParser) -> None:
    """Let :func:`parse_prior` read ``name(...)`` with ``parser``.

    The parsers of named priors live above this module (:mod:`bayes_ipd.empirical_priors`
    registers ``turner`` and ``rhodes`` when it is imported), so that prior values need no
    table of published priors.
    """
    _NAMED_PRIORS[name.lower()] = parser


def parse_prior(text: str) -> Prior:
    """Read a prior written as ``name(number, ...)``.

    Spaces are optional; numbers may be negative and in scientific notation. A named prior
    (``turner(...)``, ``rhodes(...)``) is read by its registered parser
    (:func:`register_named_prior`).

    Parameters
    ----------
    text : str
        For example ``"normal(0, 2.5)"``, ``"half-normal(1)"``, ``"t(3, 0, 2.5)"``.

    Returns
    -------
    Prior

    Raises
    ------
    PriorError
        Quoting ``text``: not of the form ``name(...)``, unknown distribution (the known
        ones are listed), a parameter that is not a number, the wrong number of parameters
        (the expected ones are named) or an invalid value.

    Examples
    --------
    >>> parse_prior("halfnormal( 2.5e-1 )")
    Prior(dist='half_normal', params=(0.25,))
    """
    if not isinstance(text, str):
        raise PriorError(f"prior must be a string such as 'normal(0, 10)', got {text!r}")
    call = CALL_PATTERN.match(text)
    if call is None:
        raise PriorError(
            f"prior {text!r}: expected the form name(number, ...), e.g. 'normal(0, 10)'"
        )
    name, inner = call.groups()
    named = _NAMED_PRIORS.get(name.lower())
    if named is not None:
        return named(inner, text)
    dist = canonical_name(name)
    if dist is None:
        raise PriorError(f"prior {text!r}: {unknown_distribution(name)}")
    pieces = [piece.strip() for piece in inner.split(",")] if inner.strip() else []
    for piece in pieces:
        if not NUMBER_PATTERN.match(piece):
            raise PriorError(
                f"prior {text!r}: parameter {piece!r} is not a number (expected {signature(dist)})"
            )
    params = tuple(float(piece) for piece in pieces)
    problem = parameter_problem(dist, params)
    if problem is not None:
        raise PriorError(f"prior {text!r}: {problem}")
    return Prior(dist, params)


def as_prior(value: str | Prior) -> Prior:
    """``value`` as a :class:`Prior`, parsing it when it is a string."""
    if isinstance(value, Prior):
        return value
    if isinstance(value, str):
        return parse_prior(value)
    raise PriorError(f"prior must be a string or a Prior, got {type(value).__name__} {value!r}")


def check_slot(slot: str, prior: Prior) -> None:
    """Check that ``prior`` may be used in model slot ``slot``.

    ``tau`` and ``sigma`` need a prior on positive values: a ``half_*``, ``exponential``
    or ``log_normal`` prior, or ``uniform(lo, hi)`` with ``lo >= 0``.

    Raises
    ------
    PriorError
        Unknown slot (the slots are listed) or a prior whose support does not fit.
    """
    if slot not in SLOTS:
        raise PriorError(f"unknown prior slot {slot!r}; slots are: {', '.join(SLOTS)}")
    if slot not in ("tau", "sigma"):
        return
    positive = prior.support == "positive" or (prior.dist == "uniform" and prior.params[0] >= 0)
    if not positive:
        raise PriorError(
            f"prior for {slot!r} must be on positive values, but {prior} has "
            f"{'negative values' if prior.dist == 'uniform' else 'support on all reals'}; "
            "use half_normal, half_cauchy, half_t, exponential, log_normal or "
            "uniform(lo, hi) with lo >= 0"
        )


def tau_scale_prior(prior: Prior) -> Prior:
    """The prior on tau implied by ``prior`` in the ``tau`` slot.

    Under the tau convention ``log_normal(m, s)`` is a prior on tau²; since
    ``log(tau) = log(tau²) / 2``, the prior on tau is ``log_normal(m / 2, s / 2)``. Every
    other prior is already on tau and is returned unchanged.

    Examples
    --------
    >>> str(tau_scale_prior(TURNER_GENERAL_TAU2))
    'log_normal(-1.28, 0.87)'
    """
    check_slot("tau", prior)
    if prior.dist == "log_normal":
        m, s = prior.params
        return Prior("log_normal", (m / 2.0, s / 2.0))
    if prior.dist == "log_student_t":
        nu, m, s = prior.params
        return Prior("log_student_t", (nu, m / 2.0, s / 2.0))
    return prior


def tau_to_pymc(
    prior: Prior, name: str = "tau", *, dims: Any = None, shape: Any = None, params: Any = None
) -> Any:
    """Create the between-trial SD in the current PyMC model, with the tau convention.

    A ``log_normal`` prior is on tau²: this creates the random variable ``f"{name}2"``
    (``tau2``) and the deterministic ``name`` = sqrt(tau2). Any other prior creates the
    random variable ``name`` directly.

    Parameters
    ----------
    prior : Prior
        A prior fit for the ``tau`` slot (positive support).
    name : str
        Name of tau in the model.
    dims, shape : optional
        Passed to PyMC.
    params : sequence of tensors, optional
        As in :meth:`Prior.to_pymc`.

    Returns
    -------
    pytensor.tensor.TensorVariable
        tau (the random variable or the deterministic).
    """
    check_slot("tau", prior)
    if prior.dist not in VARIANCE_PRIORS:
        return prior.to_pymc(name, dims=dims, shape=shape, params=params)
    import pymc as pm

    tau2 = prior.to_pymc(f"{name}2", dims=dims, shape=shape, params=params)
    return pm.Deterministic(name, pm.math.sqrt(tau2), dims=dims)


@dataclass(frozen=True)
class PriorSet:
    """One prior per model slot, all filled (``sigma`` is None outside the gaussian family).

    Strings are accepted and parsed; each prior is checked against its slot.

    Examples
    --------
    >>> per_sd = "normal(0, 2.5) per SD"
    >>> priors = PriorSet("normal(0, 10)", "normal(0, 2.5)", "half_normal(1)", per_sd, per_sd)
    >>> print(priors.describe())
    intercept (alpha) ~ normal(0, 10)
    effect (mu) ~ normal(0, 2.5)
    tau ~ half_normal(1)
    coefficients (beta) ~ normal(0, 2.5) per SD of each covariate
    interactions (gamma) ~ normal(0, 2.5) per SD of each covariate
    """

    intercept: Prior
    effect: Prior
    tau: Prior
    coefficients: Prior
    interactions: Prior
    sigma: Prior | None = None
    per_sd: tuple[str, ...] = ()
    outcome_sd: float | None = None
    moderator: Prior | None = None

    def __post_init__(self) -> None:
        marked = tuple(s for s in _PER_SD_ALLOWED if _is_per_sd_text(getattr(self, s)))
        for slot in marked:
            text = str(getattr(self, slot))
            object.__setattr__(self, slot, text[: -len(PER_SD_SUFFIX)].rstrip())
        object.__setattr__(self, "per_sd", tuple(dict.fromkeys((*self.per_sd, *marked))))
        unknown = [s for s in self.per_sd if s not in _PER_SD_ALLOWED]
        if unknown:
            raise PriorError(f"per_sd slots {unknown} must be among {_PER_SD_ALLOWED}")
        for slot in SLOTS:
            value = getattr(self, slot)
            if value is None and slot in ("sigma", MODERATOR_SLOT):
                continue
            prior = as_prior(value)
            check_slot(slot, prior)
            object.__setattr__(self, slot, prior)

    def items(self) -> Iterator[tuple[str, Prior]]:
        """``(slot, prior)`` pairs in :data:`SLOTS` order, leaving out an empty sigma (and an
        empty moderator slot: a model without moderators)."""
        for slot in SLOTS:
            prior = getattr(self, slot)
            if prior is not None:
                yield slot, prior

    def describe(self, slots: Collection[str] | None = None) -> str:
        """One line per slot, e.g. ``effect (mu) ~ normal(0, 2.5)``.

        A coefficient prior stated per SD of each covariate says so; a scale that is a
        multiple of the outcome's SD (gaussian defaults) is also written as that multiple,
        e.g. ``normal(0, 127.1)  [0, 10 × outcome SD; outcome SD 12.71]``.

        Parameters
        ----------
        slots : collection of str, optional
            Describe only these slots (e.g. a fitted model's
            :attr:`~bayes_ipd.one_stage.builder.BuiltModel.prior_slots`); default: all.
        """
        lines = []
        for slot, prior in self.items():
            if slots is not None and slot not in slots:
                continue
            if slot == "tau" and prior.dist in VARIANCE_PRIORS:
                on, q = tau_scale_prior(prior), tau_scale_prior(prior).ppf([0.025, 0.5, 0.975])
                lines.append(f"tau² ~ {prior}  (tau = sqrt(tau²)); on tau: {on}, 2.5% / 50% / "
                             f"97.5%: {q[0]:.4g} / {q[1]:.4g} / {q[2]:.4g}")  # fmt: skip
                continue
            line = f"{SLOT_LABELS[slot]} ~ {prior}"
            if slot in self.per_sd:
                line += (
                    " per SD of each moderator across trials"
                    if slot == MODERATOR_SLOT
                    else " per SD of each covariate"
                )
            lines.append(line + self._in_outcome_sds(slot, prior))
        return "\n".join(lines)

    def _in_outcome_sds(self, slot: str, prior: Prior) -> str:
        """``"  [10 × outcome SD; outcome SD 12.71]"`` when the scale is such a multiple."""
        if self.outcome_sd is None or not prior.params:
            return ""
        multiple = prior.params[-1] / self.outcome_sd
        nice = float(f"{multiple:.2g}")
        if not math.isclose(multiple, nice, rel_tol=1e-3):
            return ""
        return f"  [scale {nice:g} × outcome SD; outcome SD {self.outcome_sd:.4g}]"

    def to_dict(self) -> dict[str, str]:
        """``{slot: "normal(0, 10)"}``, leaving out an empty sigma; a prior stated per SD
        of each covariate ends in ``" per SD"`` (``PriorSet(**d)`` reads it back)."""
        return {
            slot: f"{prior}{PER_SD_SUFFIX}" if slot in self.per_sd else str(prior)
            for slot, prior in self.items()
        }


def _is_per_sd_text(value: Any) -> bool:
    return isinstance(value, str) and value.rstrip().lower().endswith(PER_SD_SUFFIX.lower())


#: Turner et al. (2012), Int J Epidemiol 41(3):818-827, predictive distribution for the
#: general healthcare setting: tau² of a log odds ratio ~ LN(-2.56, 1.74²).
TURNER_GENERAL_TAU2 = Prior("log_normal", (-2.56, 1.74))
