"""Prior sensitivity sweeps: refit a one-stage model over a grid of priors.

``sensitivity(result, tau=[...], effect=[...])`` refits ``result``'s model (same design,
spec, sampler and seed) once per combination of the listed ``tau`` and ``effect`` priors
(the other slots keep the fit's priors; an omitted list keeps the fit's prior of that
slot; the combination of the fit's own priors is the fit itself, whose draws a refit with
the same seed would repeat) and returns a tidy table: per prior and parameter (pooled
effect, τ, new-trial effect) the posterior mean, median, 95% equal-tailed CrI and
P(< 0), with the fit's divergences and whether the compiled model was reused. The figure
shows the intervals by prior with the two-stage REML + HKSJ estimate (from the trials'
crude effects, :func:`bayes_ipd.one_stage.design.crude_effects`) as a reference line.

Priors' numbers are data of the compiled model (:mod:`bayes_ipd.one_stage.cache`): priors
of one distribution family (say eight half-normal scales) share one compiled model; a
new distribution compiles once and is then cached.

In a TOML spec, a ``[sensitivity]`` section lists the grid::

    [sensitivity]
    tau = ["half_normal(0.5)", "half_normal(1)", "half_cauchy(0.5)", "turner()"]
    effect = ["normal(0, 1)", "normal(0, 10)"]

``bayes-ipd run SPEC --sensitivity`` runs it (without the section: :func:`default_grid`).
The spec reads and checks the section once, into
:attr:`bayes_ipd.spec.AnalysisSpec.sensitivity` (a
:class:`~bayes_ipd.spec_sections.SensitivityGrid`); :mod:`bayes_ipd.sensitivity` takes the
grid from there and calls :func:`sensitivity` here. The sweep is part of the one-stage
route (``OneStageResult.sensitivity`` calls it; its refits go through
:mod:`bayes_ipd.one_stage.estimation`).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from bayes_ipd.conventions import json_ready
from bayes_ipd.errors import SpecError
from bayes_ipd.plots.sensitivity import sensitivity_plot
from bayes_ipd.priors import Prior, as_prior, check_slot

__all__ = [
    "COLUMNS",
    "PARAMETERS",
    "SensitivityResult",
    "default_grid",
    "sensitivity",
    "two_stage_reference",
]

_SAMPLER_WARNINGS = r".*(divergent transitions|R-hat up to|low effective sample size)"
PARAMETERS = ("effect", "tau", "new-trial effect")
COLUMNS = (
    "prior",
    "tau_prior",
    "effect_prior",
    "parameter",
    "mean",
    "median",
    "q025",
    "q975",
    "p_lt_0",
    "divergences",
    "r_hat_max",
    "reused_compiled",
)


@dataclass(frozen=True, eq=False)
class SensitivityResult:
    """A prior sensitivity sweep.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy: one row per prior combination and parameter; columns :data:`COLUMNS`
        (``prior`` is the row label, e.g. ``"tau ~ half_normal(0.5); effect ~ ..."``).
    reference : dict
        Two-stage REML + HKSJ on the trials' crude effects: ``estimate, ci_low, ci_high,
        tau, pi_low, pi_high, label`` (empty when not computed).
    compiles : int or None
        Models compiled during the sweep (cache counters), None when not counted.
    refits : int or None
        Combinations that were sampled anew (the others are the fit's own priors, taken
        from the fit); None when not counted.
    """

    table: pd.DataFrame
    reference: dict[str, Any]
    compiles: int | None = None
    refits: int | None = None

    def plot(self, *, title: str | None = None) -> Figure:
        """Posterior intervals by prior (:func:`bayes_ipd.plots.sensitivity.sensitivity_plot`)."""
        return sensitivity_plot(
            self.table, self.reference or None, title=title or "Prior sensitivity"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"rows": [...], "reference": {...}, "compiles": n, "refits": m}``."""
        rows = self.table.to_dict(orient="records")
        return json_ready(
            {
                "rows": rows,
                "reference": self.reference,
                "compiles": self.compiles,
                "refits": self.refits,
            }
        )

    def __repr__(self) -> str:
        shown = self.table.drop(columns=["tau_prior", "effect_prior"])
        body = shown.to_string(index=False, float_format=lambda x: f"{x:.4g}")
        ref = self.reference
        line = (
            f"Reference: {ref['label']} estimate {ref['estimate']:.4g} "
            f"[{ref['ci_low']:.4g}, {ref['ci_high']:.4g}], tau {ref['tau']:.4g}"
            if ref
            else "Reference: none"
        )
        return f"Prior sensitivity ({self.table['prior'].nunique()} priors)\n{body}\n{line}"


# ---------------------------------------------------------------- the grid


def default_grid(tau: Prior) -> dict[str, tuple[Prior, ...]]:
    """Five tau priors around the fit's: half-normal at 0.5x, 1x and 2x its scale, a
    half-Cauchy and a uniform(0, 4 x scale); the scale is the fit's half-normal scale
    (else 1)."""
    s = tau.params[0] if tau.dist == "half_normal" else 1.0
    texts = (
        f"half_normal({s / 2:.4g})",
        f"half_normal({s:.4g})",
        f"half_normal({2 * s:.4g})",
        f"half_cauchy({s:.4g})",
        f"uniform(0, {4 * s:.4g})",
    )
    return {"tau": tuple(as_prior(t) for t in texts)}


