"""Survival beyond proportional hazards (one-stage): settings, grids and draws.

Three options of a survival model's ``[model]`` section, each off by default (the
proportional-hazards piecewise-exponential model is then unchanged):

* ``treatment_by_interval = [12, 36]``: a random treatment effect per period
  ``[0, 12), [12, 36), [36, inf)``, ``theta_kp ~ Normal(mu_p, tau_p)``, each period with the
  ``effect`` and ``tau`` priors. ``mu``, ``tau`` and ``theta`` of the model are the FIRST
  period's (so ``posterior.effect`` is the effect in ``[0, 12)``); ``mu_period``,
  ``tau_period`` [period] and ``theta_period`` [study, period] hold every period.
* ``treatment_time = "log"``: ``log HR_k(t) = theta_k + gamma (log t - log t0)``, a
  treatment-by-log-time interaction (``gamma_log_time``, prior of the ``interactions``
  slot, per unit of log time); ``mu``/``theta`` are the log hazard ratio at the reference
  time ``t0`` (:func:`log_time_reference`). Evaluated at each baseline interval's
  representative time (:func:`representative_log_times`): the effect is a step function on
  the baseline grid, so the per-cell statistics stay exact for that step function.
* ``baseline = "spline"`` with ``knots`` (3, 4 or 5 at Harrell's quantiles of the event
  times, or explicit knot times): ``log h_k(t) = alpha_k + s_k'(B(log t) - B(log t_1))``,
  ``B`` the restricted cubic spline basis in log time
  (:func:`~bayes_ipd.spline_basis.rcs_basis`), per-trial coefficients
  ``s_k ~ Normal(s, sd)``; held constant on a grid of :data:`SPLINE_GRID` intervals at
  event-time quantiles (plus any period cut points), evaluated at each interval's
  representative time, constant beyond the last cut point (extrapolation is flat).

With a time-varying effect on a piecewise baseline, the baseline's intervals are free
offsets from the first (not the proportional-hazards model's shrunken random walk, whose
shrinkage the per-period effects would absorb;
:func:`~bayes_ipd.families.survival_time_model.free_walk`).

Period cut points are added to the baseline cut points, so every baseline interval lies in
one period and the cells (events and exposure per trial, interval and design row) stay
exact. The graph pieces are :mod:`bayes_ipd.families.survival_time_model`.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.families.base import draw_count, flat_draws
from bayes_ipd.families.survival_exposure import default_cutpoints

if TYPE_CHECKING:
    import xarray as xr

    from bayes_ipd.families.protocols import DesignLike, ModelSpecLike

__all__ = [
    "BASELINES",
    "SPLINE_GRID",
    "TREATMENT_TIMES",
    "TimeSettings",
    "check_time_settings",
    "describe_settings",
    "empty_periods",
    "interval_log_hazard_ratio",
    "interval_periods",
    "knot_log_times",
    "log_time_reference",
    "model_cutpoints",
    "new_trial_log_hazard_ratio",
    "period_cuts",
    "period_labels",
    "representative_log_times",
    "time_posterior_blocks",
    "time_settings",
    "treated_offset",
]

TREATMENT_TIMES = ("constant", "log")
BASELINES = ("piecewise", "spline")
SPLINE_GRID = 40
"""Intervals (at event-time quantiles) on which a spline baseline hazard is held constant."""
KNOT_QUANTILES = {
    3: (0.10, 0.50, 0.90),
    4: (0.05, 0.35, 0.65, 0.95),
    5: (0.05, 0.275, 0.50, 0.725, 0.95),
}
"""Harrell (2015), Table 2.3 (as :data:`bayes_ipd.spline_basis.KNOT_QUANTILES`)."""


@dataclass(frozen=True)
class TimeSettings:
    """The checked time options of a survival model (all default: proportional hazards).

    Attributes
    ----------
    treatment_by_interval : tuple of float
        Interior cut points of the treatment-effect periods (empty: one effect).
    treatment_time : {"constant", "log"}
        ``"log"``: a treatment-by-log-time interaction.
    baseline : {"piecewise", "spline"}
        The baseline hazard: a random walk over intervals, or a spline in log time.
    knots : int or tuple of float
        Spline baseline: number of knots (3-5) or the knot times.
    """

    treatment_by_interval: tuple[float, ...] = ()
    treatment_time: str = "constant"
    baseline: str = "piecewise"
    knots: int | tuple[float, ...] = 4

    @property
    def time_varying(self) -> bool:
        """Whether the log hazard ratio changes with time."""
        return bool(self.treatment_by_interval) or self.treatment_time == "log"

    @property
    def is_default(self) -> bool:
        """Proportional hazards on a piecewise-constant baseline (today's model)."""
        return self == TimeSettings()

    def to_dict(self) -> dict[str, Any]:
        """The keys that differ from the defaults (TOML/JSON-ready)."""
        out: dict[str, Any] = {}
        if self.treatment_by_interval:
            out["treatment_by_interval"] = list(self.treatment_by_interval)
        if self.treatment_time != "constant":
            out["treatment_time"] = self.treatment_time
        if self.baseline != "piecewise":
            out["baseline"] = self.baseline
        if self.knots != 4:
            out["knots"] = self.knots if isinstance(self.knots, int) else list(self.knots)
        return out


def _times(name: str, value: Any, what: str) -> tuple[float, ...]:
    """Finite, positive, strictly increasing, distinct times (a number: one time)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, list | tuple):
        raise SpecError(f"{name} = {value!r} must be a list of {what} > 0")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise SpecError(f"{name}: {what} {v!r} is not a finite number")
        if v <= 0:
            raise SpecError(f"{name}: {what} {v!r} must be > 0")
        out.append(float(v))
    repeated = sorted({v for v in out if out.count(v) > 1})
    if repeated:
        raise SpecError(f"{name} lists {what} {repeated[0]:g} more than once")
    for a, b in itertools.pairwise(out):
        if not a < b:
            raise SpecError(f"{name}: {what}s must increase, but {b:g} follows {a:g}")
    return tuple(out)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise SpecError(f"{name} = {value!r} is not allowed; choose one of {options}")
    return str(value)


def _knots(value: Any) -> int | tuple[float, ...]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if value not in KNOT_QUANTILES:
            raise SpecError(
                f"model.knots = {value!r}: a restricted cubic spline takes 3, 4 or 5 knots"
            )
        return int(value)
    knots = _times("model.knots", value, "knot time")
    if len(knots) < 3:
        raise SpecError(f"model.knots = {list(knots)!r}: give at least 3 knot times")
    return knots


def check_time_settings(
    family: Any,
    treatment_by_interval: Any = (),
    treatment_time: Any = "constant",
    baseline: Any = "piecewise",
    knots: Any = 4,
    *,
    covariates_ok: bool = True,
) -> TimeSettings:
    """The time options of a spec checked (``model.treatment_by_interval`` etc.).

    Parameters
    ----------
    family : Family
        The spec's family; a non-default option needs a baseline hazard.
    treatment_by_interval, treatment_time, baseline, knots
        The spec's values.
    covariates_ok : bool
        False when the spec has interactions or moderators, which shift ``theta_k``'s mean
        and are not defined per period: a time-varying effect is then refused.

    Raises
    ------
    SpecError
        Naming the key and the bad value: cut points unsorted, repeated, not positive or
        not finite; an unknown choice; both a per-period effect and a log-time
        interaction; an option for a family without a baseline hazard.
    """
    settings = TimeSettings(
        treatment_by_interval=_times(
            "model.treatment_by_interval", treatment_by_interval, "cut point"
        ),
        treatment_time=_choice("model.treatment_time", treatment_time, TREATMENT_TIMES),
        baseline=_choice("model.baseline", baseline, BASELINES),
        knots=_knots(knots),
    )
    if settings.is_default:
        return settings
    if not family.has_baseline_hazard:
        key = next(iter(settings.to_dict()))
        raise SpecError(f"model.{key} is for a survival outcome, not family {family.name!r}")
    if settings.knots != TimeSettings.knots and settings.baseline != "spline":
        raise SpecError(
            f"model.knots = {knots!r} needs model.baseline = 'spline' (the piecewise "
            "baseline is cut by model.intervals)"
        )
    if settings.treatment_by_interval and settings.treatment_time == "log":
        raise SpecError(
            "model.treatment_by_interval and model.treatment_time = 'log' are two "
            "alternatives for an effect that changes with time; choose one"
        )
    if settings.time_varying and not covariates_ok:
        raise SpecError(
            "a treatment effect that changes with time (model.treatment_by_interval or "
            "model.treatment_time) cannot be combined with interactions or moderators, "
            "which are not defined per period"
        )
    return settings


def time_settings(spec: ModelSpecLike) -> TimeSettings:
    """The (already checked) time options of a model spec."""
    return TimeSettings(
        treatment_by_interval=tuple(spec.treatment_by_interval),
        treatment_time=spec.treatment_time,
        baseline=spec.baseline,
        knots=spec.knots,
    )


def model_cutpoints(
    base: Sequence[float], event_times: np.ndarray, settings: TimeSettings
) -> tuple[float, ...]:
    """The baseline grid: ``base`` (the ``intervals`` cut points) or, for a spline baseline,
    :data:`SPLINE_GRID` event-time quantile intervals; with every period cut point added."""
    cuts = default_cutpoints(event_times, SPLINE_GRID) if settings.baseline == "spline" else base
    if not settings.treatment_by_interval:
        return tuple(float(c) for c in cuts)
    return tuple(sorted({float(c) for c in cuts} | set(settings.treatment_by_interval)))


def representative_log_times(cutpoints: Sequence[float]) -> np.ndarray:
    """(J,) log of each baseline interval's representative time.

    ``[0, c_1)``: ``c_1 / 2``; ``[a, b)``: the geometric midpoint ``sqrt(a b)``; the last,
    open interval ``[c, inf)``: ``c`` itself (a function of time is held at its value at
    the last cut point beyond it).

    Raises
    ------
    IPDDataError
        A single interval (no cut point): there is no time scale to evaluate on.
    """
    c = np.asarray(cutpoints, dtype=np.float64)
    if c.size == 0:
        raise IPDDataError(
            "a function of time needs at least two baseline intervals (model.intervals >= 2)"
        )
    inner = np.sqrt(c[:-1] * c[1:])
    return np.log(np.concatenate([[c[0] / 2], inner, [c[-1]]]))


def _interval_events(design: DesignLike) -> np.ndarray:
    st = design.stats
    return np.bincount(st["cell_interval"], weights=st["cell_events"], minlength=design.n_intervals)


def log_time_reference(design: DesignLike) -> float:
    """``log t0``: the event-weighted mean of the intervals' representative log times, so
    ``mu`` of a log-time model is the log hazard ratio at a typical event time."""
    events = _interval_events(design)
    x = representative_log_times(design.cutpoints)
    return float(np.sum(events * x) / max(events.sum(), 1.0))


def knot_log_times(design: DesignLike, knots: int | tuple[float, ...]) -> np.ndarray:
    """The spline baseline's knots in log time.

    Explicit knot times are used as given; a number of knots is placed at Harrell's
    quantiles of the event times, read off the grid's cumulative event counts (log-linear
    interpolation between cut points, which are event-time quantiles themselves).

    Raises
    ------
    SpecError
        The knots tie (too few distinct event times for that many knots).
    """
    if not isinstance(knots, int):
        return np.log(np.asarray(knots, dtype=np.float64))
    cuts = np.asarray(design.cutpoints, dtype=np.float64)
    if cuts.size < 2:
        raise SpecError("model.baseline = 'spline' needs events at several distinct times")
    events = _interval_events(design)
    below = np.cumsum(events)[:-1] / max(events.sum(), 1.0)  # event fraction below each cut
    keep = np.concatenate([[True], np.diff(below) > 0])
    x = np.interp(KNOT_QUANTILES[knots], below[keep], np.log(cuts[keep]))
    if np.any(np.diff(x) <= 0):
        raise SpecError(
            f"model.knots = {knots}: the knot quantiles of the event times tie "
            f"({', '.join(f'{math.exp(v):g}' for v in x)}); use fewer knots or give knot times"
        )
    return x


def interval_periods(cutpoints: Sequence[float], period_cuts: Sequence[float]) -> np.ndarray:
    """(J,) the period of each baseline interval.

    Raises
    ------
    IPDDataError
        A period cut point is not a baseline cut point (summaries computed with another
        spec), naming it.
    """
    cuts = np.asarray(cutpoints, dtype=np.float64)
    for c in period_cuts:
        if not np.any(np.isclose(cuts, c, rtol=1e-12, atol=0.0)):
            raise IPDDataError(
                f"model.treatment_by_interval: {c:g} is not a cut point of the baseline "
                f"intervals ({', '.join(f'{v:g}' for v in cuts)}); compute the trial summaries "
                "with the same spec"
            )
    starts = np.concatenate([[0.0], cuts])
    return np.searchsorted(np.asarray(period_cuts, dtype=np.float64), starts * (1 + 1e-12), "right")


def period_labels(period_cuts: Sequence[float]) -> list[tuple[float, float | None]]:
    """``(start, end)`` of each period; ``end`` None for the open last one."""
    edges = [0.0, *period_cuts]
    return [(a, b) for a, b in itertools.zip_longest(edges, period_cuts)]


def empty_periods(
    design: DesignLike, studies: Sequence[str], period_cuts: Sequence[float]
) -> list[str]:
    """``"trial X in [a, b)"`` for every trial and period without events."""
    st = design.stats
    periods = interval_periods(design.cutpoints, period_cuts)
    n_p = len(period_cuts) + 1
    group = st["cell_study"] * n_p + periods[st["cell_interval"]]
    events = np.bincount(group, weights=st["cell_events"], minlength=design.k * n_p)
    out = []
    for k, p in zip(*np.nonzero(events.reshape(design.k, n_p) == 0), strict=True):
        a, b = period_labels(period_cuts)[p]
        out.append(f"trial {studies[k]!r} in [{a:g}, {'inf' if b is None else f'{b:g}'})")
    return out


# ----------------------------------------------------------------------- draws (numpy)


def interval_log_hazard_ratio(params: xr.Dataset, design: DesignLike) -> np.ndarray:
    """(S, K, J) log hazard ratio of each trial in each baseline interval, per draw.

    ``log_hr_interval`` of a model with a time-varying effect; ``theta`` repeated over the
    intervals under proportional hazards. Draws are chain-major (``flat_draws``).
    """
    if "log_hr_interval" in params:
        return flat_draws(params["log_hr_interval"], "study", "interval")
    theta = flat_draws(params["theta"], "study")
    return np.repeat(theta[:, :, None], design.n_intervals, axis=2)


def treated_offset(params: xr.Dataset, design: DesignLike) -> np.ndarray | None:
    """(S, K, J) log hazard ratio minus ``theta_k`` (what a treated cell adds beyond
    ``z'b``), or None under proportional hazards."""
    if "log_hr_interval" not in params:
        return None
    theta = flat_draws(params["theta"], "study")
    return interval_log_hazard_ratio(params, design) - theta[:, :, None]


def period_cuts(params: xr.Dataset) -> tuple[float, ...]:
    """The period cut points of a per-period model's draws (the ``period`` coordinate holds
    each period's start); empty under proportional hazards."""
    if "mu_period" not in params:
        return ()
    return tuple(float(v) for v in params["mu_period"].coords["period"].values[1:])


def new_trial_log_hazard_ratio(
    params: xr.Dataset, design: DesignLike, rng: np.random.Generator
) -> np.ndarray:
    """(S, J) log hazard ratio of a new trial in each baseline interval, per draw.

    Per-period model: ``theta_new,p ~ Normal(mu_p, tau_p)`` drawn independently per period
    (the model's periods are independent a priori); otherwise ``theta_new ~ Normal(mu, tau)``
    plus the log-time term ``gamma (x_j - x0)`` when the model has one.
    """
    s, j = draw_count(params), design.n_intervals
    if "mu_period" in params:
        mu = flat_draws(params["mu_period"], "period")
        tau = flat_draws(params["tau_period"], "period")
        per_period = rng.normal(mu, tau)
        return per_period[:, interval_periods(design.cutpoints, period_cuts(params))]
    mu, tau = flat_draws(params["mu"]), flat_draws(params["tau"])
    out = np.repeat(rng.normal(mu, tau)[:, None], j, axis=1)
    if "gamma_log_time" in params:
        x = representative_log_times(design.cutpoints) - log_time_reference(design)
        out = out + flat_draws(params["gamma_log_time"])[:, None] * x[None, :]
    assert out.shape == (s, j)
    return out


# --------------------------------------------------------------------- report and JSON


def _period_text(start: float, end: float | None) -> str:
    return f"[{start:g}, {'inf' if end is None else f'{end:g}'})"


def describe_settings(design: DesignLike, settings: TimeSettings) -> list[str]:
    """Report lines of the time options (none under the defaults)."""
    lines = []
    if settings.treatment_by_interval:
        periods = ", ".join(
            _period_text(a, b) for a, b in period_labels(settings.treatment_by_interval)
        )
        lines.append(
            f"Treatment effect per period {periods}: theta_kp ~ N(mu_p, tau_p); "
            "'effect', 'tau' and the trial effects are the first period's"
        )
        studies = [str(s) for s in getattr(design, "studies", range(design.k))]
        empty = empty_periods(design, studies, settings.treatment_by_interval)
        if empty:
            lines.append(
                "Periods without events (identified through the hierarchy only): "
                + "; ".join(empty)
            )
    if settings.treatment_time == "log":
        t0 = math.exp(log_time_reference(design))
        lines.append(
            "Treatment-by-log-time interaction: log HR(t) = theta_k + gamma (log t - log t0),"
            " evaluated at each baseline interval's representative time; 'effect' is the log "
            f"HR at t0 = {t0:.4g}"
        )
    if settings.baseline == "spline":
        knots = ", ".join(f"{math.exp(v):.4g}" for v in knot_log_times(design, settings.knots))
        lines.append(
            f"Baseline log hazard: restricted cubic spline in log time (knots {knots}), held "
            f"constant on {design.n_intervals} intervals, constant beyond the last cut point "
            f"{design.cutpoints[-1]:.4g}"
        )
    return lines


def time_posterior_blocks(design: DesignLike, posterior: xr.Dataset) -> dict[str, Any]:
    """JSON blocks of a time-varying effect: ``effect_by_interval``, ``tau_by_interval``
    (a per-period model: ``[(labels, draws), ...]`` with labels ``start``, ``end``) or
    ``effect_log_time`` (``gamma_log_time`` with its ``reference_time``)."""
    out: dict[str, Any] = {}
    if "mu_period" in posterior:
        labels = period_labels(period_cuts(posterior))
        for key, name in (("effect_by_interval", "mu_period"), ("tau_by_interval", "tau_period")):
            da = posterior[name]
            out[key] = [
                ({"start": a, "end": b}, da.isel(period=p)) for p, (a, b) in enumerate(labels)
            ]
    if "gamma_log_time" in posterior:
        t0 = math.exp(log_time_reference(design))
        out["effect_log_time"] = ({"reference_time": t0}, posterior["gamma_log_time"])
    return out
