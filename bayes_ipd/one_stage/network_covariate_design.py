"""The design of the one-stage network model with covariates: per-trial design rows and the
family's exact sufficient statistics on them (its two-arm plug-in, no family named).

Participant ``i`` of trial ``k`` in an arm of treatment ``t`` (the trial's base arm
``b(k)``: its first treatment in network order, as the arm-level network model), with the
covariates centred at the trial's means, ``xc = x - xbar_k``:

``eta_i = alpha_k + delta_{k,t} + beta' xc_i + sum_j gW_{c(t),j} xc_ij``

(``j`` over the interaction covariates; ``delta`` is 0 in the base arm; see
:mod:`~bayes_ipd.one_stage.network_covariate_model`). Each non-base arm of a trial takes a
*slot* ``s = 1..S`` (``S``: the most non-base arms of any trial), so every trial's design
row is

``z = [1, D_1..D_S, xc_1..xc_p, xc_j D_s (j over interactions, s over slots)]``

(``D_s`` the 0/1 indicator of slot ``s``), and the trial's coefficient row is
``[alpha_k, delta_{k,slot}, beta + gW_{c(b)}, gW_{c(t_s)} - gW_{c(b)} per (j, s)]``. On
these rows the family's two-arm plug-in (``Family.trial_statistics``,
``stack_statistics``, ``data_arrays``, ``loglik``) gives the exact row-level likelihood
from per-trial sufficient statistics (gaussian: cross-products, independent of the number
of participants; cell families: cells of identical design rows, so a continuous covariate
makes every participant a cell). The
model (:mod:`~bayes_ipd.one_stage.network_covariate_model`) forms the coefficient rows in
PyTensor.

The across-trial (ecological) part uses each trial's mean of an interaction covariate
minus the mean of the trial means (``across``, as the two-arm design's ``zbar - zbar.mean``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayes_ipd.conventions import readonly
from bayes_ipd.data.network import Network
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families import Family, get_family
from bayes_ipd.one_stage.network_summaries import NetworkArms

__all__ = [
    "CovariateLayout",
    "NetworkCovariateDesign",
    "NetworkSpec",
    "covariate_design",
    "design_rows",
    "treatment_classes",
]


@dataclass(frozen=True)
class NetworkSpec:
    """The model options the family's two-arm plug-in reads (a ``ModelSpecLike``): one
    residual SD (or dispersion) per trial, the survival baseline on the network's cut
    points with proportional hazards."""

    residual_sd: str = "per_study"
    intervals: int | tuple[float, ...] = ()
    treatment_by_interval: tuple[float, ...] = ()
    treatment_time: str = "constant"
    baseline: str = "piecewise"
    knots: int | tuple[float, ...] = 4


@dataclass(frozen=True, eq=False)
class NetworkCovariateDesign:
    """A ``DesignLike`` of the covariate network model: every trial's statistics on the
    global design columns of :func:`design_rows` (read-only).

    Attributes
    ----------
    family : str
    studies : tuple of str
    width : int
        Design columns ``1 + S + p + q S``.
    n_arm : numpy.ndarray
        (K, 2) participants in each trial's base arm and in its other arms.
    stats : Mapping of str to numpy.ndarray
        The family's statistics (:meth:`Family.stack_statistics`).
    covariate_terms : tuple of str
    cutpoints : tuple of float
        Survival: the arm-level network model's cut points.
    """

    family: str
    studies: tuple[str, ...]
    width: int
    n_arm: np.ndarray
    stats: Mapping[str, np.ndarray]
    covariate_terms: tuple[str, ...]
    cutpoints: tuple[float, ...] = ()
    aggregate: Any = None

    @property
    def k(self) -> int:
        return len(self.studies)

    @property
    def n(self) -> int:
        return int(self.n_arm.sum())

    @property
    def n_intervals(self) -> int:
        return len(self.cutpoints) + 1

    @property
    def plugin(self) -> Family:
        return get_family(self.family, IPDDataError)


@dataclass(frozen=True, eq=False)
class CovariateLayout:
    """How the model maps parameters onto each trial's coefficient row.

    Attributes
    ----------
    names, interactions : tuple of str
        Covariates; those interacting with treatment.
    classes : tuple of str
        The user's class label per treatment (network order), empty: per treatment.
    class_labels : tuple of str
        Label of each class code (code 0: the reference's class).
    treatment_class : numpy.ndarray
        (T,) each treatment's class code.
    slots : int
        ``S``: the most non-base arms of a trial.
    slot_contrast : numpy.ndarray
        (K, S) the contrast (index into the arms' contrasts) in each slot; ``C`` (one past
        the last) where a trial has no arm in the slot.
    slot_class, base_class : numpy.ndarray
        (K, S) class code of each slot's treatment (the base's where unused); (K,) the
        base arm's.
    across : numpy.ndarray
        (K, q) trial mean of each interaction covariate minus the mean of the trial means.
    scale : numpy.ndarray
        (p,) pooled within-trial SD of each covariate (participants; the per-SD priors).
    """

    names: tuple[str, ...]
    interactions: tuple[str, ...]
    classes: tuple[str, ...]
    class_labels: tuple[str, ...]
    treatment_class: np.ndarray
    slots: int
    slot_contrast: np.ndarray
    slot_class: np.ndarray
    base_class: np.ndarray
    across: np.ndarray
    scale: np.ndarray

    @property
    def interaction_index(self) -> tuple[int, ...]:
        return tuple(self.names.index(c) for c in self.interactions)

    def arrays(self) -> dict[str, np.ndarray]:
        """The model's data containers of the layout."""
        return {
            "slot_contrast": self.slot_contrast,
            "slot_class": self.slot_class,
            "base_class": self.base_class,
            "term_scale": self.scale,
            **({"across": self.across} if self.interactions else {}),
        }


