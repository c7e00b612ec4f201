"""Empirical priors for the between-trial heterogeneity, by name.

``turner(outcome = '...', comparison = '...')``
    Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT (2015). Predictive distributions
    for between-study heterogeneity and simple methods for their application in Bayesian
    meta-analysis. *Statistics in Medicine* 34(6):984-998, Table IV. Binary outcomes, the
    **log odds ratio** scale: ``log(tau²) ~ Normal(m, s)``. Written here as
    ``log_normal(m, s)`` in the tau slot (a prior on tau², see :mod:`bayes_ipd.priors`).
    Left without arguments, ``turner()`` is their marginal setting (any outcome, any
    comparison; p. 993): ``log(tau²) ~ Normal(-2.56, 1.74)``.
``rhodes(outcome = '...', comparison = '...', area = 'other', outcome_sd = S)``
    Rhodes KM, Turner RM, Higgins JPT (2015). Predictive distributions were developed for
    the extent of heterogeneity in meta-analyses of continuous outcome data. *Journal of
    Clinical Epidemiology* 68(1):52-60, Table 3 (area ``'other'``) and Appendix Tables
    A.3.1 (``'respiratory'``) and A.3.2 (``'cancer'``). Continuous outcomes, the
    **standardised mean difference** scale: ``log(tau²) = location + scale * t_5``,
    written ``log_student_t(5, location, scale)``. ``rhodes()`` is the general setting
    (Sec. 3.3): location -3.44, scale 2.59.

Rescaling Rhodes to a mean difference
-------------------------------------
A mean difference is an SMD times the outcome SD ``S``, so ``tau_MD = S * tau_SMD`` and
``log(tau²_MD) = log(tau²_SMD) + 2 log(S)``: the location moves by ``2 log(S)``, the scale
is unchanged. ``rhodes(..., outcome_sd = S)`` applies it (give ``S``, the pooled
within-trial SD of the outcome, e.g. from the gaussian default-prior line of a fit); the
prior is then on the MD scale and fits a gaussian model without a warning.

The tables and category strings are those of R package bayesmeta (Röver 2020, J Stat
Softw 93(6); source ``R/bayesmeta.R``, objects ``TurnerEtAlParameters`` and
``RhodesEtAlParameters``, version 3.4 on CRAN), which transcribes the two papers. The
comparison strings are bayesmeta's comparison types (its ``comparator1`` /
``comparator2`` pair is mapped onto them there). A prior derived on another scale than
the model's effect (a Turner log-OR prior on a log-HR or MD model) gives a warning naming
the mismatch.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from bayes_ipd.errors import PriorError
from bayes_ipd.prior_values import LogT, Prior, register_named_prior

if TYPE_CHECKING:
    from bayes_ipd.conventions import EffectScale

__all__ = [
    "RHODES_AREAS",
    "RHODES_COMPARISONS",
    "RHODES_OUTCOMES",
    "TURNER_COMPARISONS",
    "TURNER_OUTCOMES",
    "EmpiricalPrior",
    "LogT",
    "parse_empirical",
    "rhodes_prior",
    "turner_prior",
    "warn_scale_mismatch",
]

# ---------------------------------------------------------------- Turner et al. 2015

#: Comparison types of Turner et al. (2015) Table IV, spelt as in bayesmeta.
TURNER_COMPARISONS = (
    "pharmacological vs. placebo / control",
    "pharmacological vs. pharmacological",
    "non-pharmacological vs. placebo / control",
    "non-pharmacological vs. pharmacological",
    "non-pharmacological vs. non-pharmacological",
)

#: Outcome types of Turner et al. (2015) Table IV, spelt as in bayesmeta.
TURNER_OUTCOMES = (
    "all-cause mortality",
    "obstetric outcomes",
    "cause-specific mortality / major morbidity event / composite (mortality or morbidity)",
    "resource use / hospital stay / process",
    "surgical / device related success / failure",
    "withdrawals / drop-outs",
    "internal / structure-related outcomes",
    "general physical health indicators",
    "adverse events",
    "infection / onset of new disease",
    "signs / symptoms reflecting continuation / end of condition",
    "pain",
    "quality of life / functioning (dichotomized)",
    "mental health indicators",
    "biological markers (dichotomized)",
    "subjective outcomes (various)",
)

# Turner et al. 2015 Table IV via bayesmeta R/bayesmeta.R (meanmat, sdmat): one tuple per
# comparison type (in TURNER_COMPARISONS order), one value per outcome type.
_TURNER_MEAN = (
    (-3.95, -3.52, -3.71, -2.34, -2.14, -2.99, -2.71, -2.29,
     -1.87, -2.49, -2.06, -1.83, -2.54, -2.12, -1.77, -2.70),
    (-4.18, -3.75, -3.95, -2.58, -2.37, -3.23, -2.94, -2.53,
     -2.10, -2.73, -2.29, -2.06, -2.78, -2.35, -2.00, -2.93),
    (-4.17, -3.74, -3.93, -2.56, -2.36, -3.21, -2.93, -2.51,
     -2.10, -2.71, -2.28, -2.05, -2.77, -2.34, -1.99, -2.92),
    (-2.92, -2.49, -2.68, -1.31, -1.11, -1.96, -1.67, -1.26,
     -0.84, -1.46, -1.03, -0.80, -1.51, -1.09, -0.74, -1.67),
    (-3.50, -3.08, -3.27, -1.90, -1.69, -2.55, -2.26, -1.85,
     -1.43, -2.05, -1.61, -1.38, -2.10, -1.67, -1.33, -2.26),
)  # fmt: skip
_TURNER_SD = (
    (1.34, 1.74, 1.74, 1.74, 1.74, 1.74, 1.74, 1.53,
     1.52, 1.52, 1.51, 1.52, 1.54, 1.53, 1.52, 1.52),
    (1.41, 1.79, 1.79, 1.79, 1.79, 1.79, 1.79, 1.58,
     1.58, 1.58, 1.58, 1.58, 1.60, 1.60, 1.58, 1.58),
    (1.55, 1.91, 1.91, 1.91, 1.91, 1.91, 1.92, 1.72,
     1.71, 1.71, 1.71, 1.71, 1.73, 1.72, 1.71, 1.71),
    (1.02, 1.50, 1.51, 1.50, 1.50, 1.51, 1.51, 1.25,
     1.24, 1.24, 1.24, 1.25, 1.27, 1.27, 1.24, 1.25),
    (1.26, 1.68, 1.68, 1.68, 1.68, 1.68, 1.68, 1.46,
     1.45, 1.45, 1.45, 1.45, 1.47, 1.47, 1.45, 1.45),
)  # fmt: skip
TURNER_MARGINAL = (-2.56, 1.74)  # Turner et al. 2015, p. 993 (bayesmeta: outcome = NA)

# ---------------------------------------------------------------- Rhodes et al. 2015

#: Comparison types of Rhodes et al. (2015) Table 3, spelt as in bayesmeta.
RHODES_COMPARISONS = (
    "pharmacological vs. placebo / control",
    "pharmacological vs. pharmacological",
    "non-pharmacological (any)",
)

#: Outcome types of Rhodes et al. (2015) Table 3, spelt as in bayesmeta.
RHODES_OUTCOMES = (
    "obstetric outcome",
    "resource use and hospital stay / process",
    "internal and external structure-related outcome",
    "general physical health and adverse event and pain and quality of life / functioning",
    "signs / symptoms reflecting continuation / end of condition and infection / onset of "
    "new acute / chronic disease",
    "mental health outcome",
    "biological marker",
    "various subjectively measured outcomes",
)

#: Medical areas: Table 3 ('other'), Tables A.3.1 ('respiratory') and A.3.2 ('cancer').
RHODES_AREAS = ("other", "respiratory", "cancer")

# Rhodes et al. 2015 via bayesmeta R/bayesmeta.R (locationmat[.r|.c], scalemat[.r|.c]):
# per area, one tuple per comparison type, one value per outcome type.
_RHODES_LOCATION = {
    "other": (
        (-4.13, -2.55, -2.43, -3.16, -3.00, -2.99, -3.41, -2.76),
        (-4.40, -2.83, -2.70, -3.44, -3.27, -3.27, -3.68, -3.03),
        (-3.99, -2.41, -2.29, -3.02, -2.86, -3.85, -3.27, -2.62),
    ),
    "respiratory": (
        (-6.03, -4.46, -4.33, -5.07, -4.90, -4.90, -5.31, -4.66),
        (-6.31, -4.73, -4.61, -5.34, -5.18, -5.17, -5.59, -4.94),
        (-5.89, -4.32, -4.19, -4.93, -4.76, -4.76, -5.17, -4.52),
    ),
    "cancer": (
        (-1.57, 0.01, -0.13, -0.60, -0.44, -0.43, -0.85, -0.20),
        (-1.85, -0.27, -0.14, -0.88, -0.71, -0.71, -1.13, -0.48),
        (-1.43, 0.15, 0.27, -0.46, -0.30, -0.29, -0.71, -0.06),
    ),
}
_RHODES_SCALE = {
    "other": (
        (2.34, 2.73, 2.50, 2.50, 2.50, 2.16, 2.83, 2.58),
        (2.31, 2.70, 2.46, 2.44, 2.47, 2.14, 2.78, 2.59),
        (2.11, 2.57, 2.32, 2.27, 2.33, 1.93, 2.66, 2.41),
    ),
    "respiratory": (
        (2.36, 2.74, 2.51, 2.51, 2.50, 2.17, 2.83, 2.59),
        (2.31, 2.70, 2.46, 2.45, 2.47, 2.14, 2.78, 2.59),
        (2.21, 2.57, 2.33, 2.28, 2.33, 1.94, 2.66, 2.41),
    ),
    "cancer": (
        (2.45, 2.83, 2.61, 2.61, 2.60, 2.28, 2.93, 2.68),
        (2.41, 2.79, 2.56, 2.55, 2.57, 2.25, 2.87, 2.68),
        (2.24, 2.68, 2.45, 2.40, 2.46, 2.08, 2.78, 2.53),
    ),
}
RHODES_MARGINAL = (-3.44, 2.59)  # Rhodes et al. 2015, Sec. 3.3 (bayesmeta: outcome = NA)
RHODES_DF = 5.0


# ---------------------------------------------------------------- values


@dataclass(frozen=True)
class EmpiricalPrior(Prior):
    """A published tau² prior: a :class:`~bayes_ipd.prior_values.Prior` with its source.

    It behaves as its distribution (``log_normal`` or ``log_student_t``, on tau² in the
    tau slot); ``str()`` gives back the name it was written as, so specs round-trip.

    Attributes
    ----------
    source : {"turner", "rhodes"}
    setting : tuple of (str, str)
        The arguments, e.g. ``(("outcome", "pain"), ("comparison", "..."))``.
    effect_scale : str
        The scale the prior was derived on: ``"logOR"`` (Turner), ``"SMD"`` (Rhodes) or
        ``"MD"`` (Rhodes rescaled with ``outcome_sd``).
    """

    source: str = ""
    setting: tuple[tuple[str, str], ...] = ()
    effect_scale: str = ""

    def __str__(self) -> str:
        args = ", ".join(f"{k} = {v if k == 'outcome_sd' else _quote(v)}" for k, v in self.setting)
        return f"{self.source}({args})"

    @property
    def distribution(self) -> Prior:
        """The plain distribution (on tau²)."""
        return Prior(self.dist, self.params)

    @property
    def scale_advice(self) -> str:
        """What to do when the model's effect is on another scale."""
        if self.source == "turner":
            return "Turner et al. (2015) priors are for log odds ratios of binary outcomes"
        return (
            "Rhodes et al. (2015) priors are for standardised mean differences; for a mean "
            "difference give outcome_sd = <pooled outcome SD> to rescale it"
        )


