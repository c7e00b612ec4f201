"""Participant rows to a validated, typed, immutable :class:`IPD` value.

:meth:`IPD.from_frame` (and :meth:`IPD.read_csv`) is the only way participant data enters the
package. It checks every column it is told to use, codes the treatment 0/1 (1 = experimental),
indexes the trials in order of first appearance and applies the missing-data policy. Every
refusal raises :class:`~bayes_ipd.errors.IPDDataError` naming the column, trial, value or row at
fault. The caller's DataFrame is never modified; rows are never dropped silently.

Modules, each depending only on those above it:

* :mod:`~bayes_ipd.data.messages` -- how values, lists and rows are written in messages;
* :mod:`~bayes_ipd.data.parsing` -- parsing of the used columns on all rows;
* :mod:`~bayes_ipd.data.missing` -- the missing-data policy;
* :mod:`~bayes_ipd.data.checks` -- argument checks and checks of the kept rows;
* :mod:`~bayes_ipd.data.participants` -- one row per participant (repeated rows refused or
  warned of);
* :mod:`~bayes_ipd.data.sources` -- a file's text, read once (pipes), decompressed, decoded;
* :mod:`~bayes_ipd.data.reading` -- reading files and the builder behind ``from_frame``;
* :mod:`~bayes_ipd.data.ipd` -- the :class:`IPD` value and :class:`Columns`.

Beside them, on rows as they arrive: :mod:`~bayes_ipd.data.units` (named unit conversions),
:mod:`~bayes_ipd.data.harmonise_rules` and :mod:`~bayes_ipd.data.harmonise` (harmonisation
rules applied and logged) and :mod:`~bayes_ipd.data.unit_check` (a trial in another unit or
coding).

What differs between outcome families is asked of :mod:`bayes_ipd.families`.
"""

from __future__ import annotations

from bayes_ipd.data.ipd import IPD, Columns
from bayes_ipd.data.missing import MISSING_POLICIES
from bayes_ipd.families import FAMILY_NAMES as FAMILIES

__all__ = ["FAMILIES", "IPD", "MISSING_POLICIES", "Columns"]
