"""Posterior: the value a one-stage fit produces, and everything read from it alone.

A :class:`Posterior` holds the ArviZ ``InferenceData`` of a fit with the model it came from
and the sampler's settings and diagnostics, and derives from them, without changing them:
the posterior summary (pooled effect, τ, the effect in a new trial, covariate, interaction
and moderator coefficients), the shrunken per-trial effects, the within-trial effect curve,
the τ prior-vs-posterior figure, JSON output and the printed report. Posterior summary
nodes (``mean, sd, median, q025, q975, ess_bulk, r_hat``) are computed here for every
report (:func:`posterior_node`).

Readers that go further take a :class:`Posterior` as a value: draws as arrays
(:mod:`~bayes_ipd.draws`), predictions (:mod:`~bayes_ipd.one_stage.prediction`,
:mod:`~bayes_ipd.one_stage.metareg`) and model checks (:mod:`bayes_ipd.checks`). The
public face, :class:`~bayes_ipd.one_stage.result.OneStageResult`, is a :class:`Posterior`
with those readers as methods.

Conventions
-----------
* Effect scale: the family's (mean difference, log odds ratio, log hazard ratio); on the
  log-ratio scales the effect, new-trial and interaction rows are also given exponentiated
  (``exp_*`` columns, ratios per unit of the covariate for interactions).
* The effect in a new trial is ``theta_new ~ Normal(mu, tau)`` drawn once per posterior
  draw, at the average trial's covariate means (where the across-trial interaction term is
  zero).
* Intervals are equal-tailed posterior quantiles (``q025`` and ``q975`` at 95%).
* Random numbers for derived draws (new trial, replicated data) come from
  ``numpy.random.default_rng(seed)`` with, by default, the sampler's seed plus a fixed
  offset per method (:data:`bayes_ipd.conventions.SEED_OFFSETS`: +1 new trial, +2
  posterior predictive, +3 prior predictive), so that every report is reproducible.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from bayes_ipd.checks.rmst import rmst_json
from bayes_ipd.conventions import SEED_OFFSETS, EffectScale, json_ready
from bayes_ipd.draws import chain_draw, posterior_node, quantile_labels
from bayes_ipd.one_stage.imputation import missing_summary
from bayes_ipd.plots import prior_posterior_plot
from bayes_ipd.plots.effect_curve import effect_curve_plot
from bayes_ipd.plots.text import (
    TextColumn,
    decimals_for,
    fmt_fixed,
    fmt_probability,
    fmt_rhat,
    text_table,
)
from bayes_ipd.priors import tau_scale_prior
from bayes_ipd.splines import EffectCurve, within_trial_curve

if TYPE_CHECKING:
    import arviz as az
    from matplotlib.figure import Figure

    from bayes_ipd.spec import SamplerSettings

__all__ = ["Posterior", "SummaryFrame", "chain_draw", "posterior_node", "quantile_labels"]


# ---------------------------------------------------------------------- the tables


# Printing a table shows every column and row on one line per row: the default display
# hides columns behind "..." ("[3 rows x 11 columns]"), and a summary is read whole.
_WIDE = (
    "display.max_columns",
    None,
    "display.max_rows",
    None,
    "display.expand_frame_repr",
    False,
)


class SummaryFrame(pd.DataFrame):
    """A :class:`pandas.DataFrame` that prints whole (every column, every row).

    Only the display differs: values, columns and index are those of the frame it wraps,
    and derived frames (slices, arithmetic) are plain DataFrames.
    """

    def __repr__(self) -> str:
        with pd.option_context(*_WIDE):
            return super().__repr__()

    def __str__(self) -> str:
        return self.__repr__()

    def _repr_html_(self) -> str | None:
        with pd.option_context(*_WIDE):
            return super()._repr_html_()


# ---------------------------------------------------------------------- the value


@dataclass(frozen=True, eq=False, repr=False)
class Posterior:
    """Posterior of a one-stage model (ArviZ InferenceData) with its model and diagnostics.

    Every method derives a new value; the posterior itself never changes.

    Attributes
    ----------
    idata : arviz.InferenceData
        ``posterior``, ``sample_stats`` and ``log_likelihood`` (variable ``trial``, one term
        per trial) groups; variables and dims as in :mod:`bayes_ipd.one_stage.builder`.
    built : BuiltModel
        The PyMC model with its design, spec and priors in use
        (:class:`bayes_ipd.one_stage.builder.BuiltModel`).
    sampler : SamplerSettings
        The settings the fit was sampled with.
    diagnostics : SamplingDiagnostics
        Divergences, R-hat, ESS, timings and warnings
        (:class:`bayes_ipd.one_stage.sampling.SamplingDiagnostics`).
    """

    idata: az.InferenceData
    # The builder and the sampler sit beside the readers typed on this value; naming their
    # classes here would join them in an import cycle, so the fields say Any.
    built: Any
    sampler: SamplerSettings
    diagnostics: Any

    # ---------------------------------------------------------------- scales and seeds

    @property
    def family(self) -> str:
        """Outcome family."""
        return self.built.design.family

    @property
    def scale(self) -> EffectScale:
        """The family's effect scale."""
        return self.built.design.plugin.scale

    @property
    def effect_scale(self) -> str:
        """``"MD"`` (gaussian), ``"logOR"`` (binomial) or ``"logHR"`` (survival)."""
        return self.scale.code

    @property
    def is_ratio(self) -> bool:
        """Whether the effect is a log ratio (then also reported exponentiated)."""
        return self.scale.is_ratio

    @property
    def ratio_label(self) -> str | None:
        """``"OR"`` or ``"HR"`` on a log-ratio scale, else None."""
        return self.scale.ratio_label

    @property
    def seed(self) -> int:
        """The sampler's seed (the base of every derived random draw)."""
        seed = getattr(self.sampler, "seed", None)
        return int(seed if seed is not None else self.diagnostics.seed)

    def derived_seed(self, what: str, seed: int | None = None) -> int:
        """``seed`` if given, else the sampler's seed plus the offset of ``what``
        (:data:`~bayes_ipd.conventions.SEED_OFFSETS`)."""
        return int(seed) if seed is not None else self.seed + SEED_OFFSETS[what]

    # ------------------------------------------------------------------ new trial

    def predict_new_study(self, seed: int | None = None) -> xr.DataArray:
        """The treatment effect in a new trial, one draw per posterior draw.

        ``theta_new ~ Normal(mu, tau)``: the effect at the average trial's covariate
        means (where the across-trial interaction term vanishes).

        Parameters
        ----------
        seed : int, optional
            Seed of the normal draws; by default the sampler's seed + 1, so the result is
            reproducible.

        Returns
        -------
        xarray.DataArray
            ``theta_new`` with dims (chain, draw).
        """
        post = self.idata.posterior
        mu = post["mu"].transpose("chain", "draw")
        tau = post["tau"].transpose("chain", "draw")
        rng = np.random.default_rng(self.derived_seed("new_study", seed))
        z = rng.standard_normal(mu.shape)
        out = mu + tau * xr.DataArray(z, dims=("chain", "draw"), coords=mu.coords)
        return out.rename("theta_new")

    def moderator_draws(self) -> dict[str, np.ndarray]:
        """``{moderator: (chain, draw) draws of gamma}``; empty without moderators."""
        post = self.idata.posterior
        return {
            name: chain_draw(post["gamma_moderator"].sel(moderator=name))
            for name in self.built.spec.moderators
        }

    # ------------------------------------------------------------------ summaries

    def _blocks(self) -> dict[str, Any]:
        """Named (chain, draw) draw arrays: scalars, or dicts of them by term or trial."""
        post = self.idata.posterior
        design = self.built.design
        blocks: dict[str, Any] = {
            "effect": chain_draw(post["mu"]),
            "tau": chain_draw(post["tau"]),
            "new_study_effect": chain_draw(self.predict_new_study()),
            "coefficients": {},
            "interactions_within": {},
            "interactions_across": {},
        }
        if self.built.spec.moderators:
            blocks["moderators"] = self.moderator_draws()
        for term in design.covariate_terms:
            beta = post["beta"].sel(covariate=term)
            if "study" in beta.dims:
                for study in design.studies:
                    key = f"{term} [{study}]"
                    blocks["coefficients"][key] = chain_draw(beta.sel(study=study))
            else:
                blocks["coefficients"][term] = chain_draw(beta)
        for term in design.interaction_terms:
            within = post["gamma_within"].sel(interaction=term)
            across = post["gamma_across"].sel(interaction=term)
            blocks["interactions_within"][term] = chain_draw(within)
            blocks["interactions_across"][term] = chain_draw(across)
        if "tau_interaction" in post:
            blocks["tau_interaction"] = {
                t: chain_draw(post["tau_interaction"].sel(interaction=t))
                for t in design.interaction_terms
            }
        if "alpha_mu" in post:
            blocks["intercept_mean"] = chain_draw(post["alpha_mu"])
            blocks["intercept_sd"] = chain_draw(post["alpha_sd"])
        if "sigma" in post:
            sigma = post["sigma"]
            if "study" in sigma.dims:
                blocks["sigma"] = {s: chain_draw(sigma.sel(study=s)) for s in design.studies}
            else:
                blocks["sigma"] = chain_draw(sigma)
        return blocks

    def _summary_rows(self) -> list[tuple[str, str, np.ndarray]]:
        """(label, kind, draws) per summary row; kind decides the extra columns."""
        b = self._blocks()
        rows = [
            ("effect", "effect", b["effect"]),
            ("tau", "sd", b["tau"]),
            ("new-trial effect", "effect", b["new_study_effect"]),
        ]
        rows += [(f"coefficient: {t}", "coefficient", x) for t, x in b["coefficients"].items()]
        rows += [
            (f"interaction within: {t}", "interaction", x)
            for t, x in b["interactions_within"].items()
        ]
        rows += [
            (f"interaction across: {t}", "interaction", x)
            for t, x in b["interactions_across"].items()
        ]
        rows += [
            (f"tau interaction: {t}", "sd", x) for t, x in b.get("tau_interaction", {}).items()
        ]
        rows += [(f"moderator: {m}", "interaction", x) for m, x in b.get("moderators", {}).items()]
        rows += self._family_rows()
        if "intercept_mean" in b:
            rows += [
                ("intercept mean", "coefficient", b["intercept_mean"]),
                ("intercept SD", "sd", b["intercept_sd"]),
            ]
        if isinstance(b.get("sigma"), np.ndarray):
            rows.append(("sigma", "sd", b["sigma"]))
        return rows

    def _family_rows(self) -> list[tuple[str, str, np.ndarray]]:
        """Summary rows of the family's JSON blocks (survival: ``effect [12, 36)``,
        ``tau [12, 36)``, ``effect x log time``)."""
        design = self.built.design
        if not design.k:
            return []
        blocks = design.plugin.posterior_blocks(design, self.built.spec, self.idata.posterior)
        rows = []
        for key, block in blocks.items():
            name, kind = _BLOCK_ROWS.get(key, (key, "coefficient"))
            for labels, draws in block if isinstance(block, list) else [block]:
                span = ""
                if "start" in labels:
                    end = labels["end"]
                    span = f" [{labels['start']:g}, {'inf' if end is None else f'{end:g}'})"
                rows.append((f"{name}{span}", kind, chain_draw(draws)))
        return rows

    def summary(self, threshold: float | None = None, level: float = 0.95) -> pd.DataFrame:
        """Posterior summary of the model's main parameters.

        Parameters
        ----------
        threshold : float, optional
            An effect on the analysis scale (e.g. ``log(0.8)`` for an odds ratio of 0.8);
            adds ``p_lt_threshold`` = P(effect < threshold).
        level : float
            Coverage of the equal-tailed interval (0.95 gives ``q025`` and ``q975``; see
            :func:`quantile_labels`).

        Returns
        -------
        SummaryFrame
            A DataFrame that prints every column. Index ``parameter``: ``effect`` (mu),
            ``tau``, ``new-trial effect`` (theta_new), ``coefficient: <term>`` per
            covariate term (``<term> [<trial>]`` with trial-specific effects),
            ``interaction within: <term>`` and ``interaction across: <term>``, and when
            in the model ``tau interaction: <term>``,
            ``intercept mean`` / ``intercept SD``, ``moderator: <name>`` (the across-trial
            meta-regression coefficient per unit of a trial-level moderator, with ``tau``
            then the residual heterogeneity) and a common ``sigma`` (per-trial SDs are
            in :meth:`to_dict` and :attr:`idata`). Columns ``mean, sd, median, q025, q975,
            ess_bulk, r_hat``; on a log-ratio scale ``exp_median, exp_q025, exp_q975`` on
            the effect, new-trial and interaction rows; ``p_lt_0`` (and ``p_lt_threshold``)
            on the effect and new-trial rows.
        """
        lo, hi = quantile_labels(level)
        records = []
        for label, kind, x in self._summary_rows():
            rec: dict[str, Any] = {"parameter": label, **posterior_node(x, level)}
            if self.is_ratio:
                exp = kind in ("effect", "interaction")
                for col in ("median", lo, hi):
                    rec[f"exp_{col}"] = math.exp(rec[col]) if exp else math.nan
            rec["p_lt_0"] = float(np.mean(x < 0)) if kind == "effect" else math.nan
            if threshold is not None:
                rec["p_lt_threshold"] = (
                    float(np.mean(x < threshold)) if kind == "effect" else math.nan
                )
            records.append(rec)
        return SummaryFrame(pd.DataFrame.from_records(records).set_index("parameter"))

    def study_effects(self, level: float = 0.95) -> pd.DataFrame:
        """Shrunken treatment effect of each trial (``theta``, at the trial's covariate means).

        Returns
        -------
        SummaryFrame
            A DataFrame that prints every column. Index ``study``; columns ``mean, sd,
            median, q025, q975, ess_bulk, r_hat`` and, on a log-ratio scale,
            ``exp_median, exp_q025, exp_q975``.

        Raises
        ------
        ValueError
            The fit has no IPD trial (aggregate data only): their effects are in
            :func:`bayes_ipd.trial_effects`.
        """
        if not self.built.design.studies:
            raise ValueError(
                "this fit has no IPD trial, so no theta per trial: the aggregate-data trials' "
                "effects are in bayes_ipd.trial_effects(result)"
            )
        lo, hi = quantile_labels(level)
        theta = self.idata.posterior["theta"]
        records = []
        for study in self.built.design.studies:
            draws = chain_draw(theta.sel(study=study))
            rec: dict[str, Any] = {"study": study, **posterior_node(draws, level)}
            if self.is_ratio:
                for col in ("median", lo, hi):
                    rec[f"exp_{col}"] = math.exp(rec[col])
            records.append(rec)
        return SummaryFrame(pd.DataFrame.from_records(records).set_index("study"))

    # ------------------------------------------------------------------ figures

    def effect_curve(
        self, covariate: str, x: Any = None, level: float = 0.95, points: int = 101
    ) -> EffectCurve:
        """The within-trial treatment effect against an effect modifier (a spline one, or
        a linear one given ``x``), with its credible band
        (:func:`bayes_ipd.splines.within_trial_curve`)."""
        return within_trial_curve(
            self.built.design, self.idata.posterior, covariate, x, level, points
        )

    def effect_curve_plot(
        self, covariate: str, x: Any = None, level: float = 0.95, *, title: str | None = None
    ) -> Figure:
        """:meth:`effect_curve` drawn (:func:`bayes_ipd.plots.effect_curve.effect_curve_plot`)."""
        curve = self.effect_curve(covariate, x, level)
        return effect_curve_plot(
            curve.to_frame(),
            covariate=covariate,
            effect_label=f"treatment effect ({self.scale.name}), within trials",
            level=level,
            knots=curve.knots,
            title=title,
        )

    def tau_plot(self, *, title: str | None = None) -> Figure:
        """Prior density of τ over its posterior draws (:func:`plots.prior_posterior_plot`)."""
        prior = tau_scale_prior(self.built.priors.tau)
        return prior_posterior_plot(
            prior.logpdf,
            self.idata.posterior["tau"].values,
            name="τ",
            title=title or f"Between-trial SD τ: prior {prior} and posterior",
        )

    # ------------------------------------------------------------------------ output

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result; every posterior node is ``{mean, sd, median, q025, q975,
        ess_bulk, r_hat}`` (NaN as None).

        Keys ``model``, ``spec``, ``priors``, ``sampler``, ``posterior`` (``effect``,
        ``tau``, ``new_study_effect``, ``coefficients``, ``interactions_within``,
        ``interactions_across``, ``study_effects``; when in the model also ``sigma``,
        ``tau_interaction``, ``intercept_mean``, ``intercept_sd``, ``moderators``, for
        estimate-and-SE aggregate-data trials, ``aggregate_study_effects`` and, with the
        spec's ``rmst_horizons``, ``rmst_difference`` (``[{"horizon", ...node}]``, the
        equal-weight average over trials) and ``rmst_difference_by_study``
        (``{STUDY: [{"horizon", ...node}]}``; :mod:`bayes_ipd.checks.rmst`)) and
        ``diagnostics``; ``model.aggregate_studies`` lists the AD trials. With covariates
        imputed inside the model (``missing="impute"``) also ``missing``: ``{"method":
        "model", "imputed": {COLUMN: count}, "systematic": {COLUMN: [STUDY, ...]},
        "kinds": {COLUMN: "continuous" | "binary"}, "rows_one_by_one": R}``
        (:func:`~bayes_ipd.one_stage.imputation.missing_summary`).
        """
        posterior: dict[str, Any] = {}
        for key, value in self._blocks().items():
            if isinstance(value, dict):
                posterior[key] = {name: posterior_node(x) for name, x in value.items()}
            else:
                posterior[key] = posterior_node(value)
        design = self.built.design
        post = self.idata.posterior
        posterior["study_effects"] = {
            s: posterior_node(chain_draw(post["theta"].sel(study=s))) for s in design.studies
        }
        horizons = getattr(self.built.spec, "rmst_horizons", ())
        if horizons and design.k:
            posterior |= rmst_json(self, horizons)
        if design.k:  # family options' blocks (survival: effect_by_interval, ...)
            for key, block in design.plugin.posterior_blocks(design, self.built.spec, post).items():
                posterior[key] = _labelled_nodes(block)
        ad = design.aggregate
        if ad is not None and ad.k:
            posterior["aggregate_study_effects"] = {
                s: posterior_node(chain_draw(post["theta_ad"].sel(ad_study=s))) for s in ad.studies
            }
        sampler = self.sampler.to_dict() if hasattr(self.sampler, "to_dict") else None
        imputation = design.imputation
        out = json_ready(
            {
                "model": {
                    "family": self.family,
                    "effect_scale": self.effect_scale,
                    "k": design.k,
                    "n": design.n if imputation is None else imputation.n_rows,
                    "studies": list(design.studies),
                    "aggregate_studies": [] if ad is None else list(ad.labels),
                    "parameterisation": dict(self.built.parameterisation),
                },
                "spec": self.built.spec.to_dict(),
                "priors": self.built.priors.to_dict(),
                "sampler": sampler,
                "posterior": posterior,
                "diagnostics": self.diagnostics.to_dict(),
            }
        )
        if imputation is not None:  # covariates imputed inside the model
            out["missing"] = json_ready(missing_summary(imputation))
        return out

    def to_json(self, path: str | Path | None = None) -> str:
        """:meth:`to_dict` as JSON text (strict: no NaN); written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    # ------------------------------------------------------------------------ report

    def _model_lines(self) -> list[str]:
        design, spec = self.built.design, self.built.spec
        scale = self.scale.name
        if self.is_ratio:
            scale += f"; also as {self.scale.ratio_name}"
        forms = ", ".join(f"{k} {v}" for k, v in self.built.parameterisation.items())
        lines = [
            f"One-stage Bayesian IPD meta-analysis: {self.family} outcome, effect = {scale}",
            _trials_line(design),
            f"Model: {_model_description(design, spec)}; parameterisation: {forms}",
        ]
        if design.covariate_terms:
            lines.append(f"Covariates (centred within trial): {', '.join(design.covariate_terms)}")
        if design.interaction_terms:
            lines.append(
                "Interactions (split within / across trials): "
                + ", ".join(design.interaction_terms)
            )
        if spec.moderators:
            lines.append(
                "Moderators (trial-level, centred across trials; across-trial association): "
                + ", ".join(spec.moderators)
            )
        lines += design.plugin.design_lines(design) if design.k else []
        lines += design.plugin.spec_lines(design, spec) if design.k else []
        return lines

    def _prior_lines(self) -> list[str]:
        """The priors of the slots the model uses (:attr:`BuiltModel.prior_slots`)."""
        return self.built.priors.describe(self.built.prior_slots).splitlines()

    def _diagnostic_lines(self) -> list[str]:
        d = self.diagnostics
        lines = [
            f"Sampling: {d.backend}, {d.chains} chains x {d.draws} draws ({d.tune} tuning), "
            f"seed {d.seed}; compile {d.compile_seconds:.1f} s"
            f"{' (reused)' if d.reused_compiled else ''}, sampling {d.sampling_seconds:.1f} s",
            f"Diagnostics: {d.divergences} divergent transitions, max R-hat {d.r_hat_max:.3f}, "
            f"min ESS bulk {d.ess_bulk_min:.0f} / tail {d.ess_tail_min:.0f}",
        ]
        lines += [f"Warning: {w}" for w in d.warnings]
        return lines

    def _display_summary(self) -> pd.DataFrame:
        """The posterior summary as text cells (see :func:`_summary_cells`)."""
        return _summary_cells(self.summary(), self.ratio_label if self.is_ratio else None)

    def _extra_lines(self) -> list[str]:
        """A block printed between the summary and the diagnostics (none here; the public
        face adds the meta-regression block of :mod:`~bayes_ipd.one_stage.metareg`)."""
        return []

    def __repr__(self) -> str:
        table = self._display_summary()
        columns = [TextColumn("", tuple(table.index), "left")]
        columns += [TextColumn(str(c), tuple(table[c])) for c in table.columns]
        body = "\n".join(text_table(columns))
        lines = [*self._model_lines(), "", "Priors:"]
        lines += [f"  {line}" for line in self._prior_lines()]
        lines += ["", "Posterior (95% equal-tailed credible intervals):", body, ""]
        block = self._extra_lines()
        lines += [*block, ""] if block else []
        lines += self._diagnostic_lines()
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        parts = [f"<p><b>{esc(self._model_lines()[0])}</b><br>"]
        parts += [f"{esc(line)}<br>" for line in self._model_lines()[1:]]
        parts.append("</p><p><b>Priors</b></p><ul>")
        parts += [f"<li>{esc(line)}</li>" for line in self._prior_lines()]
        parts.append("</ul><p><b>Posterior</b> (95% equal-tailed credible intervals)</p>")
        parts.append(self._display_summary().to_html())
        block = self._extra_lines()
        if block:
            parts.append("<p>" + "<br>".join(esc(x) for x in block) + "</p>")
        parts.append("<p>" + "<br>".join(esc(x) for x in self._diagnostic_lines()) + "</p>")
        return "\n".join(parts)