def _quote(value: str) -> str:
    return repr(value) if "'" not in value else f'"{value}"'


def _choose(what: str, value: str, valid: tuple[str, ...], name: str) -> int:
    if value in valid:
        return valid.index(value)
    listing = "; ".join(repr(v) for v in valid)
    raise PriorError(f"{name}: unknown {what} {value!r}; valid {what}s are: {listing}")


def turner_prior(outcome: str | None = None, comparison: str | None = None) -> EmpiricalPrior:
    """Turner et al. (2015) predictive prior for tau² of a log odds ratio.

    Parameters
    ----------
    outcome : str, optional
        One of :data:`TURNER_OUTCOMES`; with ``comparison`` None too, the marginal setting.
    comparison : str, optional
        One of :data:`TURNER_COMPARISONS` (default ``"pharmacological vs. placebo /
        control"`` when an outcome is given).

    Returns
    -------
    EmpiricalPrior
        ``log_normal(m, s)`` on tau².

    Raises
    ------
    PriorError
        An unknown category, listing the valid ones.

    Examples
    --------
    >>> p = turner_prior("all-cause mortality", "pharmacological vs. placebo / control")
    >>> p.params
    (-3.95, 1.34)
    """
    if outcome is None and comparison is None:
        return EmpiricalPrior("log_normal", TURNER_MARGINAL, "turner", (), "logOR")
    if outcome is None:
        raise PriorError("turner(...): give outcome as well as comparison")
    comparison = comparison or TURNER_COMPARISONS[0]
    i = _choose("outcome", outcome, TURNER_OUTCOMES, "turner")
    j = _choose("comparison", comparison, TURNER_COMPARISONS, "turner")
    setting = (("outcome", outcome), ("comparison", comparison))
    params = (_TURNER_MEAN[j][i], _TURNER_SD[j][i])
    return EmpiricalPrior("log_normal", params, "turner", setting, "logOR")


