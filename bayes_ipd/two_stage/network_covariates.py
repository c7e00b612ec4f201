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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_ipd.conventions import readonly
from bayes_ipd.data.network import Network
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families.network_contrasts import TrialCovariates

__all__ = [
    "NetworkCovariates",
    "network_covariates",
    "split_terms",
    "treatment_classes",
    "trial_covariates",
]


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
    classes : tuple of str
        Empty: every treatment is its own class (one interaction per non-reference
        treatment). Else one class label per network treatment, in the network's order
        (reference first): the treatments of a class share one interaction per covariate;
        the reference's class has none (its interaction is 0). Treatments not named by
        the user are their own class (the label is the treatment's name).
    """

    values: np.ndarray
    names: tuple[str, ...]
    interactions: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()


def _names(given: Sequence[str] | str | None) -> tuple[str, ...]:
    if given is None:
        return ()
    if isinstance(given, str):
        given = given.split(",")
    return tuple(str(g).strip() for g in given if str(g).strip())


def _class_pairs(given: Mapping[str, str] | str) -> list[tuple[str, str]]:
    """``(level, class)`` pairs of a mapping or of ``"LEVEL=CLASS,LEVEL=CLASS"``."""
    if isinstance(given, str):
        pairs = []
        for item in (part.strip() for part in given.split(",")):
            if not item:
                continue
            level, sep, label = item.partition("=")
            if not sep:
                raise IPDDataError(
                    f"classes item {item!r} is not LEVEL=CLASS (e.g. 'B=active,C=active')"
                )
            pairs.append((level.strip(), label.strip()))
        return pairs
    if not isinstance(given, Mapping):
        raise IPDDataError(
            f"classes must map treatment levels to class names (or be 'LEVEL=CLASS,...'), "
            f"not {type(given).__name__}"
        )
    return [(str(level).strip(), str(label).strip()) for level, label in given.items()]


def treatment_classes(network: Network, given: Mapping[str, str] | str | None) -> tuple[str, ...]:
    """One class label per network treatment (reference first); empty without classes.

    Parameters
    ----------
    network : Network
    given : Mapping[str, str] or str, optional
        Treatment level -> class name, or ``"LEVEL=CLASS,LEVEL=CLASS"``. Treatments not
        named are their own class (labelled by their name).

    Raises
    ------
    IPDDataError
        An unknown treatment level (named, with the network's levels), a level named
        twice, an empty class name, a class name that is another treatment's own label, or
        classes that put every treatment in the reference's class.
    """
    if given is None:
        return ()
    pairs = _class_pairs(given)
    if not pairs:
        return ()
    levels = ", ".join(map(repr, network.treatments))
    assigned: dict[str, str] = {}
    for level, label in pairs:
        if level not in network.treatments:
            raise IPDDataError(
                f"classes: {level!r} is not a treatment of the network (levels: {levels})"
            )
        if not label:
            raise IPDDataError(f"classes: treatment {level!r} has an empty class name")
        if level in assigned:
            raise IPDDataError(f"classes: treatment {level!r} is given a class twice")
        assigned[level] = label
    labels = tuple(assigned.get(t, t) for t in network.treatments)
    clash = sorted(
        {lab for lab in assigned.values() if lab in network.treatments and lab not in assigned}
    )
    if clash:
        raise IPDDataError(
            f"classes: class name(s) {', '.join(map(repr, clash))} are also treatments not "
            "given a class (a treatment not named is its own class); give them a class too, "
            "or choose other names"
        )
    if all(lab == labels[0] for lab in labels):
        raise IPDDataError(
            f"classes put every treatment in the reference's class {labels[0]!r}: no "
            "interaction is left to estimate"
        )
    return labels


def network_covariates(
    rows: pd.DataFrame,
    network: Network,
    covariates: Sequence[str] | str | None,
    interactions: Sequence[str] | str | None = None,
    classes: Mapping[str, str] | str | None = None,
) -> NetworkCovariates | None:
    """The checked covariate columns of ``rows`` (the frame ``network`` was read from).

    Parameters
    ----------
    rows : DataFrame
    network : Network
    covariates, interactions : list of str or "a,b", optional
    classes : Mapping[str, str] or str, optional
        Treatment level -> class name (or ``"LEVEL=CLASS,LEVEL=CLASS"``): the treatments of
        a class share one interaction per covariate (:func:`treatment_classes`). Needs
        ``interactions``.

    Raises
    ------
    IPDDataError
        A covariate column missing, non-numeric or with missing values (naming the column
        and the first trial), interactions not among the covariates, a covariate that is
        the study, treatment or a response column, or aggregate-data trials (they cannot
        be adjusted); classes without interactions, or bad classes
        (:func:`treatment_classes`).
    """
    names, inter = _names(covariates), _names(interactions)
    labels = treatment_classes(network, classes)
    if labels and not inter:
        raise IPDDataError(
            "classes need interactions: treatment classes share treatment-covariate "
            "interactions; give the interaction covariates too"
        )
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
    return NetworkCovariates(readonly(np.column_stack(columns)), names, inter, labels)


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