_BLOCK_ROWS = {
    "effect_by_interval": ("effect", "effect"),
    "tau_by_interval": ("tau", "sd"),
    "effect_log_time": ("effect x log time", "interaction"),
}
"""Summary-table label and kind of a family's JSON blocks (:meth:`Family.posterior_blocks`)."""


def _labelled_nodes(block: Any) -> Any:
    """``{**labels, **node}`` of a family's ``(labels, draws)`` block, or a list of them."""
    if isinstance(block, list):
        return [_labelled_nodes(b) for b in block]
    labels, draws = block
    return {**labels, **posterior_node(chain_draw(draws))}


def _model_description(design: Any, spec: Any) -> str:
    """``stratified intercepts, random treatment effect, ...``; for aggregate data alone
    (no participant rows: no intercepts, covariates or residual SD), the normal model of the
    reported estimates."""
    if not design.k:
        return "random treatment effect; reported estimates normal with their known SEs"
    model = f"{spec.intercepts} intercepts, random treatment effect"
    if design.covariate_terms:
        model += f", {spec.covariate_effects} covariate effects"
    model += design.plugin.model_description(spec)
    if spec.random_interactions:
        model += ", random interactions"
    return model


def _trials_line(design: Any) -> str:
    """``Trials: k = 10 with participant rows (IPD) + 3 aggregate-data (AD): ...``."""
    ad = design.aggregate
    counts = set(ad.count_studies) if ad is not None else set()
    n_ipd = sum(1 for s in design.studies if s not in counts)
    line = f"Trials: k = {n_ipd + (ad.k + len(counts) if ad is not None else 0)}"
    if ad is None or not ad.labels:
        return line + f"; participants: n = {design.n:,}"
    pairs = zip(design.studies, design.n_arm, strict=True)
    n_rows = sum(int(n.sum()) for s, n in pairs if s not in counts)
    rows = f"{n_ipd} with participant rows (IPD), n = {n_rows:,}; " if n_ipd else ""
    return line + f" ({rows}{len(ad.labels)} aggregate-data (AD): {', '.join(ad.labels)})"