def rhodes_prior(
    outcome: str | None = None,
    comparison: str | None = None,
    area: str = "other",
    outcome_sd: float | None = None,
) -> EmpiricalPrior:
    """Rhodes et al. (2015) predictive prior for tau² of a standardised mean difference.

    Parameters
    ----------
    outcome : str, optional
        One of :data:`RHODES_OUTCOMES`; with ``comparison`` None too, the general setting.
    comparison : str, optional
        One of :data:`RHODES_COMPARISONS` (default the first when an outcome is given).
    area : {"other", "respiratory", "cancer"}
        Medical area (Table 3, A.3.1, A.3.2).
    outcome_sd : float, optional
        Pooled within-trial SD of the outcome: rescales the prior to a mean difference
        (location + 2 log(outcome_sd); module docstring).

    Returns
    -------
    EmpiricalPrior
        ``log_student_t(5, location, scale)`` on tau².
    """
    _choose("area", area, RHODES_AREAS, "rhodes")
    if outcome is None and comparison is None:
        location, scale = RHODES_MARGINAL
        setting: tuple[tuple[str, str], ...] = ()
    else:
        if outcome is None:
            raise PriorError("rhodes(...): give outcome as well as comparison")
        comparison = comparison or RHODES_COMPARISONS[0]
        i = _choose("outcome", outcome, RHODES_OUTCOMES, "rhodes")
        j = _choose("comparison", comparison, RHODES_COMPARISONS, "rhodes")
        location, scale = _RHODES_LOCATION[area][j][i], _RHODES_SCALE[area][j][i]
        setting = (("outcome", outcome), ("comparison", comparison))
    if area != "other":
        setting += (("area", area),)
    effect_scale = "SMD"
    if outcome_sd is not None:
        if not (isinstance(outcome_sd, int | float) and math.isfinite(outcome_sd)) or (
            outcome_sd <= 0
        ):
            raise PriorError(f"rhodes(...): outcome_sd must be a number > 0, got {outcome_sd!r}")
        location += 2.0 * math.log(outcome_sd)
        setting += (("outcome_sd", repr(float(outcome_sd))),)
        effect_scale = "MD"
    params = (RHODES_DF, location, scale)
    return EmpiricalPrior("log_student_t", params, "rhodes", setting, effect_scale)


