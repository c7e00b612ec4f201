"""What a family reads from the one-stage design and the model description.

The one-stage route (:class:`bayes_ipd.one_stage.design.Design`,
:class:`bayes_ipd.spec.ModelSpec`) sits above the families, so a family names only the
few attributes it reads, as structural types: any object that has them will do (the real
design, or a test's stand-in).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np

__all__ = ["DesignLike", "ModelSpecLike"]


class DesignLike(Protocol):
    """The design of a one-stage model as a family reads it (all trials, no rows).

    Attributes
    ----------
    k : int
        Number of trials.
    n : int
        Participants in all trials.
    width : int
        Design columns ``m = 2 + p + q`` (intercept, treatment, covariate terms,
        interaction terms).
    n_intervals : int
        Baseline-hazard intervals (1 without a piecewise baseline).
    n_arm : numpy.ndarray
        (K, 2) participants per arm.
    stats : Mapping of str to numpy.ndarray
        The family's sufficient statistics of all trials on the global design columns
        (the names in :attr:`bayes_ipd.families.base.Family.statistics`).
    covariate_terms : tuple of str
        Prognostic covariate terms.
    cutpoints : tuple of float
        Interior cut points of a piecewise baseline hazard.
    """

    @property
    def k(self) -> int: ...

    @property
    def n(self) -> int: ...

    @property
    def width(self) -> int: ...

    @property
    def n_intervals(self) -> int: ...

    @property
    def n_arm(self) -> np.ndarray: ...

    @property
    def stats(self) -> Mapping[str, np.ndarray]: ...

    @property
    def covariate_terms(self) -> tuple[str, ...]: ...

    @property
    def cutpoints(self) -> tuple[float, ...]: ...


class ModelSpecLike(Protocol):
    """The model options a family reads.

    Attributes
    ----------
    residual_sd : str
        ``"common"`` or ``"per_study"``: one residual SD (or dispersion) for all trials,
        or one per trial.
    intervals : int or tuple of float
        Survival: number of baseline intervals or their cut points.
    treatment_by_interval, treatment_time, baseline, knots
        Survival: a time-varying treatment effect and the baseline's form
        (:mod:`bayes_ipd.families.survival_time`).
    """

    @property
    def residual_sd(self) -> str: ...

    @property
    def intervals(self) -> int | tuple[float, ...]: ...

    @property
    def treatment_by_interval(self) -> tuple[float, ...]: ...

    @property
    def treatment_time(self) -> str: ...

    @property
    def baseline(self) -> str: ...

    @property
    def knots(self) -> int | tuple[float, ...]: ...
