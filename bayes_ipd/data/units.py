"""Named unit conversions: the table behind ``[[harmonise.convert]] units = "lb -> kg"`` and
the unit pairs :func:`bayes_ipd.data.unit_check.check_units` matches implied factors to.

A conversion maps a value ``x`` in ``source`` units to ``factor * x + offset`` in ``target``
units. Each entry is stored once (the direction in which it is usually written); the reverse
direction is its inverse. Molar conversions (mg/dL to mmol/L) depend on the substance and
are keyed by it.

Sources of the numbers:

* pound and inch: exact by definition (International Yard and Pound Agreement, 1959):
  1 lb = 0.45359237 kg, 1 in = 2.54 cm;
* temperature: C = (F - 32) * 5/9 (exact);
* mmHg: 1 mmHg = 133.322 Pa (conventional millimetre of mercury), so 1 kPa = 7.50062 mmHg;
* mg/dL to mmol/L: ``10 / M`` with ``M`` the molar mass in g/mol (IUPAC atomic weights):
  glucose C6H12O6 180.16 (factor 1/18.016 = 0.055506), cholesterol C27H46O 386.65
  (1/38.665 = 0.025863; clinical tables print 0.02586 or "divide by 38.67"), triglycerides
  as triolein C57H104O6 885.4 (1/88.54 = 0.011294; clinical tables: "divide by 88.5");
  creatinine mg/dL to umol/L: ``10000 / 113.12`` = 88.40;
* HbA1c, NGSP % to IFCC mmol/mol: IFCC = 10.929 * (NGSP - 2.15) (Hoelzel et al., Clin
  Chem 2004;50:166-74, the IFCC-NGSP master equation);
* time: the Julian year of 365.25 days, a month of 365.25 / 12 = 30.4375 days.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bayes_ipd.errors import SpecError

__all__ = ["CONVERSIONS", "Conversion", "find_conversion", "unit_pairs"]


@dataclass(frozen=True)
class Conversion:
    """``target = factor * source + offset``.

    Attributes
    ----------
    source, target : str
        Unit names as written (``"lb"``, ``"kg"``, ``"mg/dL"``).
    factor, offset : float
    substance : str or None
        For molar conversions (``"glucose"``); None for the others.
    note : str
        Where the number comes from (shown in the log and the unit check's detail).
    """

    source: str
    target: str
    factor: float
    offset: float = 0.0
    substance: str | None = None
    note: str = ""

    @property
    def name(self) -> str:
        """``"lb -> kg"`` or ``"mg/dL -> mmol/L (glucose)"``."""
        text = f"{self.source} -> {self.target}"
        return f"{text} ({self.substance})" if self.substance else text

    def inverse(self) -> Conversion:
        """The conversion back (``x = (y - offset) / factor``)."""
        return Conversion(
            self.target,
            self.source,
            1.0 / self.factor,
            -self.offset / self.factor,
            self.substance,
            self.note,
        )


_MONTH_DAYS = 365.25 / 12  # 30.4375

CONVERSIONS: tuple[Conversion, ...] = (
    Conversion("lb", "kg", 0.45359237, note="exact, 1959 definition"),
    Conversion("g", "kg", 1e-3, note="exact"),
    Conversion("in", "cm", 2.54, note="exact, 1959 definition"),
    Conversion("mm", "cm", 0.1, note="exact"),
    Conversion("cm", "m", 0.01, note="exact"),
    Conversion("F", "C", 5 / 9, -160 / 9, note="C = (F - 32) * 5/9"),
    Conversion("kPa", "mmHg", 1000 / 133.322, note="1 mmHg = 133.322 Pa"),
    Conversion("mg/dL", "mmol/L", 10 / 180.16, substance="glucose", note="M = 180.16 g/mol"),
    Conversion(
        "mg/dL", "mmol/L", 10 / 386.65, substance="cholesterol", note="M = 386.65 g/mol"
    ),
    Conversion(
        "mg/dL", "mmol/L", 10 / 885.4, substance="triglycerides", note="triolein, M = 885.4 g/mol"
    ),
    Conversion(
        "mg/dL", "umol/L", 10000 / 113.12, substance="creatinine", note="M = 113.12 g/mol"
    ),
    Conversion("g/dL", "g/L", 10.0, note="exact"),
    Conversion(
        "%", "mmol/mol", 10.929, -10.929 * 2.15, substance="HbA1c",
        note="IFCC = 10.929 (NGSP - 2.15), Hoelzel 2004",
    ),
    Conversion("%", "fraction", 0.01, note="exact"),
    Conversion("hours", "days", 1 / 24, note="exact"),
    Conversion("days", "weeks", 1 / 7, note="exact"),
    Conversion("days", "months", 1 / _MONTH_DAYS, note="month = 30.4375 days"),
    Conversion("days", "years", 1 / 365.25, note="Julian year"),
    Conversion("weeks", "months", 7 / _MONTH_DAYS, note="month = 30.4375 days"),
    Conversion("weeks", "years", 7 / 365.25, note="Julian year"),
    Conversion("months", "years", 1 / 12, note="exact"),
)  # fmt: skip
"""Every named conversion (each direction usable; see the module docstring for sources)."""

_ALIASES = {
    "lbs": "lb",
    "pound": "lb",
    "pounds": "lb",
    "kilogram": "kg",
    "kilograms": "kg",
    "inch": "in",
    "inches": "in",
    "°f": "f",
    "°c": "c",
    "µmol/l": "umol/l",
    "percent": "%",
    "hour": "hours",
    "h": "hours",
    "day": "days",
    "d": "days",
    "week": "weeks",
    "month": "months",
    "year": "years",
}


def _unit_key(unit: str) -> str:
    key = unit.strip().lower()
    return _ALIASES.get(key, key)


def _directions() -> Iterator[Conversion]:
    for conversion in CONVERSIONS:
        yield conversion
        yield conversion.inverse()


def find_conversion(text: str, substance: str | None = None) -> Conversion:
    """The named conversion ``"FROM -> TO"`` (units case-insensitive; a few aliases such as
    ``lbs``, ``inches``, ``day``).

    Raises
    ------
    SpecError
        Not of the form ``FROM -> TO``, no such pair (the known names listed), a molar
        conversion without its ``substance`` (the substances listed) or with an unknown one.

    Examples
    --------
    >>> find_conversion("lb -> kg").factor
    0.45359237
    >>> round(find_conversion("mmol/L -> mg/dL", "glucose").factor, 3)
    18.016
    """
    if not isinstance(text, str) or text.count("->") != 1:
        raise SpecError(f'units = {text!r} must read "FROM -> TO", e.g. "lb -> kg"')
    source, target = (_unit_key(part) for part in text.split("->"))
    matches = [
        c for c in _directions() if _unit_key(c.source) == source and _unit_key(c.target) == target
    ]
    if not matches:
        known = ", ".join(sorted({c.name.split(" (")[0] for c in CONVERSIONS}))
        raise SpecError(
            f"units = {text!r}: no such named conversion (known, each way: {known}); "
            "give factor (and offset) instead"
        )
    substances = [c.substance for c in matches if c.substance]
    if not substances:
        if substance is not None:
            raise SpecError(f"units = {text!r} takes no substance (got {substance!r})")
        return matches[0]
    if substance is None:
        raise SpecError(
            f"units = {text!r} depends on the substance's molar mass: give substance = "
            f"one of {', '.join(map(repr, substances))}"
        )
    for conversion in matches:
        if conversion.substance and conversion.substance.lower() == str(substance).lower():
            return conversion
    raise SpecError(
        f"units = {text!r}: unknown substance {substance!r}; known: "
        f"{', '.join(map(repr, substances))}"
    )


def unit_pairs() -> tuple[Conversion, ...]:
    """Both directions of every conversion whose factor is away from 1 (the pairs a trial in
    the wrong unit can be told apart by): what the unit check matches ratios to."""
    return tuple(c for c in _directions() if abs(c.factor - 1.0) > 0.2)
