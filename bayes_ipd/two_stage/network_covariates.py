"""Covariates and treatment-covariate interactions on the two-stage network route.

Stage one: each trial's family regression (``Family.network_contrasts`` with a
:class:`~bayes_ipd.families.network_contrasts.TrialCovariates`) on the treatment factor,
the covariates centred at the trial's means and, for each interaction covariate ``x``, the
products ``treatment_t x (x - mean_k)``. The factor's coefficients are the trial's adjusted
contrasts (pooled as before); the products' coefficients, per covariate, are the trial's
*within-trial* interaction contrasts ``t vs the trial's base arm`` with their covariance.
Stage two pools each covariate's interaction contrasts "per treatment" through the same
multivariate model as the main effects (consistency, basic parameters ``t vs the
reference``, common ``tau^2``, correlation 1/2; REML, ML or FE): the two-stage analogue of
the one-stage within-trial ("deft") interaction. There is no across-trial part on this
route: trial-level means of the covariate never enter.

A covariate constant within a trial is dropped from that trial's regression (centred, it is
zero there) and the trial is left out of that covariate's interaction pooling, named with
the reason. See ``docs/network.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_ipd.conventions import readonly
from bayes_ipd.data.network import Network
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families.network_contrasts import TrialCovariates

__all__ = ["NetworkCovariates", "network_covariates", "split_terms", "trial_covariates"]


@dataclass(frozen=True, eq=False)
class NetworkCovariates:
    """Covariate values of the network's rows (in the network's row order).

    Attributes
    ----------
    values : numpy.ndarray
        (n, p) float values, one column per covariate.
    names : tuple of str
    interactions : tuple of str
        Covariates that interact with the treatment factor (a subset of ``names``).
    """

    values: np.ndarray
    names: tuple[str, ...]
    interactions: tuple[str, ...] = ()


def _names(given: Sequence[str] | str | None) -> tuple[str, ...]:
    if given is None:
        return ()
    if isinstance(given, str):
        given = given.split(",")
    return tuple(str(g).strip() for g in given if str(g).strip())


def network_covariates(
    rows: pd.DataFrame,
    network: Network,
    covariates: Sequence[str] | str | None,
    interactions: Sequence[str] | str | None = None,
) -> NetworkCovariates | None:
    """The checked covariate columns of ``rows`` (the frame ``network`` was read from).

    Raises
    ------
    IPDDataError
        A covariate column missing, non-numeric or with missing values (naming the column
        and the first trial), interactions not among the covariates, a covariate that is
        the study, treatment or a response column, or aggregate-data trials (they cannot
        be adjusted).
    """
    names, inter = _names(covariates), _names(interactions)
    if not names:
        if inter:
            raise IPDDataError("interactions need covariates: give them in covariates too")
        return None
    unknown = [c for c in inter if c not in names]
    if unknown:
        raise IPDDataError(
            f"interaction(s) {', '.join(map(repr, unknown))} are not among the covariates "
            f"({', '.join(map(repr, names))}); an interaction covariate must also be a covariate"
        )
    if len(set(names)) < len(names):
        raise IPDDataError(f"a covariate is named twice: {', '.join(names)}")
    taken = {network.study, network.treatment, *network.columns.values()}
    clash = [c for c in names if c in taken]
    if clash:
        raise IPDDataError(
            f"covariate(s) {', '.join(map(repr, clash))} are the study, treatment or outcome"
        )
    if network.has_aggregate:
        raise IPDDataError(
            "covariates cannot adjust aggregate-data trials (they have no participant rows); "
            "fit the network with covariates on the participant rows only, or without "
            "covariates"
        )
    if len(rows) != network.n:
        raise IPDDataError("the rows do not match the network's rows")
    absent = [c for c in names if c not in rows.columns]
    if absent:
        raise IPDDataError(f"covariate column(s) not in the data: {', '.join(map(repr, absent))}")
    columns = []
    for name in names:
        column = rows[name]
        if not (pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)):
            raise IPDDataError(
                f"covariate {name!r} is not numeric (dtype {column.dtype}); code it as numbers "
                "(a 0/1 indicator per level)"
            )
        values = column.to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            study = network.studies[int(network.study_codes[np.argmax(bad)])]
            raise IPDDataError(
                f"covariate {name!r} has {int(bad.sum())} missing or non-finite value(s) "
                f"(first in trial {study!r}); the two-stage network route needs complete rows"
            )
        columns.append(values)
    return NetworkCovariates(readonly(np.column_stack(columns)), names, inter)


def trial_covariates(
    covariates: NetworkCovariates, rows: np.ndarray
) -> tuple[TrialCovariates, tuple[str, ...]]:
    """One trial's covariates centred at its means, and the covariates constant within it
    (dropped from its regression; their interactions not estimable in the trial)."""
    x = covariates.values[rows]
    centred = x - x.mean(axis=0)
    scale = np.maximum(np.abs(x).max(axis=0), 1e-300)
    varies = np.abs(centred).max(axis=0) > 1e-12 * scale
    keep = [j for j in range(len(covariates.names)) if varies[j]]
    kept_names = tuple(covariates.names[j] for j in keep)
    interacting = tuple(kept_names.index(c) for c in covariates.interactions if c in kept_names)
    constant = tuple(covariates.names[j] for j in range(len(covariates.names)) if not varies[j])
    return TrialCovariates(centred[:, keep], kept_names, interacting), constant


def split_terms(
    estimate: np.ndarray, cov: np.ndarray, arms: int, given: TrialCovariates
) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The main contrasts and, per interacting covariate, its interaction contrasts (each
    with its within-trial covariance block) from a fit's coefficients."""
    m = arms - 1
    blocks = {}
    for i, j in enumerate(given.interacting, start=1):
        s = slice(i * m, (i + 1) * m)
        blocks[given.names[j]] = (estimate[s], cov[s, s])
    return (estimate[:m], cov[:m, :m]), blocks
