"""The source column names of participant data (:class:`Columns`).

Apart from :mod:`bayes_ipd.data.ipd` so that the reader (:mod:`bayes_ipd.data.reading`),
which the value's constructors call, can name the type without importing the value.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Columns"]


@dataclass(frozen=True)
class Columns:
    """Names of the source columns, for labelling output.

    Attributes
    ----------
    study, treatment : str
        Trial identifier and treatment columns.
    outcome : str or None
        Outcome column (gaussian, binomial).
    time, event : str or None
        Follow-up time and event indicator columns (survival).
    covariates : tuple of str
        Covariate columns, in the order given.
    """

    study: str
    treatment: str
    outcome: str | None
    time: str | None
    event: str | None
    covariates: tuple[str, ...]
