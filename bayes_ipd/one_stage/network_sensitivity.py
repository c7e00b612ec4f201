"""Prior sensitivity sweep of a one-stage network meta-analysis (``run --sensitivity`` of a
network spec).

``network_sensitivity(result, {"tau": [...], "effect": [...]})`` refits ``result``'s network
model (same arms, design, effects model, sampler and seed) once per combination of the
listed priors, every other slot keeping the fit's prior, and returns a tidy table: per
scenario each basic parameter ``d_t`` (treatment ``t`` vs the network's reference) and tau
(random effects) with the posterior mean, median, 95% equal-tailed CrI, P(< 0) and the
shift of the median from the base analysis (the fit itself, first row), with the fit's
divergences, largest R-hat and whether the compiled program was reused.

The grid's slots are the network model's: ``effect`` (every basic parameter), ``tau``,
``intercept`` (the trial baselines), gaussian ``sigma`` and, for the covariate model,
``coefficients`` and ``interactions`` (:data:`~bayes_ipd.spec_sections.NETWORK_GRID_SLOTS`).
A network spec gives it as a two-arm spec does::

    [sensitivity]
    tau = ["half_normal(0.5)", "half_normal(1)", "half_cauchy(0.5)"]
    effect = ["normal(0, 1)", "normal(0, 10)"]

(without the section, or with it empty: five tau priors around the fit's,
:func:`bayes_ipd.one_stage.sensitivity.default_grid`). Each prior's numbers are data of the
compiled model (the ``prior_<slot>`` containers), so scenarios that change only numbers
reuse the compiled program (:mod:`~bayes_ipd.one_stage.cache` through
:func:`~bayes_ipd.one_stage.sampling.sample`); a new distribution compiles once. Every
refit uses the fit's sampler settings and seed, as the two-arm sweep
(:mod:`bayes_ipd.one_stage.sensitivity`) does, so a scenario's numbers do not depend on
which other scenarios were run; a combination equal to the fit's own priors is the fit
itself (not sampled again).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_ipd.conventions import json_ready
from bayes_ipd.errors import SpecError
from bayes_ipd.families import get_family
from bayes_ipd.one_stage.sensitivity import default_grid
from bayes_ipd.plots.network_sensitivity import network_sensitivity_plot
from bayes_ipd.priors import Prior, PriorSet, as_prior, check_slot
from bayes_ipd.spec_sections import NETWORK_GRID_SLOTS

__all__ = [
    "COLUMNS",
    "NetworkSensitivityResult",
    "check_network_grid",
    "check_network_sweep",
    "network_sensitivity",
    "network_sweep_for_analysis",
    "two_stage_reference",
]

_SAMPLER_WARNINGS = r".*(divergent transitions|R-hat up to|low effective sample size)"
_LABEL_ORDER = ("tau", "effect", "intercept", "sigma", "coefficients", "interactions")
"""Slots in the order a scenario's label names them (tau first, as the two-arm sweep)."""
PRIOR_COLUMNS = tuple(f"{slot}_prior" for slot in NETWORK_GRID_SLOTS)
COLUMNS = (
    "prior",
    "parameter",
    "treatment",
    "mean",
    "median",
    "q025",
    "q975",
    "p_lt_0",
    "shift",
    "divergences",
    "r_hat_max",
    "reused_compiled",
    *PRIOR_COLUMNS,
)
"""The table's columns: ``prior`` the scenario's label; ``parameter`` ``effect`` (with its
``treatment``, vs the network's reference) or ``tau``; ``shift`` the median minus the base
analysis's; ``<slot>_prior`` the prior each slot had (None: a slot the model lacks)."""


