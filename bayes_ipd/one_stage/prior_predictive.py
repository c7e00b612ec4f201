"""Prior predictive checks before any posterior fit: ``prior_predictive(data, spec)``.

The model is built from the data's design exactly as :func:`~bayes_ipd.one_stage.fitting.fit`
builds it (:func:`~bayes_ipd.one_stage.estimation.design_for`; same priors, same
data-dependent defaults), but only its prior is sampled
(:func:`pymc.sample_prior_predictive`; the likelihood is a ``pm.Potential``, which prior
sampling leaves out). The trial outcome statistics are replicated from those prior draws by
the family (:func:`bayes_ipd.checks.ppc.prior_predictive_check`), so the table shows whether
the prior allows, or wildly exceeds, data like the observed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_ipd.plots.prior_predictive import prior_predictive_plot
from bayes_ipd.priors import PriorSet, tau_scale_prior
from bayes_ipd.spec import ModelSpec

__all__ = ["PriorPredictive", "prior_predictive"]

DEFAULT_SEED = 20240601


@dataclass(frozen=True, eq=False)
class PriorPredictive:
    """Prior draws of τ and the pooled effect, and outcomes replicated from the prior.

    Attributes
    ----------
    tau, effect : numpy.ndarray
        Prior draws of τ and of the pooled effect μ (read-only).
    check : PPCResult
        Per trial and arm: the observed statistic and its prior predictive range
        (``kind="prior"``).
    priors : PriorSet
        The priors in use.
    draws, seed : int
    """

    tau: np.ndarray
    effect: np.ndarray
    check: Any
    priors: PriorSet
    draws: int
    seed: int

    def summary(self) -> pd.DataFrame:
        """2.5%, 50% and 97.5% prior quantiles of ``tau`` and ``effect`` (index
        ``parameter``)."""
        rows = []
        for name, x in (("tau", self.tau), ("effect", self.effect)):
            q = np.quantile(x, [0.025, 0.5, 0.975])
            rows.append({"parameter": name, "q025": q[0], "median": q[1], "q975": q[2]})
        return pd.DataFrame(rows).set_index("parameter")

    def plot(self, statistic: str | None = None, *, title: str | None = None) -> Figure:
        """Implied τ, pooled effect and per-trial outcome summaries
        (:func:`bayes_ipd.plots.prior_predictive.prior_predictive_plot`)."""
        statistic = statistic or self.check.statistic
        table = self.check.table[self.check.table["statistic"] == statistic]
        return prior_predictive_plot(
            self.tau,
            tau_scale_prior(self.priors.tau).logpdf,
            self.effect,
            self.priors.effect.logpdf,
            table,
            outcome_label=dict(self.check.labels).get(statistic, statistic),
            title=title or "Prior predictive check (before fitting)",
        )

    def __repr__(self) -> str:
        head = f"Prior predictive check: {self.draws} prior draws, seed {self.seed}"
        body = self.summary().to_string(float_format=lambda x: f"{x:.4g}")
        return f"{head}\n{body}\n\n{self.check!r}"


def prior_predictive(
    data: Any,
    spec: ModelSpec | None = None,
    *,
    draws: int = 500,
    seed: int = DEFAULT_SEED,
    priors: PriorSet | None = None,
) -> PriorPredictive:
    """Prior predictive check of a one-stage model, without sampling its posterior.

    Parameters
    ----------
    data : IPD, TrialSummary, Design or a sequence of them
        As for :func:`bayes_ipd.fit` (the design fixes trials, arms, covariates and the
        data-dependent default priors).
    spec : ModelSpec, optional
        By default ``ModelSpec(family=data.family)``.
    draws : int
        Prior draws.
    seed : int
        Seed of the prior draws and of the replicated data.
    priors : PriorSet, optional
        Priors in use; by default the spec's with defaults elsewhere.

    Returns
    -------
    PriorPredictive

    Examples
    --------
    >>> import bayes_ipd as bi
    >>> ipd = bi.datasets.load_bp_ipd()  # doctest: +SKIP
    >>> check = bi.prior_predictive(ipd, bi.ModelSpec("gaussian"))  # doctest: +SKIP
    >>> check.plot()  # doctest: +SKIP
    """
    from bayes_ipd.checks.ppc import PPCResult, ppc_table, replicate_statistics, sample_prior
    from bayes_ipd.one_stage.builder import build_model
    from bayes_ipd.one_stage.estimation import design_for

    if spec is None:
        spec = ModelSpec(family=getattr(data, "family", "gaussian"))
    built = build_model(design_for(data, spec), spec, priors=priors)
    params = sample_prior(built.model, draws, int(seed))
    design = built.design
    index = np.arange(params.sizes["chain"] * params.sizes["draw"])
    rep = replicate_statistics(design, built.spec, params, index, np.random.default_rng(seed))
    table = ppc_table(design.studies, design.plugin.observed_statistics(design), rep)
    labels = design.plugin.ppc_statistics
    check = PPCResult(table, next(iter(rep)), "prior", len(index), int(seed), labels)
    tau = np.asarray(params["tau"].values, dtype=float).ravel()
    effect = np.asarray(params["mu"].values, dtype=float).ravel()
    for x in (tau, effect):
        x.setflags(write=False)
    return PriorPredictive(tau, effect, check, built.priors, int(draws), int(seed))
