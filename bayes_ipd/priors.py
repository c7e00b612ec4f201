"""Prior grammar: ``"normal(0, 10)"`` <-> :class:`Prior` -> PyMC random variable.

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
=============  ======================  ==============

Aliases: ``halfnormal``, ``half-normal`` (and likewise for the other ``half_`` names),
``lognormal``, ``studentt``, ``student-t`` and ``t``. Every prior is proper: the grammar
has no flat or improper distribution.

Model slots
-----------
A one-stage model takes one prior per slot: ``intercept`` (trial intercepts alpha_k, or
their mean under random intercepts), ``effect`` (mean treatment effect mu), ``tau``
(between-trial SD of the treatment effect), ``coefficients`` (prognostic covariate effects
beta, **per unit of the raw covariate**, which is centred within trial but not scaled),
``interactions`` (treatment-covariate interactions gamma, per unit of the covariate) and
``sigma`` (residual SD, gaussian family only). ``tau`` and ``sigma`` need a prior on
positive values.

The tau convention
------------------
In the ``tau`` slot, ``log_normal(m, s)`` is a prior on the between-trial **variance**
tau², as in the empirical priors of Turner et al. (2012), so ``log(tau²) ~ Normal(m, s)``
and tau = sqrt(tau²). Every other distribution in the ``tau`` slot is a prior on tau
itself. :func:`tau_to_pymc` applies this rule (it creates ``tau2`` and then the
deterministic ``tau``); :func:`tau_scale_prior` gives the implied prior on tau (a
log-normal tau² prior is ``log_normal(m / 2, s / 2)`` on tau). In every other slot a
``log_normal`` prior is on the parameter itself.

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
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from bayes_ipd.errors import PriorError
from bayes_ipd.families import FAMILY_NAMES, Family, get_family

__all__ = [
    "DISTRIBUTIONS",
    "FAMILIES",
    "SLOTS",
    "TURNER_GENERAL_TAU2",
    "Prior",
    "PriorSet",
    "as_prior",
    "check_slot",
    "default_priors",
    "parse_prior",
    "resolve_priors",
    "tau_scale_prior",
    "tau_to_pymc",
]

SLOTS = ("intercept", "effect", "tau", "coefficients", "interactions", "sigma")
FAMILIES = FAMILY_NAMES

#: Parameter names of each canonical distribution, in the order they are written.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "normal": ("mu", "sigma"),
    "student_t": ("nu", "mu", "sigma"),
    "half_normal": ("sigma",),
    "half_cauchy": ("scale",),
    "half_t": ("nu", "sigma"),
    "exponential": ("rate",),
    "uniform": ("lo", "hi"),
    "log_normal": ("mu", "sigma"),
}

# Parameters that must be strictly positive.
_POSITIVE_PARAMS = frozenset({"sigma", "scale", "nu", "rate"})

_POSITIVE_SUPPORT = frozenset({"half_normal", "half_cauchy", "half_t", "exponential", "log_normal"})

# Alias table keyed by the lower-case name with "_" and "-" removed.
_ALIASES = {
    "normal": "normal",
    "studentt": "student_t",
    "t": "student_t",
    "halfnormal": "half_normal",
    "halfcauchy": "half_cauchy",
    "halft": "half_t",
    "halfstudentt": "half_t",
    "exponential": "exponential",
    "uniform": "uniform",
    "lognormal": "log_normal",
}

_CALL = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_\-]*)\s*\((.*)\)\s*$", re.DOTALL)
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")

_SLOT_LABELS = {
    "intercept": "intercept (alpha)",
    "effect": "effect (mu)",
    "tau": "tau",
    "coefficients": "coefficients (beta)",
    "interactions": "interactions (gamma)",
    "sigma": "sigma",
}


_SLOT_MEANINGS = {"sigma": "residual SD", "coefficients": "covariate coefficients"}


def _canonical_name(name: str) -> str | None:
    """The canonical distribution name of ``name`` or an alias of it; None if unknown."""
    return _ALIASES.get(name.lower().replace("_", "").replace("-", ""))


def _signature(dist: str) -> str:
    """``"normal(mu, sigma)"``: how a distribution is written."""
    return f"{dist}({', '.join(DISTRIBUTIONS[dist])})"


def _format_number(x: float) -> str:
    """Shortest text that reads back as exactly ``x`` (``10.0`` -> ``"10"``)."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _unknown_distribution(name: str) -> str:
    known = ", ".join(DISTRIBUTIONS)
    return f"unknown distribution {name!r}; known distributions: {known}"