@dataclass(frozen=True, eq=False)
class NetworkSensitivityResult:
    """A prior sensitivity sweep of a network.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy, columns :data:`COLUMNS`: the base analysis first (label ``base: ...``), then
        one block per scenario, each with a row per treatment and one for tau.
    reference : dict
        Two-stage values by treatment (``label, estimate, ci_low, ci_high, tau``), empty
        when the two-stage route was not fitted.
    compiles : int or None
        Models compiled during the sweep (cache counters).
    refits : int
        Scenarios sampled anew (the others are the fit's own priors).
    network_reference : str
        The network's reference treatment (every ``d_t`` is vs it).
    """

    table: pd.DataFrame
    reference: dict[str, dict[str, Any]]
    compiles: int | None
    refits: int
    network_reference: str

    def largest_shift(self) -> dict[str, dict[str, Any] | None]:
        """The scenario row whose posterior median moved most from the base analysis, for
        the effects (over every treatment) and for tau: ``prior, treatment, median,
        base_median, shift`` (None without such a row)."""
        scenarios = self.table.iloc[_base_rows(self.table) :]
        out: dict[str, dict[str, Any] | None] = {}
        for parameter in ("effect", "tau"):
            rows = scenarios[scenarios["parameter"] == parameter]
            if rows.empty or rows["shift"].isna().all():
                out[parameter] = None
                continue
            row = rows.loc[rows["shift"].abs().idxmax()]
            out[parameter] = {
                "prior": row["prior"],
                "treatment": row["treatment"],
                "median": row["median"],
                "base_median": row["median"] - row["shift"],
                "shift": row["shift"],
            }
        return out

    def plot(self, *, title: str | None = None) -> Figure:
        """Posterior intervals by scenario, one panel per treatment and one for tau
        (:func:`bayes_ipd.plots.network_sensitivity.network_sensitivity_plot`)."""
        return network_sensitivity_plot(
            self.table,
            self.reference or None,
            reference_name=self.network_reference,
            title=title or "Prior sensitivity",
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, the two-arm sweep's keys with one entry per treatment: ``{"rows":
        [...], "reference": {TRT: {...}}, "compiles": n, "refits": m, "largest_shift":
        {"effect": {...}, "tau": {...}}}``."""
        return json_ready(
            {
                "rows": self.table.to_dict(orient="records"),
                "reference": self.reference,
                "compiles": self.compiles,
                "refits": self.refits,
                "largest_shift": self.largest_shift(),
            }
        )

    def __repr__(self) -> str:
        shown = self.table.drop(columns=list(PRIOR_COLUMNS))
        shown = shown.assign(treatment=shown["treatment"].fillna(""))
        body = shown.to_string(index=False, float_format=lambda x: f"{x:.4g}")
        n = self.table["prior"].nunique() - 1
        lines = [f"Prior sensitivity ({n} scenarios; d_t: each treatment vs "
                 f"{self.network_reference})", body]  # fmt: skip
        for parameter, row in self.largest_shift().items():
            if row is not None:
                what = f"d[{row['treatment']}]" if parameter == "effect" else "tau"
                lines.append(
                    f"Largest shift of {what} vs the base analysis: {row['shift']:+.4g} "
                    f"(median {row['base_median']:.4g} -> {row['median']:.4g}) under "
                    f"{row['prior']}"
                )
        return "\n".join(lines)


# ---------------------------------------------------------------- the grid


def _base_rows(table: pd.DataFrame) -> int:
    """How many rows the base analysis takes (the table's first scenario)."""
    first = table["prior"].iloc[0]
    return int((table["prior"] == first).sum())


def check_network_grid(
    grid: Mapping[str, Sequence[Any]], *, family: str, effects: str, covariates: bool,
    interactions: bool,
) -> None:  # fmt: skip
    """Refuse, naming the slot, a grid the network model cannot take: a slot outside
    :data:`~bayes_ipd.spec_sections.NETWORK_GRID_SLOTS`, ``sigma`` outside a family with a
    residual SD, ``tau`` under fixed effects, ``coefficients`` without covariates,
    ``interactions`` without interactions, an empty list or a prior unfit for its slot; an
    empty grid under fixed effects (the default grid varies tau)."""
    reasons = {
        "sigma": (
            "sigma" in get_family(family).prior_slots,
            f"the {family} network model has no residual SD (sigma)",
        ),
        "tau": (effects == "random", "the fixed-effect network model has no tau"),
        "coefficients": (covariates, "the network model has no covariates (model.covariates)"),
        "interactions": (
            interactions,
            "the network model has no interactions (model.interactions)",
        ),
    }
    for slot, values in grid.items():
        if slot not in NETWORK_GRID_SLOTS:
            raise SpecError(
                f"unknown key sensitivity.{slot}; allowed keys in [sensitivity] of a network "
                f"spec: {', '.join(NETWORK_GRID_SLOTS)}"
            )
        allowed, why = reasons.get(slot, (True, ""))
        if not allowed:
            raise SpecError(f"sensitivity.{slot}: {why}; remove it from [sensitivity]")
        if isinstance(values, str) or not values:
            raise SpecError(f"sensitivity.{slot} = {values!r} must be a non-empty list of priors")
        for value in values:
            try:
                check_slot(slot, as_prior(value))
            except ValueError as err:
                raise SpecError(f"sensitivity.{slot}: {err}") from None
    if not grid and effects != "random":
        raise SpecError(
            "[sensitivity]: the default grid varies tau, which the fixed-effect network model "
            "lacks; list priors (e.g. effect = [...]) in [sensitivity]"
        )


def _scenarios(base: PriorSet, grid: Mapping[str, Sequence[Any]]) -> list[tuple[str, PriorSet]]:
    """``(label, priors)`` per combination of the grid's priors, the other slots the base's;
    a slot given keeps no per-SD mark (given priors are per raw unit, as in a plain fit)."""
    slots = [s for s in _LABEL_ORDER if s in grid]
    lists = [[as_prior(p) for p in grid[s]] for s in slots]
    out = []
    for combo in itertools.product(*lists):
        chosen = dict(zip(slots, combo, strict=True))
        per_sd = tuple(s for s in base.per_sd if s not in chosen)
        priors = dataclasses.replace(base, **chosen, per_sd=per_sd)
        out.append(("; ".join(f"{s} ~ {p}" for s, p in chosen.items()), priors))
    return out


# ---------------------------------------------------------------- the sweep


def two_stage_reference(two_stage: Any, label: str = "two-stage") -> dict[str, dict[str, Any]]:
    """The two-stage network estimates as the sweep's reference lines, by treatment:
    ``label, estimate, ci_low, ci_high, tau`` (empty without a two-stage result)."""
    if two_stage is None:
        return {}
    tau = math.sqrt(max(float(two_stage.fit.tau2), 0.0))
    return {
        str(t): {
            "label": label,
            "estimate": float(row["estimate"]),
            "ci_low": float(row["ci_low"]),
            "ci_high": float(row["ci_high"]),
            "tau": tau,
        }
        for t, row in two_stage.effects().iterrows()
    }


def _prior_columns(priors: PriorSet, fit: Any) -> dict[str, str | None]:
    """Each grid slot's prior in use (None: a slot the fitted model lacks)."""
    used = {"tau": fit.built.effects == "random", "sigma": priors.sigma is not None}
    design = getattr(fit.built, "layout", None)
    used["coefficients"] = design is not None
    used["interactions"] = design is not None and bool(design.interactions)
    return {
        f"{slot}_prior": str(getattr(priors, slot)) if used.get(slot, True) else None
        for slot in NETWORK_GRID_SLOTS
    }


def _rows(fit: Any, label: str, priors: PriorSet) -> list[dict[str, Any]]:
    """The table rows of one fit: a row per treatment, then tau (random effects)."""
    d = fit.d_draws()
    diag = fit.diagnostics
    common = {
        "divergences": diag.divergences,
        "r_hat_max": diag.r_hat_max,
        "reused_compiled": diag.reused_compiled,
        **_prior_columns(priors, fit),
    }
    nodes = [
        ("effect", t, node, float((d[:, :, i + 1] < 0).mean()))
        for i, (t, node) in enumerate(fit.effects().iterrows())
    ]
    tau = fit.tau_node()
    nodes += [] if tau is None else [("tau", None, pd.Series(tau), math.nan)]
    return [
        {
            "prior": label,
            "parameter": parameter,
            "treatment": None if treatment is None else str(treatment),
            "mean": node["mean"],
            "median": node["median"],
            "q025": node["q025"],
            "q975": node["q975"],
            "p_lt_0": p,
            **common,
        }
        for parameter, treatment, node, p in nodes
    ]


def _refit(result: Any, priors: PriorSet, sampler: Any) -> Any:
    """``result``'s model rebuilt with ``priors`` and sampled (compiled-model cache)."""
    from bayes_ipd.one_stage.network_covariate_model import (
        CovariateNetworkModel,
        build_covariate_network_model,
    )
    from bayes_ipd.one_stage.network_model import build_network_model
    from bayes_ipd.one_stage.network_posterior import NetworkPosterior
    from bayes_ipd.one_stage.sampling import sample

    built = result.built
    if isinstance(built, CovariateNetworkModel):
        model = build_covariate_network_model(
            built.arms, built.design, built.layout, priors, built.effects,
            built.covariate_effects,
        )  # fmt: skip
    else:
        model = build_network_model(built.arms, priors, built.effects)
    idata, diagnostics = sample(model.as_built(), sampler)
    return NetworkPosterior(model, idata, diagnostics, sampler, result.small_values)


def _compiles() -> int:
    from bayes_ipd.one_stage.sampling import cache_stats

    return int(cache_stats().compiles)


def _with_shift(rows: list[dict[str, Any]], base: list[dict[str, Any]]) -> pd.DataFrame:
    """The table with each row's median minus the base analysis's (same parameter)."""
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    medians = {(r["parameter"], r["treatment"]): r["median"] for r in base}
    keys = zip(table["parameter"], table["treatment"], strict=True)
    table["shift"] = table["median"].to_numpy() - np.array([medians[k] for k in keys])
    return table


def network_sensitivity(
    result: Any,
    grid: Mapping[str, Sequence[str | Prior]] | None = None,
    *,
    reference: Mapping[str, Mapping[str, Any]] | None = None,
    say: Callable[[str], None] | None = None,
) -> NetworkSensitivityResult:
    """Refit a one-stage network fit under every combination of the grid's priors.

    Parameters
    ----------
    result : NetworkPosterior
        ``bi.fit_network_bayes(...)`` (with or without covariates).
    grid : mapping of slot to list of priors, optional
        Slots of :data:`~bayes_ipd.spec_sections.NETWORK_GRID_SLOTS`, e.g. ``{"tau":
        ["half_normal(0.5)", "half_cauchy(0.5)"], "effect": ["normal(0, 1)"]}``; the other
        slots keep the fit's priors. Empty or None: five tau priors around the fit's.
    reference : mapping, optional
        Two-stage values by treatment for the figure (:func:`two_stage_reference`).
    say : callable, optional
        Progress messages (one per scenario).

    Returns
    -------
    NetworkSensitivityResult

    Examples
    --------
    >>> sweep = network_sensitivity(fit, {"tau": ["half_normal(0.5)"]})  # doctest: +SKIP
    >>> sweep.table  # doctest: +SKIP
    """
    built = result.built
    layout = getattr(built, "layout", None)
    grid = dict(grid or {})
    check_network_grid(
        grid, family=built.arms.family, effects=built.effects,
        covariates=layout is not None,
        interactions=layout is not None and bool(layout.interactions),
    )  # fmt: skip
    base = built.priors
    grid = grid or dict(default_grid(base.tau))
    scenarios = _scenarios(base, grid)
    sampler = dataclasses.replace(result.sampler, progress=False)
    varied = [s for s in _LABEL_ORDER if s in grid]
    base_label = "base: " + "; ".join(f"{s} ~ {getattr(base, s)}" for s in varied)
    base_rows = _rows(result, base_label, base)
    rows, refits, before = list(base_rows), 0, _compiles()
    for i, (label, priors) in enumerate(scenarios, start=1):
        own = priors == base
        if say is not None:
            say(f"sensitivity {i}/{len(scenarios)}: {label}" + (" (the fit itself)" if own else ""))
        if own:
            rows.extend(_rows(result, label, priors))
            continue
        with warnings.catch_warnings():  # the table has divergences and R-hat
            warnings.filterwarnings("ignore", message=_SAMPLER_WARNINGS)
            refit = _refit(result, priors, sampler)
        refits += 1
        rows.extend(_rows(refit, label, priors))
    table = _with_shift(rows, base_rows)
    reference_dict = {str(k): dict(v) for k, v in (reference or {}).items()}
    return NetworkSensitivityResult(
        table, reference_dict, _compiles() - before, refits, built.arms.reference
    )


def check_network_sweep(spec: Any) -> None:
    """Before any fitting: a network spec's ``run --sensitivity`` can run (the one-stage
    route is fitted; the ``[sensitivity]`` grid fits the spec's model,
    :func:`check_network_grid`); an error names the key or the slot."""
    settings = spec.network
    routes = ("two-stage", "one-stage") if settings is None else settings.routes
    if "one-stage" not in routes:
        raise SpecError(
            "--sensitivity: the prior sweep refits the one-stage network model; set "
            '[network] route = "one-stage" or "both"'
        )
    check_network_grid(
        spec.sensitivity.by_slot() if spec.sensitivity is not None else {},
        family=spec.data.family,
        effects="fixed" if spec.two_stage.method == "FE" else "random",
        covariates=bool(spec.model.covariates),
        interactions=bool(spec.model.interactions),
    )


def network_sweep_for_analysis(
    analysis: Any, say: Callable[[str], None] | None = None
) -> NetworkSensitivityResult:
    """The sweep of a network spec's analysis
    (:class:`~bayes_ipd.one_stage.network_analysis.NetworkAnalysis`): its one-stage fit over
    the spec's ``[sensitivity]`` grid (else the default), the two-stage estimates (when
    fitted) as reference lines."""
    spec = analysis.spec
    if analysis.one_stage is None:
        raise SpecError(
            "--sensitivity: the prior sweep refits the one-stage network model; set "
            '[network] route = "one-stage" or "both"'
        )
    given = spec.sensitivity.by_slot() if spec.sensitivity is not None else {}
    method = spec.two_stage.method + ("+HKSJ" if spec.two_stage.hksj else "")
    reference = two_stage_reference(analysis.two_stage, f"two-stage {method}")
    return network_sensitivity(analysis.one_stage, given, reference=reference, say=say)
