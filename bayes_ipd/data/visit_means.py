"""Observed outcome means per trial, arm and visit of long (repeated-measures) data.

:func:`observed_visit_means` summarises a :class:`~bayes_ipd.data.visits.RepeatedIPD` as
the figures of mean outcome over visits draw it: the participants observed, the mean, the
SD and the standard error of the mean per trial, arm and visit. They are the raw means of
the participants still observed at each visit (under dropout that depends on earlier
outcomes, MAR, they are not estimates of the arm's mean; the MMRM's are).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_ipd.conventions import ARMS
from bayes_ipd.data.visits import RepeatedIPD

__all__ = ["observed_visit_means"]


def observed_visit_means(data: RepeatedIPD) -> pd.DataFrame:
    """Observed mean outcome per trial, arm and visit.

    Parameters
    ----------
    data : RepeatedIPD
        Validated long data.

    Returns
    -------
    DataFrame
        Columns ``study, arm, visit, n, mean, sd, se``: one row per trial (in order), arm
        (``control``, ``treated``) and visit (in order); ``n`` 0 and NaN statistics where
        nobody was observed; ``sd`` and ``se`` NaN with one participant.

    Examples
    --------
    >>> from bayes_ipd.data.visits import repeated_from_frame
    >>> from bayes_ipd.simulate.repeated import simulate_repeated
    >>> rows, _ = simulate_repeated(2, 20, seed=1)
    >>> data = repeated_from_frame(rows, study="study", treatment="treat", outcome="y",
    ...                            participant="id", visit="visit")
    >>> observed_visit_means(data).shape
    (12, 7)
    """
    ipd = data.ipd
    k, v = ipd.k, len(data.visits)
    cell = (ipd.study * 2 + ipd.treat.astype(np.int64)) * v + data.visit
    size = k * 2 * v
    y = np.asarray(ipd.outcome, dtype=np.float64)
    n = np.bincount(cell, minlength=size)
    total = np.bincount(cell, weights=y, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        centred = np.bincount(cell, weights=(y - mean[cell]) ** 2, minlength=size)
        sd = np.sqrt(centred / (n - 1))
    sd[n < 2] = np.nan
    mean[n < 1] = np.nan
    index = pd.MultiIndex.from_product(
        [list(ipd.studies), list(ARMS), list(data.visits)], names=["study", "arm", "visit"]
    )
    frame = pd.DataFrame({"n": n, "mean": mean, "sd": sd}, index=index).reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["se"] = frame["sd"] / np.sqrt(frame["n"])
    return frame