def treatment_classes(
    treatments: tuple[str, ...], classes: tuple[str, ...]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Each treatment's class code (0: the reference's class) and the class labels.

    Examples
    --------
    >>> codes, labels = treatment_classes(("A", "B", "C"), ("A", "drug", "drug"))
    >>> codes.tolist(), labels
    ([0, 1, 1], ('A', 'drug'))
    >>> treatment_classes(("A", "B"), ())[0].tolist()
    [0, 1]
    """
    given = tuple(classes) if classes else tuple(treatments)
    if len(given) != len(treatments):
        raise IPDDataError(
            f"classes has {len(given)} labels for the {len(treatments)} treatments "
            f"{', '.join(treatments)}"
        )
    labels = tuple(dict.fromkeys(given))
    return np.array([labels.index(c) for c in given], dtype=np.int64), labels


def design_rows(
    slot: np.ndarray, centred: np.ndarray, slots: int, interacting: tuple[int, ...]
) -> np.ndarray:
    """One trial's design rows ``[1, D, xc, xc_j D]`` (module docstring).

    Parameters
    ----------
    slot : numpy.ndarray
        (n,) each row's slot, 0 for the base arm.
    centred : numpy.ndarray
        (n, p) covariates centred at the trial's means.
    slots : int
    interacting : tuple of int
        Columns of ``centred`` that interact with treatment.

    Examples
    --------
    >>> z = design_rows(np.array([0, 1, 2]), np.array([[-1.0], [0.0], [1.0]]), 2, (0,))
    >>> z[2].tolist()
    [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    """
    dummies = (slot[:, None] == np.arange(1, slots + 1)[None, :]).astype(float)
    products = [centred[:, [j]] * dummies for j in interacting]
    return np.column_stack([np.ones(slot.size), dummies, centred, *products])


def _slot_layout(arms: NetworkArms, slots: int) -> tuple[np.ndarray, np.ndarray]:
    """(K, S) contrast in each slot (``C`` when unused) and (K,) each trial's base."""
    k, c = arms.k, arms.n_contrasts
    slot_contrast = np.full((k, slots), c, dtype=np.int64)
    base = np.zeros(k, dtype=np.int64)
    for s in range(k):
        mine = np.flatnonzero(arms.contrast_study == s)
        slot_contrast[s, : mine.size] = mine
        base[s] = arms.contrast_base[mine[0]]
    return slot_contrast, base


def covariate_design(
    network: Network,
    arms: NetworkArms,
    values: np.ndarray,
    names: tuple[str, ...],
    interactions: tuple[str, ...],
    classes: tuple[str, ...] = (),
) -> tuple[NetworkCovariateDesign, CovariateLayout]:
    """The covariate network model's design and layout (module docstring).

    Parameters
    ----------
    network : Network
        Participant rows only (no aggregate-data trials).
    arms : NetworkArms
        Its arm-level sums (``network_arms(network)``): the contrast layout, the cut points.
    values : numpy.ndarray
        (n, p) covariate values in the network's row order.
    names, interactions : tuple of str
    classes : tuple of str
        A class label per treatment, or empty.

    Raises
    ------
    IPDDataError
        Aggregate-data trials; a covariate constant within every trial (naming it).
    """
    if arms.n_given or network.aggregate_arms is not None:
        raise IPDDataError(
            "covariates cannot adjust aggregate-data trials (they have no participant rows)"
        )
    family = get_family(network.family, IPDDataError)
    x = np.asarray(values, dtype=float).reshape(network.n, -1)
    interacting = tuple(names.index(c) for c in interactions)
    counts = np.bincount(arms.contrast_study, minlength=arms.k)
    slots = int(counts.max())
    slot_contrast, base = _slot_layout(arms, slots)
    roles = {role: network.responses[col] for role, col in network.columns.items()}
    trial_means = np.zeros((network.k, x.shape[1]))
    within = np.zeros(x.shape[1])
    per_trial, n_arm = [], np.zeros((network.k, 2), dtype=np.int64)
    for s in range(network.k):
        rows = np.flatnonzero(network.study_codes == s)
        trial_means[s] = x[rows].mean(axis=0)
        centred = x[rows] - trial_means[s]
        within += (centred**2).sum(axis=0)
        treat = network.treatment_codes[rows]
        slot_of = {int(arms.contrast_treatment[c]): i + 1 for i, c in enumerate(slot_contrast[s])
                   if c < arms.n_contrasts}  # fmt: skip
        slot = np.array([slot_of.get(int(t), 0) for t in treat], dtype=np.int64)
        arm = (slot > 0).astype(np.int64)
        n_arm[s] = [int(np.sum(arm == 0)), int(np.sum(arm == 1))]
        z = design_rows(slot, centred, slots, interacting)
        response = {role: v[rows] for role, v in roles.items()}
        per_trial.append(family.trial_statistics(z, arm, response, arms.cutpoints))
    constant = [n for n, w in zip(names, within, strict=True) if not w > 0]
    if constant:
        raise IPDDataError(
            f"covariate(s) {', '.join(map(repr, constant))} are constant within every trial: "
            "no within-trial information on their effect (a trial-level characteristic)"
        )
    width = 1 + slots + len(names) + len(interacting) * slots
    stats = family.stack_statistics(per_trial, [np.arange(width)] * network.k)
    design = NetworkCovariateDesign(
        family=network.family,
        studies=network.studies,
        width=width,
        n_arm=readonly(n_arm, np.int64),
        stats={k: readonly(v, np.asarray(v).dtype) for k, v in stats.items()},
        covariate_terms=names,
        cutpoints=arms.cutpoints,
    )
    codes, labels = treatment_classes(network.treatments, classes)
    padded = np.r_[arms.contrast_treatment, 0]
    slot_class = np.where(
        slot_contrast < arms.n_contrasts, codes[padded[slot_contrast]], codes[base][:, None]
    )
    zbar = trial_means[:, list(interacting)]
    layout = CovariateLayout(
        names=names,
        interactions=interactions,
        classes=tuple(classes),
        class_labels=labels,
        treatment_class=readonly(codes, np.int64),
        slots=slots,
        slot_contrast=readonly(slot_contrast, np.int64),
        slot_class=readonly(slot_class.astype(np.int64), np.int64),
        base_class=readonly(codes[base], np.int64),
        across=readonly(zbar - zbar.mean(axis=0)),
        scale=readonly(np.sqrt(within / network.n)),
    )
    return design, layout
