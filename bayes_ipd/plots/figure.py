"""The one place the package's figures are made: through pyplot, as ArviZ and seaborn do.

A figure made by ``pyplot.figure`` is known to pyplot, so ``fig.show()`` works, ``plt.show()``
shows it and a notebook cell ending in ``result.plot();`` displays it (the inline backend
shows the figures pyplot holds). Figures the package writes itself are closed once written
(:mod:`bayes_ipd.plots.save`), so a report or a CLI run leaves no figure open.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["new_figure"]


def new_figure(figsize: tuple[float, float], *, layout: str | None = None) -> Figure:
    """A new pyplot-managed figure of ``figsize`` inches (``layout`` e.g. ``"constrained"``).

    Parameters
    ----------
    figsize : tuple of float
        Width and height in inches.
    layout : str, optional
        Matplotlib layout engine name.

    Returns
    -------
    matplotlib.figure.Figure
        Registered with pyplot (``plt.fignum_exists(fig.number)``).
    """
    options: dict[str, Any] = {"figsize": figsize}
    if layout is not None:
        options["layout"] = layout
    return plt.figure(**options)
