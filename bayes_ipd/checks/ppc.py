"""Posterior and prior predictive checks of a one-stage fit, per trial and arm.

Replicated data are drawn in numpy, once per posterior draw, for the observed design
(same trials, arms, covariate values and exposure), by the family's ``replicate`` and
summarised per trial and arm:

* gaussian: the arm mean and the arm SD, replicated exactly from the per-arm sufficient
  statistics. With coefficients ``b``, residual SD ``sigma`` and the arm's ``Z'Z``, the
  replicated arm mean is ``Normal(1'Z b / n, sigma / sqrt(n))`` and, independently, the
  within-arm sum of squares about the arm mean is ``sigma² · chi²'(n - 1, lambda)``
  (noncentral chi-squared) with ``lambda = b'(Z'Z - Z'1 1'Z / n) b / sigma²`` — the
  centred sum of squares of the arm's fitted values over ``sigma²`` (Cochran's theorem:
  ``1'y`` and ``y'(I - J/n)y`` are independent for ``y ~ N(Zb, sigma² I)``);
* binomial: the event proportion per arm (events drawn per cell of identical design rows,
  ``Binomial(n_c, expit(z_c'b_k))``, then summed per trial and arm);
* survival: the total events per arm (``Poisson(E_c exp(log h_kj + z_c'b_k))`` per cell
  of identical interval and design row). The Kaplan-Meier overlay, which needs event
  times, is in :mod:`bayes_ipd.checks.survival`.

The Bayesian p-value is ``P(rep >= obs)`` over the replicates (Gelman, Meng & Stern 1996);
values near 0 or 1 flag misfit. The table also gives the two-sided version
``min(1, 2 min(P(rep >= obs), P(rep <= obs)))``, which treats ties symmetrically for the
discrete statistics.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from bayes_ipd.conventions import ARMS
from bayes_ipd.draws import model_coefficients, thin
from bayes_ipd.families.base import draw_count
from bayes_ipd.plots import ppc_plot
from bayes_ipd.plots.rootogram import rootogram_plot

if TYPE_CHECKING:
    import pymc as pm

    from bayes_ipd.draws import Fit
    from bayes_ipd.families.protocols import DesignLike as Design
    from bayes_ipd.spec import ModelSpec

__all__ = [
    "PPCResult",
    "posterior_predictive_check",
    "ppc_table",
    "prior_draws",
    "prior_predictive_check",
    "replicate_statistics",
    "replicates",
    "sample_prior",
]


def ppc_table(
    studies: tuple[str, ...],
    observed: Mapping[str, np.ndarray],
    replicated: Mapping[str, np.ndarray],
) -> pd.DataFrame:
    """Observed statistic per trial and arm against its replicates.

    Parameters
    ----------
    studies : tuple of str
        Trial labels, in design order.
    observed : mapping of str to (K, 2) arrays
    replicated : mapping of str to (S, K, 2) arrays (non-finite replicates are ignored)

    Returns
    -------
    pandas.DataFrame
        Columns ``study, arm, statistic, observed, rep_mean, rep_q025, rep_q975, p_value,
        p_two_sided``; one row per statistic, trial and arm.
    """
    frames = []
    for statistic, obs in observed.items():
        rep = np.asarray(replicated[statistic], dtype=np.float64)
        valid = np.isfinite(rep)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            q = np.nanquantile(np.where(valid, rep, np.nan), [0.025, 0.975], axis=0)
            mean = np.nanmean(np.where(valid, rep, np.nan), axis=0)
        count = valid.sum(axis=0)
        ge = np.where(valid, rep >= obs, False).sum(axis=0) / np.maximum(count, 1)
        le = np.where(valid, rep <= obs, False).sum(axis=0) / np.maximum(count, 1)
        p_value = np.where(count > 0, ge, np.nan)
        two_sided = np.where(count > 0, np.minimum(1.0, 2 * np.minimum(ge, le)), np.nan)
        k = len(studies)
        frames.append(
            pd.DataFrame(
                {
                    "study": np.repeat(np.asarray(studies, dtype=object), 2),
                    "arm": np.tile(np.asarray(ARMS, dtype=object), k),
                    "statistic": statistic,
                    "observed": obs.ravel(),
                    "rep_mean": mean.ravel(),
                    "rep_q025": q[0].ravel(),
                    "rep_q975": q[1].ravel(),
                    "p_value": p_value.ravel(),
                    "p_two_sided": two_sided.ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def replicates(
    result: Fit, params: xr.Dataset, index: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Replicated (S, K, 2) statistics of the draws ``index`` of ``params`` (the family's
    :meth:`~bayes_ipd.families.base.Family.replicate`)."""
    return replicate_statistics(result.built.design, result.built.spec, params, index, rng)


