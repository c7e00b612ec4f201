"""The one-stage fit: data (rows and/or trial summaries) + spec + sampler -> OneStageResult.

:func:`fit` is the public call: the lower-level :func:`~bayes_ipd.one_stage.estimation.estimate`
(design, model, NUTS draws) returns a :class:`~bayes_ipd.one_stage.posterior.Posterior`, and
``fit`` gives it its public face, :class:`~bayes_ipd.one_stage.result.OneStageResult`.
:func:`design_for` and :data:`FitData` are re-exported from
:mod:`~bayes_ipd.one_stage.estimation`. A network of treatments (a
:class:`~bayes_ipd.data.network.Network`, or a spec with ``reference``) goes to the
one-stage network model (:mod:`~bayes_ipd.one_stage.network_spec`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bayes_ipd.data.network import Network
from bayes_ipd.one_stage.estimation import FitData, design_for, estimate
from bayes_ipd.one_stage.network_spec import fit_network_spec, wants_network
from bayes_ipd.one_stage.result import OneStageResult
from bayes_ipd.priors import PriorSet
from bayes_ipd.spec import ModelSpec, SamplerSettings

if TYPE_CHECKING:
    from bayes_ipd.one_stage.network_posterior import NetworkPosterior

__all__ = ["FitData", "design_for", "fit"]


def fit(
    data: FitData | Network,
    spec: ModelSpec | None = None,
    sampler: SamplerSettings | None = None,
    *,
    priors: PriorSet | None = None,
    duplicates: str = "error",
) -> OneStageResult | NetworkPosterior:
    """Fit a one-stage Bayesian IPD meta-analysis with NUTS.

    Parameters
    ----------
    data : IPD, TrialSummary, Design, Network, or a sequence of IPD and TrialSummary
        Participant rows and/or exact per-trial summaries (identical posteriors either way).
        A :class:`~bayes_ipd.data.network.Network` (``bi.IPD.from_frame(..., reference=)``:
        a treatment column with any number of levels) is fitted by the one-stage network
        model with random effects (``fit_network_bayes_data``); the spec then holds only
        ``family``, ``priors`` and ``reference`` (the network's), other fields at their
        defaults (:mod:`~bayes_ipd.one_stage.network_spec`).
        Rows read with ``missing="impute"`` whose covariates have missing values are
        imputed inside the model (gaussian and binomial families;
        :mod:`~bayes_ipd.one_stage.imputation`, ``docs/data_preparation.md``).
    spec : ModelSpec, optional
        The model; by default ``ModelSpec(family=data.family)`` with no covariates. With
        ``reference`` set, ``data`` must be a network of that reference.
    sampler : SamplerSettings, optional
        NUTS settings (draws, tune, chains, seed, target_accept, backend, progress).
    priors : PriorSet, optional
        Priors in use; by default the spec's, with scale-aware defaults elsewhere.
    duplicates : {"error", "prefer_ipd"}
        A trial given both with rows and as aggregate data (:func:`design_for`).

    Returns
    -------
    OneStageResult or NetworkPosterior
        Immutable; same seed, data and spec give identical draws. A compiled model is reused
        when the same spec is fitted to new data of the same shape. A network gives a
        :class:`~bayes_ipd.one_stage.network_posterior.NetworkPosterior`: ``network()``
        (effects, league, ranking, ...), ``to_dict()`` (the network JSON).

    Examples
    --------
    >>> import bayes_ipd as bi
    >>> ipd = bi.datasets.load_bp_ipd()
    >>> spec = bi.ModelSpec(family="gaussian", covariates=("age",), interactions=("age",))
    >>> result = bi.fit(ipd, spec, bi.SamplerSettings(draws=200, tune=200, chains=2,
    ...                                                progress=False))  # doctest: +SKIP
    >>> result.summary()  # doctest: +SKIP
    """
    if wants_network(data, spec):
        return fit_network_spec(data, spec, sampler, priors=priors, duplicates=duplicates)
    posterior = estimate(data, spec, sampler, priors=priors, duplicates=duplicates)
    return OneStageResult.of(posterior)
