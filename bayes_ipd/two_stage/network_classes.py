"""Treatment-covariate interactions shared across a class of treatments (two-stage route).

With treatment classes (:func:`~bayes_ipd.two_stage.network_covariates.treatment_classes`:
one class label per network treatment, reference first), the within-trial interaction of
treatment ``t`` with a covariate is ``g_{c(t)}``, the interaction of its class; the
reference's class has ``g = 0``. A trial's interaction contrast ``t vs its base arm b`` then
has mean ``g_{c(t)} - g_{c(b)}``: the row of the design is ``e_{c(t)} - e_{c(b)}`` with the
reference class's column dropped, one basic interaction parameter per non-reference class.
The rest is the consistency model of the main effects (common ``tau^2``, multi-arm
correlation 1/2; REML, ML or FE; :mod:`~bayes_ipd.two_stage.network_pooling`), i.e. R

``rma.mv(yi, V, mods = ~ <class indicator columns> - 1, random = ~ comp | study, rho = 1/2)``

(``tests/data/network_classes_reference.R``). Each treatment's interaction vs the reference
is its class's (0 for the reference's class).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bayes_ipd.conventions import readonly
from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage.network_pooling import Contrasts, NetworkFit, pool_network

__all__ = ["class_labels", "class_matrix", "pool_classes"]


def class_labels(classes: tuple[str, ...]) -> tuple[str, ...]:
    """The non-reference classes, in order of their first treatment in the network."""
    out: list[str] = []
    for label in classes[1:]:
        if label != classes[0] and label not in out:
            out.append(label)
    return tuple(out)


def class_matrix(classes: tuple[str, ...]) -> np.ndarray:
    """``(T - 1, C - 1)``: row ``t - 1`` is treatment ``t``'s class indicator (zero for the
    reference's class), so ``x @ class_matrix`` maps basic-parameter rows ``e_t - e_b`` to
    class rows ``e_{c(t)} - e_{c(b)}``."""
    labels = class_labels(classes)
    out = np.zeros((len(classes) - 1, len(labels)))
    for t, label in enumerate(classes[1:]):
        if label in labels:
            out[t, labels.index(label)] = 1.0
    return out


def pool_classes(
    contrasts: Contrasts, classes: tuple[str, ...], method: str, hksj: bool
) -> tuple[NetworkFit, NetworkFit]:
    """Pool interaction contrasts with one parameter per non-reference class.

    Parameters
    ----------
    contrasts : Contrasts
        The stacked interaction contrasts (basic-parameter rows of the network).
    classes : tuple of str
        One class label per network treatment (reference first).
    method : {"REML", "ML", "FE"}
    hksj : bool

    Returns
    -------
    by_class : NetworkFit
        One estimate per non-reference class (:func:`class_labels` order).
    by_treatment : NetworkFit
        The same fit read per non-reference treatment (its class's estimate; 0 with
        variance 0 for the reference's class), for the tables and the JSON.

    Raises
    ------
    PoolingError
        A class whose interaction the trials do not identify.
    """
    mapping = class_matrix(classes)
    x = contrasts.x @ mapping
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise PoolingError(
            "the classes' interactions are not all estimable from the trials that estimate "
            f"it (classes {', '.join(map(repr, class_labels(classes)))} vs the reference's "
            f"class {classes[0]!r}): no trial compares treatments of different classes there"
        )
    by_class = pool_network(dataclasses.replace(contrasts, x=readonly(x)), method, hksj)
    by_treatment = dataclasses.replace(
        by_class,
        estimate=readonly(mapping @ by_class.estimate),
        covariance=readonly(mapping @ by_class.covariance @ mapping.T),
    )
    return by_class, by_treatment
