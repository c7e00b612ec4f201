"""Each participant's design row in a fitted one-stage model, rebuilt from the rows the
model was fitted to (for the per-participant survival curves of
:mod:`bayes_ipd.checks.survival_curves`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bayes_ipd.checks.kaplan_meier import trial_rows
from bayes_ipd.covariates import expand_covariates
from bayes_ipd.errors import IPDDataError

if TYPE_CHECKING:
    from bayes_ipd.data import IPD
    from bayes_ipd.draws import Fit
    from bayes_ipd.families.protocols import DesignLike as Design

__all__ = ["participant_design_rows"]


def participant_design_rows(result: Fit, ipd: IPD, label: str) -> np.ndarray:
    """Design rows ``[1, t, x - xbar_k, t (z - zbar_k)]`` of one trial's participants.

    The columns are those of the fitted design (``design.column_names``); covariates are
    centred at the trial's own means, as in the fit.

    Raises
    ------
    IPDDataError
        The trial has no rows in ``ipd``, or its rows are not those the model was fitted to
        (different arm sizes or covariate means).
    """
    design = result.built.design
    spec = result.built.spec
    k = design.studies.index(label)
    rows = trial_rows(ipd, label)
    treat = ipd.treat[rows]
    covariates = ipd.covariates.iloc[rows].reset_index(drop=True)
    x_local, terms, _ = expand_covariates(covariates, spec.covariates, rows.size)
    index = {t: i for i, t in enumerate(terms)}
    columns = [
        x_local[:, index[t]] if t in index else np.zeros(rows.size) for t in design.covariate_terms
    ]
    x = np.column_stack(columns) if columns else np.zeros((rows.size, 0))
    means = x.mean(axis=0)
    _check_same_trial(design, k, label, treat, means)
    xc = x - means
    inter = [design.covariate_terms.index(t) for t in design.interaction_terms]
    z = np.column_stack([np.ones(rows.size), treat, xc, treat[:, None] * xc[:, inter]])
    return z


def _check_same_trial(
    design: Design, k: int, label: str, treat: np.ndarray, means: np.ndarray
) -> None:
    n_arm = np.bincount(treat.astype(np.int64), minlength=2)
    if not np.array_equal(n_arm, design.n_arm[k]):
        raise IPDDataError(
            f"trial {label!r}: the rows given have {n_arm[0]} control and {n_arm[1]} treated "
            f"participants, the fitted data {design.n_arm[k][0]} and {design.n_arm[k][1]}; "
            "pass the rows the model was fitted to"
        )
    fitted = design.term_means[k]
    scale = np.maximum(np.abs(fitted), 1.0)
    off = np.abs(means - fitted) > 1e-8 * scale
    if off.any():
        j = int(np.flatnonzero(off)[0])
        raise IPDDataError(
            f"trial {label!r}: mean of {design.covariate_terms[j]!r} is {means[j]:.6g} in the "
            f"rows given but {fitted[j]:.6g} in the fitted data; pass the rows the model was "
            "fitted to"
        )
