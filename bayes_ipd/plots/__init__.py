"""Figures: forest plots, one-stage vs two-stage comparison, posterior predictive checks.

Every function takes rows, frames or arrays (never a result object) and returns a
:class:`matplotlib.figure.Figure` made through pyplot (:func:`~bayes_ipd.plots.figure.new_figure`,
as ArviZ and seaborn figures are), so ``fig.show()`` and ``plt.show()`` display it and a
notebook cell shows it; none calls ``pyplot.show``. :func:`save_figure` writes a figure by
its extension and closes it (as the HTML report does with what it draws), so that writing
many figures leaves none open.

The forest plots draw :class:`ForestRow` values (plain numbers) and compute no statistic;
:func:`bayes_ipd.two_stage.forest_rows.two_stage_rows` turns a pooled result and its
per-trial table into rows, so rows from any source (a one-stage posterior, published
figures) are drawn the same way.

Modules: :mod:`~bayes_ipd.plots.rows` (rows), :mod:`~bayes_ipd.plots.text` (labels and
number formats), :mod:`~bayes_ipd.plots.style` (fonts, colours), :mod:`~bayes_ipd.plots.layout`
and :mod:`~bayes_ipd.plots.marks` (the table-and-plot engine of the forest plots), then one
module per figure: :mod:`~bayes_ipd.plots.forest`, :mod:`~bayes_ipd.plots.comparison`,
:mod:`~bayes_ipd.plots.ppc`, :mod:`~bayes_ipd.plots.prior_posterior`,
:mod:`~bayes_ipd.plots.km`, :mod:`~bayes_ipd.plots.rootogram` (counts, ordinal categories),
:mod:`~bayes_ipd.plots.trace` (trace and rank plots), :mod:`~bayes_ipd.plots.visits`
(repeated measures over visits), :mod:`~bayes_ipd.plots.network_forest` (a network's
treatments vs the reference, both routes overlaid), :mod:`~bayes_ipd.plots.figure` (where
every figure is made) and :mod:`~bayes_ipd.plots.save`.
"""

from __future__ import annotations

from bayes_ipd.plots.benefit import calibration_benefit_plot, ite_grid_plot
from bayes_ipd.plots.comparison import comparison_forest_plot
from bayes_ipd.plots.forest import forest_plot
from bayes_ipd.plots.km import km_ppc_plot
from bayes_ipd.plots.network_forest import network_overlay_forest_plot
from bayes_ipd.plots.ppc import ppc_plot
from bayes_ipd.plots.prior_posterior import prior_posterior_plot
from bayes_ipd.plots.rootogram import rootogram_plot
from bayes_ipd.plots.rows import ROW_STYLES, ForestRow
from bayes_ipd.plots.save import SAVE_FORMATS, save_figure
from bayes_ipd.plots.text import LINEAR_SCALES, RATIO_SCALES

__all__ = [
    "LINEAR_SCALES",
    "RATIO_SCALES",
    "ROW_STYLES",
    "SAVE_FORMATS",
    "ForestRow",
    "calibration_benefit_plot",
    "comparison_forest_plot",
    "forest_plot",
    "ite_grid_plot",
    "km_ppc_plot",
    "network_overlay_forest_plot",
    "ppc_plot",
    "prior_posterior_plot",
    "rootogram_plot",
    "save_figure",
]
