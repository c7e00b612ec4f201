"""Forest-plot rows: plain values, no drawing.

A :class:`ForestRow` holds one line of a forest plot on the analysis scale. Any source can
make rows (a two-stage result, a one-stage posterior, published figures); the figures draw
them without knowing where they came from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ROW_STYLES", "ForestRow", "checked_rows"]

ROW_STYLES: tuple[str, ...] = ("study", "pooled", "prediction", "shrunken", "excluded")
"""How a :class:`ForestRow` is drawn: square with whisker, diamond, interval bar, circle with
whisker (a shrunken trial effect), or nothing (a trial left out, listed with its reason)."""


@dataclass(frozen=True)
class ForestRow:
    """One row of a forest plot, on the analysis scale (log scale for ratios).

    Parameters
    ----------
    label : str
        Text in the first column (trial name, ``"Pooled (REML)"``, ...).
    estimate, ci_low, ci_high : float
        Point estimate and interval bounds. A ``"prediction"`` row may have a NaN
        estimate; an ``"excluded"`` row needs no numbers at all.
    weight : float, optional
        Weight in percent; the square's area is proportional to it.
    n : int, optional
        Participants, shown in the ``N`` column.
    extra : tuple of str
        Values of the extra label columns, in the order of their headers.
    style : {"study", "pooled", "prediction", "shrunken", "excluded"}
        How the row is drawn (see :data:`ROW_STYLES`).
    note : str, optional
        For an ``"excluded"`` row: the reason it was left out.

    Raises
    ------
    ValueError
        Unknown style, or interval bounds in the wrong order (the label is named).

    Examples
    --------
    >>> ForestRow("Trial A", -0.3, -0.7, 0.1, weight=12.5).style
    'study'
    """

    label: str
    estimate: float
    ci_low: float
    ci_high: float
    weight: float | None = None
    n: int | None = None
    extra: tuple[str, ...] = ()
    style: str = "study"
    note: str | None = None

    def __post_init__(self) -> None:
        if self.style not in ROW_STYLES:
            raise ValueError(
                f"row {self.label!r}: unknown style {self.style!r}; expected one of {ROW_STYLES}"
            )
        object.__setattr__(self, "label", str(self.label))
        for field in ("estimate", "ci_low", "ci_high"):
            object.__setattr__(self, field, float(getattr(self, field)))
        if self.weight is not None:
            object.__setattr__(self, "weight", float(self.weight))
        if self.n is not None:
            object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "extra", tuple(str(v) for v in self.extra))
        if self.ci_low > self.ci_high:
            raise ValueError(
                f"row {self.label!r}: ci_low ({self.ci_low}) exceeds ci_high ({self.ci_high})"
            )

    @property
    def drawn(self) -> bool:
        """True when the row has an interval to draw."""
        return self.style != "excluded" and math.isfinite(self.ci_low + self.ci_high)


def checked_rows(rows: Iterable[ForestRow], what: str = "rows") -> list[ForestRow]:
    """``rows`` as a list, refusing anything that is not a :class:`ForestRow`.

    Raises
    ------
    ValueError
        An item is of another type (its position and type are named).
    """
    out = list(rows)
    for i, row in enumerate(out):
        if not isinstance(row, ForestRow):
            raise ValueError(f"{what}[{i}] is a {type(row).__name__}, expected a ForestRow")
    return out
