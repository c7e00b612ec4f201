"""Font size, inks and the colour palette shared by every figure; arm order and colours."""

from __future__ import annotations

from collections.abc import Iterable

from bayes_ipd.conventions import ARMS

__all__ = [
    "FONT_SIZE",
    "GREY",
    "INK",
    "ONE_STAGE_COLOUR",
    "PALETTE",
    "TWO_STAGE_COLOUR",
    "arm_colours",
    "ordered_arms",
]

FONT_SIZE = 9.0
GREY = "0.55"
INK = "0.1"
# Okabe & Ito (2008) colour-blind-safe palette.
PALETTE: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
TWO_STAGE_COLOUR = "#0072B2"
ONE_STAGE_COLOUR = "#D55E00"


def ordered_arms(arms: Iterable[str]) -> list[str]:
    """Distinct arm names, ``control`` and ``treated`` first, the rest as they come."""
    seen = list(dict.fromkeys(arms))
    preferred = [a for a in ARMS if a in seen]
    return preferred + [a for a in seen if a not in preferred]


def arm_colours(arms: Iterable[str]) -> dict[str, str]:
    """One palette colour per arm, in order (the palette repeats after six arms)."""
    return {arm: PALETTE[i % len(PALETTE)] for i, arm in enumerate(arms)}
