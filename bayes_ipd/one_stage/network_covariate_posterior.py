"""The one-stage network result with covariates: the interactions beside the network's
effects, league, ranking and JSON of
:class:`~bayes_ipd.one_stage.network_posterior.NetworkPosterior`.

``d_t`` are the treatment effects vs the reference at the mean of the trials' covariate
means (the covariates are centred within trial and the across-trial part at the mean of
the trial means). The interaction of treatment ``t`` vs the reference with covariate ``x``
is ``gamma_within[c(t), x]`` (``c(t)``: its class; the reference's class is 0), the
within-trial ("deft") one to interpret; ``gamma_across`` is the across-trial (ecological)
one. Treatments of one class share their draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.conventions import json_ready
from bayes_ipd.draws import posterior_node
from bayes_ipd.errors import SpecError
from bayes_ipd.one_stage.network_posterior import NetworkPosterior

__all__ = ["CovariateNetworkPosterior"]


class CovariateNetworkPosterior(NetworkPosterior):
    """A one-stage network meta-analysis with covariates (``built`` is a
    :class:`~bayes_ipd.one_stage.network_covariate_model.CovariateNetworkModel`)."""

    @property
    def layout(self) -> Any:
        return self.built.layout

    def interaction_draws(self, which: str = "within") -> np.ndarray:
        """(chain, draw, T, q) interaction of every treatment vs the reference with each
        interaction covariate (``which``: ``"within"`` or ``"across"``; column 0 zeros)."""
        layout = self.layout
        name = f"gamma_{which}"
        g = self.idata.posterior[name].transpose("chain", "draw", "treatment_class", "interaction")
        values = np.asarray(g.values, dtype=np.float64)
        full = np.concatenate([np.zeros((*values.shape[:2], 1, values.shape[3])), values], axis=2)
        return full[:, :, layout.treatment_class, :]

    def interaction_effects(self, which: str = "within") -> pd.DataFrame:
        """Posterior node of each (covariate, non-reference treatment) interaction vs the
        reference: ``"within"`` (within-trial, default) or ``"across"`` (trial means)."""
        if which not in ("within", "across"):
            raise SpecError(f"which={which!r} is not 'within' or 'across'")
        if not self.layout.interactions:
            return pd.DataFrame(
                columns=["covariate", "treatment"]
            ).set_index(["covariate", "treatment"])  # fmt: skip
        g = self.interaction_draws(which)
        rows, index = [], []
        for j, cov in enumerate(self.layout.interactions):
            for t, trt in enumerate(self.treatments[1:], start=1):
                rows.append(posterior_node(g[:, :, t, j]))
                index.append((cov, trt))
        names = ["covariate", "treatment"]
        return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=names))

    def coefficients(self) -> pd.DataFrame:
        """Posterior node of each covariate's coefficient ``beta`` (common effects; with
        ``covariate_effects="stratified"`` the mean over trials per draw)."""
        beta = self.idata.posterior["beta"]
        if "study" in beta.dims:
            beta = beta.mean("study")
        values = beta.transpose("chain", "draw", "covariate").values
        return pd.DataFrame(
            [posterior_node(values[:, :, j]) for j in range(values.shape[2])],
            index=pd.Index(self.layout.names, name="covariate"),
        )

    def _block(self, which: str) -> dict[str, dict[str, Any]]:
        table = self.interaction_effects(which)
        return {
            cov: {trt: dict(table.loc[(cov, trt)]) for trt in self.treatments[1:]}
            for cov in self.layout.interactions
        }

    def to_dict(self) -> dict[str, Any]:
        """The network JSON (:meth:`NetworkPosterior.to_dict`) plus ``covariates``,
        ``interactions`` and ``interactions_across`` (``{COV: {TRT: node}}``, each
        non-reference treatment vs the reference) and, when classes were given,
        ``classes`` (``{TRT: CLASS}``, every treatment)."""
        out = super().to_dict()
        out["covariates"] = list(self.layout.names)
        out["interactions"] = self._block("within")
        out["interactions_across"] = self._block("across")
        if self.layout.classes:
            out["classes"] = dict(zip(self.treatments, self.layout.classes, strict=True))
        return json_ready(out)

    def _arm_replicates(self, rng: np.random.Generator) -> tuple[str, np.ndarray, np.ndarray]:
        """Each participant (cell) replicated from its own linear predictor and summed into
        its arm (:func:`~bayes_ipd.one_stage.network_covariate_ppc.covariate_arm_replicates`);
        :meth:`ppc` gives the table of the model without covariates."""
        from bayes_ipd.one_stage.network_covariate_ppc import covariate_arm_replicates

        return covariate_arm_replicates(self.built, self.idata.posterior, rng)

    def loo(self, marginal: bool | None = None) -> dict[str, Any]:
        """Leave-one-trial-out PSIS-LOO on the conditional per-trial terms (the marginal
        integration is not built for covariate models: ``marginal=True`` is refused)."""
        from bayes_ipd.one_stage.network_loo import trial_loo

        if marginal:
            raise SpecError(
                "marginal leave-one-trial-out LOO is not built for a network model with "
                "covariates; use marginal=False (the conditional terms)"
            )
        return {**trial_loo(self.idata), "terms": "conditional"}

    def network(self) -> dict[str, pd.DataFrame]:
        """The tables of :meth:`NetworkPosterior.network` (``ppc`` per trial and arm, each
        participant replicated from its own linear predictor; ``loo`` with
        ``inconsistency=True``), plus ``coefficients``, ``interactions`` and
        ``interactions_across``."""
        return super().network() | {
            "coefficients": self.coefficients(),
            "interactions": self.interaction_effects("within"),
            "interactions_across": self.interaction_effects("across"),
        }

    def summary(self) -> str:
        """:meth:`NetworkPosterior.summary` with the covariates and interactions."""
        layout = self.layout
        lines = [super().summary()]
        lines.append(
            f"covariates (centred within trial; effects at the mean of the trial means; "
            f"beta {self.built.covariate_effects}): {', '.join(layout.names)}"
        )
        slots = ("coefficients", "interactions") if layout.interactions else ("coefficients",)
        lines.append("priors: " + "; ".join(self.built.priors.describe(slots).splitlines()))
        for cov, row in self.coefficients().iterrows():
            lines.append(f"  beta {cov:<19} {row['mean']:8.4f} (sd {row['sd']:.4f})")
        if layout.classes:
            pairs = zip(self.treatments, layout.classes, strict=True)
            lines.append("classes: " + ", ".join(f"{t} = {c}" for t, c in pairs))
        for which, label in (("within", "within-trial"), ("across", "across-trial")):
            table = self.interaction_effects(which)
            for (cov, trt), row in table.iterrows():
                lines.append(
                    f"  {label} interaction {trt} x {cov}: {row['mean']:.4f} (95% CrI "
                    f"{row['q025']:.4f} to {row['q975']:.4f})"
                )
        return "\n".join(lines)
