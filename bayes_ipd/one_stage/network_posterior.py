"""The one-stage network meta-analysis result: posterior nodes, league, SUCRA, JSON.

Every number is a summary of posterior draws (``mean, sd, median, q025, q975, ess_bulk,
r_hat``; :func:`~bayes_ipd.draws.posterior_node`). Rankings follow R ``netmeta``'s
``small.values``: with ``small_values="desirable"`` rank 1 is the smallest effect vs the
reference in a draw, with ``"undesirable"`` the largest. Rank probabilities are the share of
draws in which a treatment takes each rank; SUCRA (Salanti, Ades & Ioannidis 2011) is
``sum_{r < T} P(rank <= r) / (T - 1)``, equivalently ``(T - mean rank) / (T - 1)``.
A new trial's effect of ``t`` vs the reference is ``d_t + delta_new``, ``delta_new ~ N(0,
tau^2)`` drawn once per posterior draw (fixed effects: ``d_t``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.conventions import SEED_OFFSETS, json_ready
from bayes_ipd.draws import chain_draw, posterior_node
from bayes_ipd.families import get_family
from bayes_ipd.one_stage.network_model import NetworkModel, network_slots
from bayes_ipd.plots.ppc import ppc_plot
from bayes_ipd.plots.rankogram import rankogram_figure

__all__ = ["SMALL_VALUES", "NetworkPosterior", "rank_probabilities", "sucra", "ume_comparison"]

SMALL_VALUES = ("desirable", "undesirable")


def rank_probabilities(draws: np.ndarray, small_values: str = "desirable") -> np.ndarray:
    """``P[t, r]``: the share of draws in which treatment ``t`` has rank ``r + 1``.

    Parameters
    ----------
    draws : numpy.ndarray
        (S, T) effects vs the reference (the reference's column 0), one row per draw.
    small_values : {"desirable", "undesirable"}

    Examples
    --------
    >>> rank_probabilities(np.array([[0.0, 1.0], [0.0, -1.0]]), "undesirable").tolist()
    [[0.5, 0.5], [0.5, 0.5]]
    """
    sign = 1.0 if small_values == "desirable" else -1.0
    ranks = np.argsort(np.argsort(sign * draws, axis=1, kind="stable"), axis=1)
    t = draws.shape[1]
    counts = np.stack([(ranks == r).mean(axis=0) for r in range(t)], axis=1)
    return counts


def sucra(probabilities: np.ndarray) -> np.ndarray:
    """SUCRA of each treatment from its rank probabilities (module docstring).

    Examples
    --------
    >>> sucra(np.array([[1.0, 0.0], [0.0, 1.0]])).tolist()
    [1.0, 0.0]
    """
    t = probabilities.shape[1]
    return np.cumsum(probabilities, axis=1)[:, : t - 1].sum(axis=1) / (t - 1)


@dataclass(frozen=True, eq=False)
class NetworkPosterior:
    """A one-stage Bayesian network meta-analysis (frozen).

    Attributes
    ----------
    built : NetworkModel
        The model, its arm-level sums and the priors in use.
    idata : arviz.InferenceData
    diagnostics : SamplingDiagnostics
    sampler : SamplerSettings
    small_values : str
        Orientation of the ranking.
    inconsistency : Mapping, optional
        The consistency vs unrelated-mean-effects comparison (``fit_network_bayes(...,
        inconsistency=True)``; :func:`ume_comparison`), else None.
    splits : tuple of Mapping
        Node-splits (:func:`~bayes_ipd.one_stage.network_split.node_splits`), else empty.
    """

    built: NetworkModel
    idata: Any
    diagnostics: Any
    sampler: Any
    small_values: str = "desirable"
    inconsistency: Mapping[str, Any] | None = None
    splits: tuple[Mapping[str, Any], ...] = ()

    @property
    def treatments(self) -> tuple[str, ...]:
        return self.built.arms.treatments

    @property
    def reference(self) -> str:
        return self.built.arms.reference

    @property
    def k(self) -> int:
        """Trials in the model."""
        return self.built.arms.k

    @property
    def effects_model(self) -> str:
        return self.built.effects

    def d_draws(self) -> np.ndarray:
        """(chain, draw, T) effects of every treatment vs the reference (column 0: zeros)."""
        d = self.idata.posterior["d"].transpose("chain", "draw", "treatment").values
        zeros = np.zeros((*d.shape[:2], 1))
        return np.concatenate([zeros, np.asarray(d, dtype=np.float64)], axis=2)

    def tau_draws(self) -> np.ndarray | None:
        """(chain, draw) draws of tau; None for fixed effects."""
        if "tau" not in self.idata.posterior:
            return None
        return chain_draw(self.idata.posterior["tau"])

    def effects(self) -> pd.DataFrame:
        """Each non-reference treatment vs the reference: a posterior node per row."""
        d = self.d_draws()
        return pd.DataFrame(
            [posterior_node(d[:, :, t]) for t in range(1, d.shape[2])],
            index=pd.Index(self.treatments[1:], name="treatment"),
        )

    def tau_node(self) -> dict[str, float] | None:
        """Posterior node of the between-trial SD (None for fixed effects)."""
        tau = self.tau_draws()
        return None if tau is None else posterior_node(tau)

    def league(self) -> dict[str, dict[str, dict[str, float]]]:
        """``league[A][B]``: posterior node of A vs B (``d_A - d_B``), every ordered pair."""
        d = self.d_draws()
        return {
            a: {
                b: posterior_node(d[:, :, i] - d[:, :, j])
                for j, b in enumerate(self.treatments)
                if i != j
            }
            for i, a in enumerate(self.treatments)
        }

    def league_table(self) -> pd.DataFrame:
        """The league as a square frame of ``"mean (q025, q975)"`` texts (row vs column)."""
        league = self.league()
        cells = [
            [
                a if a == b else "{mean:.3f} ({q025:.3f}, {q975:.3f})".format(**league[a][b])
                for b in self.treatments
            ]
            for a in self.treatments
        ]
        return pd.DataFrame(cells, index=self.treatments, columns=self.treatments)

    def rank_probabilities(self) -> pd.DataFrame:
        """P(rank r) per treatment: rows treatments, columns ranks 1..T."""
        d = self.d_draws()
        probs = rank_probabilities(d.reshape(-1, d.shape[2]), self.small_values)
        return pd.DataFrame(
            probs,
            index=pd.Index(self.treatments, name="treatment"),
            columns=pd.Index(range(1, probs.shape[1] + 1), name="rank"),
        )

    def ranking(self) -> pd.DataFrame:
        """SUCRA and mean rank, best first."""
        probs = self.rank_probabilities()
        ranks = np.arange(1, probs.shape[1] + 1)
        frame = pd.DataFrame(
            {"sucra": sucra(probs.to_numpy()), "mean_rank": probs.to_numpy() @ ranks},
            index=probs.index,
        )
        return frame.sort_values("sucra", ascending=False)

    def prediction_draws(self, seed: int | None = None) -> np.ndarray:
        """(chain, draw, T - 1) effects vs the reference in a new trial (module docstring)."""
        d = self.d_draws()[:, :, 1:]
        tau = self.tau_draws()
        if tau is None:
            return d
        base = self.sampler.seed if seed is None else seed
        rng = np.random.default_rng(base + SEED_OFFSETS["new_study"])
        return d + tau[:, :, None] * rng.standard_normal(d.shape)

    def prediction(self, seed: int | None = None) -> pd.DataFrame:
        """Posterior predictive node of each treatment vs the reference in a new trial."""
        pred = self.prediction_draws(seed)
        return pd.DataFrame(
            [posterior_node(pred[:, :, t]) for t in range(pred.shape[2])],
            index=pd.Index(self.treatments[1:], name="treatment"),
        )

    def ppc(self, seed: int | None = None) -> pd.DataFrame:
        """Posterior predictive check per trial and arm: the observed arm statistic (events,
        survival's summed over the intervals with the person-time held fixed; a normal
        outcome's arm mean) beside its replicates' mean and 95% interval, and the
        two-sided predictive p-value ``2 min(P(rep >= obs), P(rep <= obs))`` (capped at 1)."""
        arms = self.built.arms
        base = self.sampler.seed if seed is None else seed
        rng = np.random.default_rng(base + SEED_OFFSETS["ppc"])
        name, observed, reps = self._arm_replicates(rng)
        upper, lower = (reps >= observed).mean(axis=0), (reps <= observed).mean(axis=0)
        low, high = np.quantile(reps, [0.025, 0.975], axis=0)
        # arms of trials given as contrasts (aggregate data) hold no arm-level data
        keep = ~np.isin(arms.arm_study, arms.given_study)
        return pd.DataFrame(
            {
                "study": [arms.studies[s] for s in arms.arm_study],
                "treatment": [arms.treatments[t] for t in arms.arm_treatment],
                "statistic": name,
                "observed": observed,
                "mean": reps.mean(axis=0),
                "q025": low,
                "q975": high,
                "p_value": np.minimum(1.0, 2.0 * np.minimum(upper, lower)),
            }
        )[keep].reset_index(drop=True)

    def _arm_replicates(self, rng: np.random.Generator) -> tuple[str, np.ndarray, np.ndarray]:
        """The checked statistic's name, observed (A,) and replicates (S, A) per arm (the
        arm-level model: every row of an arm shares its ``eta``)."""
        from bayes_ipd.one_stage.network_deviance import arm_eta_draws
        from bayes_ipd.one_stage.network_summaries import replicate_arm_statistic

        arms, posterior = self.built.arms, self.idata.posterior
        eta = arm_eta_draws(posterior, arms)
        sigma = arms.model.nuisance_draws(posterior)  # the family's nuisance parameter
        return replicate_arm_statistic(arms, eta, sigma, rng)

    def loo(self, marginal: bool | None = None) -> dict[str, Any]:
        """Leave-one-trial-out PSIS-LOO of this fit, one term per trial
        (:func:`~bayes_ipd.one_stage.network_loo.trial_loo`: ``elpd, se, p_loo``, Pareto
        ``k`` per trial, and ``terms``). ``marginal=None``: each trial's baseline and
        random effects integrated out where available, else the conditional terms stored
        while sampling (:func:`~bayes_ipd.one_stage.network_loo.loo_terms`). The
        comparison with the unrelated-mean-effects and node-split models is
        ``inconsistency["loo"]``."""
        from bayes_ipd.one_stage.network_loo import loo_terms, trial_loo

        idata, used = loo_terms(self.built, self.idata, marginal)
        return {**trial_loo(idata), "terms": "marginal" if used else "conditional"}

    def ppc_plot(self, seed: int | None = None) -> Any:
        """The posterior predictive check per trial and arm (:meth:`ppc`) as a figure:
        each arm's observed statistic over its replicates' 95% interval
        (:func:`~bayes_ipd.plots.ppc.ppc_plot`)."""
        table = self.ppc(seed).rename(
            columns={"treatment": "arm", "mean": "rep_mean", "q025": "rep_q025",
                     "q975": "rep_q975"}
        )  # fmt: skip
        label = "Events per arm" if table["statistic"].iloc[0] == "events" else "Arm mean"
        return ppc_plot(table, statistic_label=label, title="Posterior predictive check")

    def plot(self) -> Any:
        """The forest plot of each treatment vs the reference (posterior mean, 95% CrI)
        beside the rankogram; a matplotlib ``Figure``."""
        return rankogram_figure(
            self.effects(),
            self.rank_probabilities(),
            self.reference,
            get_family(self.built.arms.family).scale.name,
            self.small_values,
        )

    def network(self) -> dict[str, pd.DataFrame]:
        """Every table by name: ``effects``, ``league``, ``ranking``, ``rank_probabilities``,
        ``prediction``, ``ppc`` (per trial and arm) and, with
        ``inconsistency=True``, ``loo`` (leave-one-trial-out LOO per model)."""
        tables = {
            "effects": self.effects(),
            "league": self.league_table(),
            "ranking": self.ranking(),
            "rank_probabilities": self.rank_probabilities(),
            "prediction": self.prediction(),
            "ppc": self.ppc(),
        }
        if self.inconsistency is not None and "loo" in self.inconsistency:
            from bayes_ipd.one_stage.network_loo import loo_table

            tables["loo"] = loo_table(self.inconsistency["loo"])
        return tables

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``bayes-ipd network --route one-stage --json`` (issue 25):
        ``inconsistency`` is null unless the unrelated-mean-effects model was fitted
        (:func:`ume_comparison`); ``node_split`` is empty unless node-splitting was run
        (``inconsistency=True``)."""
        probs = self.rank_probabilities()
        scores = sucra(probs.to_numpy())
        return json_ready(
            {
                "route": "one-stage",
                "reference": self.reference,
                "treatments": list(self.treatments),
                "k": self.k,
                "effects": {t: dict(row) for t, row in self.effects().iterrows()},
                "tau": self.tau_node(),
                "league": self.league(),
                "ranking": {
                    t: {"sucra": float(s), "rank_probabilities": [float(p) for p in row]}
                    for t, s, row in zip(self.treatments, scores, probs.to_numpy(), strict=True)
                },
                "inconsistency": None if self.inconsistency is None else self.inconsistency,
                "node_split": [dict(split) for split in self.splits],
            }
        )

    def summary(self) -> str:
        """A readable report: model, priors, effects, tau, ranking, sampler diagnostics."""
        arms = self.built.arms
        scale = get_family(arms.family).scale.name
        effects = "random effects (common tau, multi-arm correlation 1/2)"
        if self.effects_model == "fixed":
            effects = "fixed effects"
        slots = network_slots(self.built.priors, self.effects_model)
        lines = [
            f"One-stage Bayesian network meta-analysis ({arms.family}, {effects}): {arms.k} "
            f"trials, {arms.n_arms} arms, {len(self.treatments)} treatments; {scale} vs "
            f"{self.reference!r}",
            "priors: "
            + "; ".join(self.built.priors.describe(slots).splitlines()).replace(
                "effect (mu)", "effect (each d_t)"
            ),
        ]
        for t, row in self.effects().iterrows():
            lines.append(
                f"  {t:<24} {row['mean']:8.4f} (sd {row['sd']:.4f}; 95% CrI "
                f"{row['q025']:.4f} to {row['q975']:.4f})"
            )
        tau = self.tau_node()
        if tau is not None:
            lines.append(
                f"tau = {tau['mean']:.4f} (sd {tau['sd']:.4f}; 95% CrI {tau['q025']:.4f} to "
                f"{tau['q975']:.4f})"
            )
        lines.append(
            f"SUCRA (small values {self.small_values}): "
            + ", ".join(f"{t} {s:.3f}" for t, s in self.ranking().sucra.items())
        )
        if self.inconsistency is not None:
            lines.append(_ume_line(self.inconsistency))
            if "loo" in self.inconsistency:
                from bayes_ipd.one_stage.network_loo import loo_line

                lines.append(loo_line(self.inconsistency["loo"]))
        for split in self.splits:
            lines.append(
                f"node-split {split['comparison']}: direct {split['direct']['mean']:.3f}, "
                f"indirect {split['indirect']['mean']:.3f}, difference "
                f"{split['difference']['mean']:.3f} (p = {split['p']:.3f})"
            )
        diag = self.diagnostics
        lines.append(
            f"sampler: {diag.chains} chains x {diag.draws} draws ({diag.tune} tuning), "
            f"{diag.divergences} divergences, max R-hat {diag.r_hat_max:.3f}, min bulk ESS "
            f"{diag.ess_bulk_min:.0f}"
        )
        return "\n".join(lines)


def ume_comparison(consistency: Any, ume: Any) -> dict[str, Any]:
    """The ``inconsistency`` member of the one-stage JSON: the deviance summaries
    (:func:`~bayes_ipd.one_stage.network_deviance.deviance_summary`) of the consistency and
    the unrelated-mean-effects fits, and the UME model's effect per comparison.

    Parameters
    ----------
    consistency, ume : (NetworkModel, arviz.InferenceData)
        Each model with its posterior.
    """
    from bayes_ipd.one_stage.network_deviance import deviance_summary

    (c_model, c_idata), (u_model, u_idata) = consistency, ume
    c_fit = deviance_summary(c_idata.posterior, c_model.arms)
    u_fit = deviance_summary(u_idata.posterior, u_model.arms)
    d_ume = u_idata.posterior["d_ume"]
    effects = {
        str(label): posterior_node(chain_draw(d_ume.sel(comparison=label)))
        for label in d_ume.coords["comparison"].values
    }
    keys = ("dbar", "pd", "dic")
    return {
        "model": "unrelated mean effects",
        "deviance": c_fit["deviance"],
        "n_data": c_fit["n_data"],
        "consistency": {k: c_fit[k] for k in keys},
        "ume": {k: u_fit[k] for k in keys},
        "ume_effects": effects,
    }


def _ume_line(block: Mapping[str, Any]) -> str:
    c, u = block["consistency"], block["ume"]
    if block["deviance"] is None:  # the covariate model: no residual deviance, LOO only
        return "consistency vs unrelated mean effects: deviance and DIC not available"
    return (
        f"consistency vs unrelated mean effects ({block['deviance']} deviance, "
        f"{block['n_data']} data points): Dbar {c['dbar']:.1f} vs {u['dbar']:.1f}, "
        f"pD {c['pd']:.1f} vs {u['pd']:.1f}, DIC {c['dic']:.1f} vs {u['dic']:.1f}"
    )