def _parameter_problem(dist: str, params: tuple[float, ...]) -> str | None:
    """What is wrong with ``params`` for ``dist`` (canonical), or None if they are valid."""
    names = DISTRIBUTIONS[dist]
    if len(params) != len(names):
        return (
            f"{dist} takes {len(names)} parameter{'s' if len(names) > 1 else ''}, "
            f"{_signature(dist)}; got {len(params)}"
        )
    for pname, value in zip(names, params, strict=True):
        if not math.isfinite(value):
            return f"{pname} must be a finite number, got {value!r}"
        if pname in _POSITIVE_PARAMS and value <= 0:
            return f"{pname} must be > 0, got {_format_number(value)}"
    if dist == "uniform" and not params[0] < params[1]:
        lo, hi = (_format_number(p) for p in params)
        return f"uniform needs lo < hi, got lo={lo}, hi={hi}"
    return None


def _float_params(dist: str, params: Any) -> tuple[float, ...]:
    """``params`` as a tuple of floats, or PriorError if any is not a real number."""
    try:
        items = tuple(params)
    except TypeError:
        raise PriorError(
            f"prior {dist}: parameters must be a sequence of numbers, got {params!r}"
        ) from None
    out = []
    for value in items:
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise PriorError(
                f"prior {dist}{items!r}: parameter {value!r} is not a number "
                f"(expected {_signature(dist)})"
            )
        out.append(float(value))
    return tuple(out)


class _HalfT:
    """Half Student-t with ``nu`` degrees of freedom and scale ``sigma`` (scipy has none)."""

    def __init__(self, nu: float, sigma: float) -> None:
        self._t = stats.t(nu, loc=0.0, scale=sigma)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.where(x >= 0, np.log(2.0) + self._t.logpdf(x), -np.inf)

    def ppf(self, q: np.ndarray) -> np.ndarray:
        return self._t.ppf((1.0 + np.asarray(q, dtype=float)) / 2.0)

    def rvs(self, size: Any, random_state: np.random.Generator) -> np.ndarray:
        return np.abs(self._t.rvs(size=size, random_state=random_state))


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
        canonical = _canonical_name(str(self.dist))
        if canonical is None:
            raise PriorError(f"prior {self.dist!r}: {_unknown_distribution(str(self.dist))}")
        object.__setattr__(self, "dist", canonical)
        object.__setattr__(self, "params", _float_params(canonical, self.params))
        problem = _parameter_problem(canonical, self.params)
        if problem is not None:
            raise PriorError(f"prior {str(self)!r}: {problem}")

    def __str__(self) -> str:
        return f"{self.dist}({', '.join(_format_number(p) for p in self.params)})"

    @property
    def support(self) -> str:
        """``"real"``, ``"positive"`` or ``"interval"`` (uniform)."""
        if self.dist in _POSITIVE_SUPPORT:
            return "positive"
        if self.dist == "uniform":
            return "interval"
        return "real"

    def to_pymc(self, name: str, *, dims: Any = None, shape: Any = None) -> Any:
        """Create this prior as a PyMC random variable in the current model context.

        Parameters
        ----------
        name : str
            Name of the variable.
        dims, shape : optional
            Passed to the PyMC distribution (``dims="study"``).

        Returns
        -------
        pytensor.tensor.TensorVariable
            The random variable. Inside the ``tau`` slot use :func:`tau_to_pymc`, which
            applies the tau² convention for ``log_normal``.
        """
        import pymc as pm

        extra = {k: v for k, v in (("dims", dims), ("shape", shape)) if v is not None}
        p = self.params
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
                return _HalfT(p[0], p[1])
            case "exponential":
                return stats.expon(scale=1.0 / p[0])
            case "uniform":
                return stats.uniform(loc=p[0], scale=p[1] - p[0])
            case "log_normal":
                return stats.lognorm(s=p[1], scale=math.exp(p[0]))
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