# ---------------------------------------------------------------- the grammar

_ARG = re.compile(r"""\s*([A-Za-z_]+)\s*=\s*(?:'([^']*)'|"([^"]*)"|([+-]?[0-9.eE+-]+))\s*(?:,|$)""")
_KEYS = {
    "turner": ("outcome", "comparison"),
    "rhodes": ("outcome", "comparison", "area", "outcome_sd"),
}


def _arguments(source: str, inner: str, text: str) -> dict[str, Any]:
    """``key = 'value', ...`` of ``inner`` as a dict (quoted strings, or numbers)."""
    out: dict[str, Any] = {}
    pos = 0
    inner = inner.strip()
    while pos < len(inner):
        match = _ARG.match(inner, pos)
        if match is None:
            raise PriorError(
                f"prior {text!r}: expected key = 'value' arguments, e.g. "
                f"{source}(outcome = '...', comparison = '...'), at {inner[pos:]!r}"
            )
        key, single, double, number = match.groups()
        if key not in _KEYS[source]:
            raise PriorError(
                f"prior {text!r}: unknown argument {key!r}; {source} takes "
                f"{', '.join(_KEYS[source])}"
            )
        out[key] = (
            float(number) if number is not None else (single if single is not None else double)
        )
        pos = match.end()
    return out