def replicate_statistics(
    design: Design,
    spec: ModelSpec,
    params: xr.Dataset,
    index: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """:func:`replicates` of a model's design and spec (no fit needed: e.g. prior draws)."""
    coef = model_coefficients(design, spec, params)[index]
    return design.plugin.replicate(design, params, coef, index, rng)


@dataclass(frozen=True, eq=False)
class PPCResult:
    """A posterior (or prior) predictive check per trial and arm.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``study, arm, statistic, observed, rep_mean, rep_q025, rep_q975, p_value,
        p_two_sided`` (see :func:`ppc_table`).
    statistic : str
        The statistic drawn by default (``"mean"``, ``"event_rate"`` or ``"events"``).
    kind : {"posterior", "prior"}
        Where the parameter draws came from.
    draws : int
        Replicated data sets per trial and arm.
    seed : int
        Seed of the replication.
    labels : tuple of (str, str)
        Axis label of each statistic (the family's ``ppc_statistics``).
    frequencies : tuple of (str, str)
        The statistics that make up a discrete outcome's distribution (counts 0, 1, 2, 3+;
        ordinal levels), each with its category label; empty for other families. They are
        drawn together by :meth:`rootogram`.
    """

    table: pd.DataFrame
    statistic: str
    kind: str = "posterior"
    draws: int = 0
    seed: int = 0
    labels: tuple[tuple[str, str], ...] = ()
    frequencies: tuple[tuple[str, str], ...] = ()

    @property
    def statistics(self) -> tuple[str, ...]:
        """The statistics in :attr:`table`."""
        return tuple(dict.fromkeys(self.table["statistic"]))

    def plot(self, statistic: str | None = None, *, title: str | None = None) -> Figure:
        """Observed statistic over its replicated 95% interval (:func:`plots.ppc_plot`)."""
        statistic = statistic or self.statistic
        if statistic not in self.statistics:
            raise ValueError(
                f"statistic {statistic!r} is not in this check; choose one of "
                f"{', '.join(map(repr, self.statistics))}"
            )
        rows = self.table[self.table["statistic"] == statistic]
        default = f"{self.kind.capitalize()} predictive check"
        return ppc_plot(
            rows,
            statistic_label=dict(self.labels).get(statistic, statistic),
            title=title or default,
        )

    def frequency_table(self) -> pd.DataFrame:
        """The rows of :attr:`frequencies` with a ``category`` column: observed against
        replicated proportions of each category per trial and arm.

        Raises
        ------
        ValueError
            The outcome is not discrete (no frequency statistics in this check).
        """
        if not self.frequencies:
            raise ValueError(
                "this predictive check has no category frequencies (the rootogram is for "
                "count and ordinal outcomes); its statistics are "
                f"{', '.join(map(repr, self.statistics))}"
            )
        category = dict(self.frequencies)
        rows = self.table[self.table["statistic"].isin(list(category))]
        return rows.assign(category=rows["statistic"].map(category)).reset_index(drop=True)

    def rootogram(self, *, title: str | None = None) -> Figure:
        """Hanging rootogram of the category frequencies per trial and arm
        (:func:`bayes_ipd.plots.rootogram.rootogram_plot`; :meth:`frequency_table`)."""
        default = f"{self.kind.capitalize()} predictive check: hanging rootogram"
        return rootogram_plot(self.frequency_table(), title=title or default)

    def __repr__(self) -> str:
        head = (
            f"{self.kind.capitalize()} predictive check: {self.draws} replicated data sets, "
            f"seed {self.seed}; p_value = P(rep >= obs)"
        )
        body = self.table.to_string(index=False, float_format=lambda x: f"{x:.4g}")
        return f"{head}\n{body}"


def _check(result: Fit, params: xr.Dataset, index: np.ndarray, seed: int, kind: str) -> PPCResult:
    design = result.built.design
    rep = replicates(result, params, index, np.random.default_rng(seed))
    plugin = design.plugin
    table = ppc_table(design.studies, plugin.observed_statistics(design), rep)
    return PPCResult(
        table,
        next(iter(rep)),
        kind,
        len(index),
        seed,
        plugin.ppc_statistics,
        plugin.frequency_statistics(design),
    )


def posterior_predictive_check(
    result: Fit, seed: int | None = None, draws: int | None = None
) -> PPCResult:
    """Posterior predictive check per trial and arm (statistics in the module docstring).

    Parameters
    ----------
    result : Fit
    seed : int, optional
        Seed of the replication; by default the sampler's seed + 2.
    draws : int, optional
        Use this many evenly spaced posterior draws (all by default).

    Returns
    -------
    PPCResult
    """
    seed = result.derived_seed("ppc", seed)
    params = result.idata.posterior
    return _check(result, params, thin(draw_count(params), draws), seed, "posterior")


def prior_draws(result: Fit, draws: int = 500, seed: int | None = None) -> xr.Dataset:
    """Parameter draws from the model's prior (:func:`pymc.sample_prior_predictive`); by
    default seeded with the sampler's seed + 3 (:func:`sample_prior`)."""
    return sample_prior(result.built.model, draws, result.derived_seed("prior_predictive", seed))


def sample_prior(model: pm.Model, draws: int, seed: int) -> xr.Dataset:
    """Parameter draws from a model's prior (:func:`pymc.sample_prior_predictive`).

    The likelihood is a ``pm.Potential``, which prior sampling leaves out, so these are
    draws from the prior alone.
    """
    import pymc as pm

    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)  # not the "Sampling: [...]" line
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Pp]otential.*")
            prior = pm.sample_prior_predictive(model=model, draws=draws, random_seed=seed)
    finally:
        logger.setLevel(level)
    return prior.prior


def prior_predictive_check(result: Fit, draws: int = 500, seed: int | None = None) -> PPCResult:
    """Prior predictive check: data replicated from parameter draws of the prior.

    Parameters
    ----------
    result : Fit
    draws : int
        Prior draws.
    seed : int, optional
        Seed of the prior draws and of the replication; by default the sampler's
        seed + 3.

    Returns
    -------
    PPCResult
        With ``kind="prior"``; the observed statistics are those of the data, so the
        table shows whether the prior allows (or wildly exceeds) data like them.
    """
    seed = result.derived_seed("prior_predictive", seed)
    params = prior_draws(result, draws, seed)
    return _check(result, params, np.arange(draw_count(params)), seed, "prior")