def parse_prior(text: str) -> Prior:
    """Read a prior written as ``name(number, ...)``.

    Spaces are optional; numbers may be negative and in scientific notation.

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
    call = _CALL.match(text)
    if call is None:
        raise PriorError(
            f"prior {text!r}: expected the form name(number, ...), e.g. 'normal(0, 10)'"
        )
    name, inner = call.groups()
    dist = _canonical_name(name)
    if dist is None:
        raise PriorError(f"prior {text!r}: {_unknown_distribution(name)}")
    pieces = [piece.strip() for piece in inner.split(",")] if inner.strip() else []
    for piece in pieces:
        if not _NUMBER.match(piece):
            raise PriorError(
                f"prior {text!r}: parameter {piece!r} is not a number (expected {_signature(dist)})"
            )
    params = tuple(float(piece) for piece in pieces)
    problem = _parameter_problem(dist, params)
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
    return prior


def tau_to_pymc(prior: Prior, name: str = "tau", *, dims: Any = None, shape: Any = None) -> Any:
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

    Returns
    -------
    pytensor.tensor.TensorVariable
        tau (the random variable or the deterministic).
    """
    check_slot("tau", prior)
    if prior.dist != "log_normal":
        return prior.to_pymc(name, dims=dims, shape=shape)
    import pymc as pm

    tau2 = prior.to_pymc(f"{name}2", dims=dims, shape=shape)
    return pm.Deterministic(name, pm.math.sqrt(tau2), dims=dims)


@dataclass(frozen=True)
class PriorSet:
    """One prior per model slot, all filled (``sigma`` is None outside the gaussian family).

    Strings are accepted and parsed; each prior is checked against its slot.

    Examples
    --------
    >>> print(default_priors("binomial").describe())
    intercept (alpha) ~ normal(0, 10)
    effect (mu) ~ normal(0, 2.5)
    tau ~ half_normal(1)
    coefficients (beta) ~ normal(0, 2.5)
    interactions (gamma) ~ normal(0, 2.5)
    """

    intercept: Prior
    effect: Prior
    tau: Prior
    coefficients: Prior
    interactions: Prior
    sigma: Prior | None = None

    def __post_init__(self) -> None:
        for slot in SLOTS:
            value = getattr(self, slot)
            if value is None and slot == "sigma":
                continue
            prior = as_prior(value)
            check_slot(slot, prior)
            object.__setattr__(self, slot, prior)

    def items(self) -> Iterator[tuple[str, Prior]]:
        """``(slot, prior)`` pairs in :data:`SLOTS` order, leaving out an empty sigma."""
        for slot in SLOTS:
            prior = getattr(self, slot)
            if prior is not None:
                yield slot, prior

    def describe(self) -> str:
        """One line per slot, e.g. ``effect (mu) ~ normal(0, 2.5)``."""
        lines = []
        for slot, prior in self.items():
            if slot == "tau" and prior.dist == "log_normal":
                lines.append(f"tau² ~ {prior}  (tau = sqrt(tau²))")
            else:
                lines.append(f"{_SLOT_LABELS[slot]} ~ {prior}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, str]:
        """``{slot: "normal(0, 10)"}``, leaving out an empty sigma."""
        return {slot: str(prior) for slot, prior in self.items()}


def _check_outcome_scale(outcome_sd: float | None, outcome_mean: float | None) -> None:
    if outcome_sd is None:
        raise PriorError(
            "gaussian default priors need outcome_sd (pooled within-trial SD of the outcome)"
        )
    if not math.isfinite(outcome_sd) or outcome_sd <= 0:
        raise PriorError(f"outcome_sd must be a finite number > 0, got {outcome_sd!r}")
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
    return PriorSet(**{slot: Prior(*params[slot]) if slot in params else None for slot in SLOTS})


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
    return PriorSet(**{s: given.get(s, getattr(defaults, s)) for s in SLOTS})


def check_family_slots(family: Family, priors: Mapping[str, Prior], where: str = "") -> None:
    """Refuse a prior for a slot the family's model does not have (e.g. ``sigma``)."""
    for slot, prior in priors.items():
        if slot not in family.prior_slots:
            raise PriorError(
                f"a {where}{slot} prior ({prior}) was given, but the {family.name} family has "
                f"no {_SLOT_MEANINGS.get(slot, slot)}; remove it"
            )


#: Turner et al. (2012), Int J Epidemiol 41(3):818-827, predictive distribution for the
#: general healthcare setting: tau² of a log odds ratio ~ LN(-2.56, 1.74²).
TURNER_GENERAL_TAU2 = Prior("log_normal", (-2.56, 1.74))