def parse_empirical(source: str, inner: str, text: str) -> EmpiricalPrior:
    """Read ``turner(...)`` or ``rhodes(...)`` (for :func:`bayes_ipd.prior_values.parse_prior`).

    Parameters
    ----------
    source : {"turner", "rhodes"}
    inner : str
        The text between the parentheses.
    text : str
        The whole prior text (for messages).
    """
    args = _arguments(source, inner, text)
    for key, value in args.items():
        if isinstance(value, float) and key != "outcome_sd":
            raise PriorError(f"prior {text!r}: {key} must be a quoted string")
    if "outcome_sd" in args and not isinstance(args["outcome_sd"], float):
        raise PriorError(f"prior {text!r}: outcome_sd must be a number")
    try:
        if source == "turner":
            return turner_prior(**args)
        return rhodes_prior(**args)
    except PriorError as err:
        raise PriorError(f"prior {text!r}: {err}") from None


def warn_scale_mismatch(scale: EffectScale, slot: str, prior: Prior, *, model: str) -> None:
    """Warn when ``prior`` was derived on another effect scale than the model's effect.

    Parameters
    ----------
    scale : EffectScale
        The scale of the model's treatment effect (its family's ``scale``).
    slot : str
        The prior's slot, for the message.
    prior : Prior
        The prior; only an :class:`EmpiricalPrior` knows the scale it was derived on.
    model : str
        The model's name in the message (its family's name, ``"survival"``).
    """
    meant = getattr(prior, "effect_scale", None)
    if not meant or meant == scale.code:
        return
    warnings.warn(
        f"the {slot} prior {prior} was derived for the {meant} scale, but the "
        f"{model} model's effect is a {scale.name} ({scale.code}): "
        f"{getattr(prior, 'scale_advice', '')}",
        UserWarning,
        stacklevel=4,
    )


# ``turner(...)`` and ``rhodes(...)`` in any prior text (a spec, a PriorSet, parse_prior).
for _source in _KEYS:
    register_named_prior(_source, partial(parse_empirical, _source))