def _combinations(
    base: Any, tau: Iterable[Any] | None, effect: Iterable[Any] | None
) -> list[tuple[Prior, Prior]]:
    taus = [base.tau] if tau is None else [as_prior(p) for p in tau]
    effects = [base.effect] if effect is None else [as_prior(p) for p in effect]
    for prior in taus:
        check_slot("tau", prior)
    if not taus or not effects:
        raise SpecError("sensitivity: give at least one prior per listed slot")
    return [(t, e) for t in taus for e in effects]


def _label(tau: Prior, effect: Prior, vary_tau: bool, vary_effect: bool) -> str:
    parts = ([f"tau ~ {tau}"] if vary_tau or not vary_effect else []) + (
        [f"effect ~ {effect}"] if vary_effect else []
    )
    return "; ".join(parts)


# ---------------------------------------------------------------- the sweep


def two_stage_reference(design: Any) -> dict[str, Any]:
    """REML + HKSJ pooling of the trials' crude effects (the sweep's reference line)."""
    from bayes_ipd.one_stage.design import crude_effects
    from bayes_ipd.two_stage.pooling import pool

    est, se = crude_effects(design)
    if len(est) < 2:
        return {}
    pooled = pool(est, se, method="REML", hksj=True)
    return {
        "label": "two-stage REML+HKSJ",
        "estimate": pooled.estimate,
        "ci_low": pooled.ci_low,
        "ci_high": pooled.ci_high,
        "tau": math.sqrt(pooled.tau2),
        "pi_low": pooled.pi_low,
        "pi_high": pooled.pi_high,
    }


def _rows(fit: Any, label: str, tau: Prior, effect: Prior) -> list[dict[str, Any]]:
    summary = fit.summary()
    d = fit.diagnostics
    out = []
    for parameter in PARAMETERS:
        s = summary.loc[parameter]
        out.append(
            {
                "prior": label,
                "tau_prior": str(tau),
                "effect_prior": str(effect),
                "parameter": parameter,
                "mean": s["mean"],
                "median": s["median"],
                "q025": s["q025"],
                "q975": s["q975"],
                "p_lt_0": s["p_lt_0"],
                "divergences": d.divergences,
                "r_hat_max": d.r_hat_max,
                "reused_compiled": d.reused_compiled,
            }
        )
    return out


def _compiles() -> int | None:
    try:
        from bayes_ipd.one_stage.sampling import cache_stats
    except ImportError:  # pragma: no cover - older sampler without counters
        return None
    return int(cache_stats().compiles)


def sensitivity(
    result: Any,
    tau: Iterable[str | Prior] | None = None,
    effect: Iterable[str | Prior] | None = None,
    *,
    reference: bool = True,
    say: Callable[[str], None] | None = None,
) -> SensitivityResult:
    """Refit ``result``'s model under every combination of ``tau`` and ``effect`` priors.

    Parameters
    ----------
    result : OneStageResult
    tau, effect : list of prior strings or Prior, optional
        Priors of the ``tau`` and ``effect`` slots (e.g. ``["half_normal(0.5)",
        "half_cauchy(0.5)", "turner()"]``); an omitted list keeps the fit's prior.
    reference : bool
        Add the two-stage REML + HKSJ reference.
    say : callable, optional
        Progress messages (one per refit).

    Returns
    -------
    SensitivityResult

    Examples
    --------
    >>> sweep = result.sensitivity(tau=["half_normal(0.5)", "half_normal(1)"])  # doctest: +SKIP
    >>> sweep.table  # doctest: +SKIP
    >>> sweep.plot()  # doctest: +SKIP
    """
    from bayes_ipd.one_stage.estimation import estimate

    base = result.built.priors
    combos = _combinations(base, tau, effect)
    sampler = dataclasses.replace(result.sampler, progress=False)
    before = _compiles()
    rows: list[dict[str, Any]] = []
    refits = 0
    for i, (t, e) in enumerate(combos, start=1):
        label = _label(t, e, tau is not None, effect is not None)
        own = t == base.tau and e == base.effect
        if say is not None:
            say(f"sensitivity {i}/{len(combos)}: {label}" + (" (the fit itself)" if own else ""))
        if own:
            rows.extend(_rows(result, label, t, e))
            continue
        priors = dataclasses.replace(base, tau=t, effect=e)
        with warnings.catch_warnings():  # the table has divergences and R-hat
            warnings.filterwarnings("ignore", message=_SAMPLER_WARNINGS)
            refit = estimate(result.built.design, result.built.spec, sampler, priors=priors)
        refits += 1
        rows.extend(_rows(refit, label, t, e))
    after = _compiles()
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    ref = two_stage_reference(result.built.design) if reference else {}
    compiles = None if before is None or after is None else after - before
    return SensitivityResult(table, ref, compiles, refits)