def _summary_cells(table: pd.DataFrame, ratio_label: str | None) -> pd.DataFrame:
    """The display columns of :meth:`Posterior.summary` as text.

    One number of decimals for the analysis-scale columns (from the smallest posterior
    SD) and one for the ratio columns (from the smallest ``ratio x SD``, the delta-method
    SD of the ratio), via :func:`decimals_for`; P(<0) as a probability with ``>0.999`` /
    ``<0.001`` at the ends; ESS as integers; R-hat with three decimals. The index has no
    name, so no ``parameter`` line is printed above the rows.
    """
    sd = table["sd"].astype(float)
    linear = decimals_for(sd)
    cells: dict[str, list[str]] = {
        c: [fmt_fixed(v, linear) for v in table[c]]
        for c in ("mean", "sd", "median", "q025", "q975")
    }
    if ratio_label:
        ratio = decimals_for((table["exp_median"].astype(float) * sd).tolist())
        for c in ("median", "q025", "q975"):
            cells[f"{ratio_label} {c}"] = [fmt_fixed(v, ratio) for v in table[f"exp_{c}"]]
    cells["P(<0)"] = [fmt_probability(p) for p in table["p_lt_0"]]
    cells["ESS bulk"] = [fmt_fixed(v, 0) for v in table["ess_bulk"]]
    cells["R-hat"] = [fmt_rhat(v) for v in table["r_hat"]]
    return pd.DataFrame(cells, index=pd.Index(list(table.index)))
