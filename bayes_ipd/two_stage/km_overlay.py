"""The two-stage route's Kaplan-Meier figure: both arms of every trial, small multiples,
numbers at risk under each time axis (:func:`bayes_ipd.plots.kaplan_meier.km_overlay_plot`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bayes_ipd.data import IPD
from bayes_ipd.families.regression import arm_name
from bayes_ipd.plots.kaplan_meier import km_overlay_plot
from bayes_ipd.two_stage.trial_models import survival_family

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["km_overlay"]


def km_overlay(ipd: IPD, *, title: str | None = None, time_label: str = "Time") -> Figure:
    """Kaplan-Meier curves of the control and treated arms of each trial.

    Parameters
    ----------
    ipd : IPD
        Survival participant rows.
    title : str, optional
        Figure title.
    time_label : str
        The time axis's label (e.g. ``"Months"``).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    SpecError
        The outcome is not time to event.

    Examples
    --------
    >>> from bayes_ipd.datasets import load_survival_ipd
    >>> fig = km_overlay(load_survival_ipd(), time_label="Years")
    """
    survival_family(ipd, "the Kaplan-Meier figure")
    time, event = np.asarray(ipd.time, float), np.asarray(ipd.event, float)
    trials = {}
    for code, label in enumerate(ipd.studies):
        arms = {}
        for arm in (0.0, 1.0):
            rows = (ipd.study == code) & (ipd.treat == arm)
            if rows.any():
                arms[arm_name(arm == 1.0)] = (time[rows], event[rows])
        trials[label] = arms
    return km_overlay_plot(trials, title=title, time_label=time_label)
