"""Trials that supplied IPD and trials that did not: characteristics and published effects.

An IPD review that analyses only the trials whose investigators shared their rows may be
biased if those trials differ from the rest (Ahmed et al. 2012, BMJ 344:d7762; Stewart et
al. 2015, PRISMA-IPD item 13). Given one row per eligible trial - the PRISMA-IPD flow's
trials, with IPD or not - :func:`compare_responders` tabulates the two groups side by side
and tests each characteristic:

* numeric columns: median [first, third quartile] per group (quartiles as R's default,
  type 7), Mann-Whitney U test (two-sided; exact without ties and with at most
  :data:`EXACT_MAX_TRIALS` trials, otherwise the normal approximation with tie and
  continuity correction; ``scipy.stats.mannwhitneyu``);
* text or boolean columns: trials (percent of the group's trials with a value) per level,
  Fisher's exact test for two levels (``scipy.stats.fisher_exact``), Pearson's chi-square
  test without continuity correction for more (``scipy.stats.chi2_contingency``);
* published effects (``estimate``, ``se``): besides their medians, each group's
  random-effects (DerSimonian-Laird) pooled effect and the test for subgroup differences,
  ``Q = Σ_g w_g (m_g - m)²`` with ``w_g = 1 / SE(m_g)²`` on 1 degree of freedom (Cochrane
  Handbook, 6th ed., section 10.11.3.1).

Trial characteristics, one row per trial (a CSV, or ``[[trial]]`` tables in the flow
TOML)::

    study,ipd,year,n,sponsor,risk_of_bias,estimate,se
    Aronson 1948,yes,1948,262,public,low,-0.9387,0.5976
    ...

``study`` is required; ``ipd`` (yes/no, true/false, 1/0) says whether the trial supplied
participant data (it may be left out when the participant data are given: a trial
supplied IPD when it has rows); ``estimate`` and ``se`` are the published effect on the
analysis scale. Every other column is a characteristic; empty cells are missing values
(counted per group).
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from bayes_ipd.errors import SpecError
from bayes_ipd.plots.responders import availability_funnel_plot
from bayes_ipd.responders.lines import (
    EXACT_MAX_TRIALS,
    CharacteristicRow,
    categorical_rows,
    is_numeric,
    markdown_cell,
    numeric_row,
    p_text,
    published_effects,
    subgroup_row,
)
from bayes_ipd.responders.reading import (
    check_flow,
    checked_characteristics,
    flow_has_trials,
    read_trial_characteristics,
)

__all__ = [
    "EXACT_MAX_TRIALS",
    "RESPONDER_COLUMNS",
    "CharacteristicRow",
    "ResponderComparison",
    "compare_responders",
    "flow_has_trials",
    "read_trial_characteristics",
]

RESPONDER_COLUMNS: tuple[str, ...] = (
    "characteristic",
    "supplied_ipd",
    "no_ipd",
    "test",
    "statistic",
    "p_value",
    "missing",
)
"""Columns of :meth:`ResponderComparison.table`."""


@dataclass(frozen=True)
class ResponderComparison:
    """Trials that supplied IPD beside those that did not.

    Attributes
    ----------
    trials : DataFrame
        One row per eligible trial: ``study``, ``ipd`` (bool), the characteristics and,
        when given, ``estimate`` and ``se`` (a copy; the input is not modified).
    rows : tuple of CharacteristicRow
        The comparison, line by line (:meth:`table` as values).
    pooled : float or None
        The pooled estimate of the IPD trials drawn by :meth:`plot` (from the analysis).
    source : str
        Where the characteristics came from.
    """

    trials: pd.DataFrame
    rows: tuple[CharacteristicRow, ...]
    pooled: float | None = None
    source: str = "trial characteristics"

    @property
    def n_ipd(self) -> int:
        """Trials that supplied IPD."""
        return int(self.trials["ipd"].sum())

    @property
    def n_no_ipd(self) -> int:
        """Trials that did not."""
        return len(self.trials) - self.n_ipd

    @property
    def has_effects(self) -> bool:
        """True when some trial has a published effect (``estimate``, ``se``)."""
        effects = published_effects(self.trials)
        return effects is not None and not effects.empty

    def row(self, characteristic: str) -> CharacteristicRow:
        """The line called ``characteristic`` (levels: ``"alloc: random"``)."""
        for line in self.rows:
            if line.characteristic == characteristic:
                return line
        raise KeyError(characteristic)

    def table(self) -> pd.DataFrame:
        """The comparison as a table: columns :data:`RESPONDER_COLUMNS`, cells as text
        except ``statistic`` and ``p_value``."""
        data = [[getattr(r, c) for c in RESPONDER_COLUMNS] for r in self.rows]
        return pd.DataFrame(data, columns=list(RESPONDER_COLUMNS))

    def headers(self) -> tuple[str, str]:
        """Column headings with the group sizes, e.g. ``Supplied IPD (n = 9)``."""
        return (f"Supplied IPD (n = {self.n_ipd})", f"Did not supply IPD (n = {self.n_no_ipd})")

    def report_frame(self) -> pd.DataFrame:
        """:meth:`table` with reader's headings and p-values as text (the report's and
        :meth:`to_markdown`'s table)."""
        ipd, no = self.headers()
        frame = self.table()
        return pd.DataFrame(
            {
                "Characteristic": frame["characteristic"],
                ipd: frame["supplied_ipd"],
                no: frame["no_ipd"],
                "Test": frame["test"],
                "p": [p_text(p) for p in frame["p_value"]],
                "Missing (IPD / not)": frame["missing"],
            }
        )

    def notes(self) -> tuple[str, ...]:
        """What the cells and tests are, in words (printed under the table)."""
        return (
            "Numeric characteristics: median [first, third quartile]; Mann-Whitney U test "
            f"(exact without ties and up to {EXACT_MAX_TRIALS} trials, else normal "
            "approximation with continuity correction).",
            "Categories: trials (percent of the group's trials with a value); Fisher's exact "
            "test for two levels, Pearson's chi-square test (no continuity correction) for "
            "more.",
            "Pooled published effect: DerSimonian-Laird random effects per group; test for "
            "subgroup differences Q on 1 df (Cochrane Handbook 10.11.3.1).",
        )

    def to_markdown(self) -> str:
        """The comparison as a Markdown pipe table with its notes, ready to paste."""
        frame = self.report_frame()
        cells = [list(frame.columns), *frame.astype(str).to_numpy().tolist()]
        lines = ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in cells]
        lines.insert(1, "|" + "|".join("---" for _ in frame.columns) + "|")
        return "\n".join([*lines, "", *(f"- {note}" for note in self.notes())])

    def __str__(self) -> str:
        return self.to_markdown()

    def plot(
        self,
        *,
        labels: bool = False,
        xlabel: str = "published effect",
        pooled: float | None = None,
    ) -> Figure:
        """Funnel-style figure of the published effects by IPD availability
        (:func:`~bayes_ipd.plots.responders.availability_funnel_plot`); trials without a
        published effect are left out. The vertical line is at ``pooled`` (default: the
        :attr:`pooled` given to :func:`compare_responders`; none when both are None).

        Raises
        ------
        SpecError
            The characteristics hold no ``estimate`` and ``se``.
        """
        effects = published_effects(self.trials)
        if effects is None or effects.empty:
            raise SpecError(f"{self.source}: no published effects (columns estimate, se)")
        return availability_funnel_plot(
            effects["estimate"],
            effects["se"],
            effects["ipd"],
            labels=list(effects["study"]) if labels else None,
            pooled=self.pooled if pooled is None else pooled,
            xlabel=xlabel,
        )


# --- the comparison ----------------------------------------------------------------------------


def compare_responders(
    trials: pd.DataFrame | str | PathLike[str],
    *,
    ipd: Any = None,
    flow: Any = None,
    pooled: float | None = None,
    source: str | None = None,
) -> ResponderComparison:
    """Compare the trials that supplied IPD with those that did not.

    Parameters
    ----------
    trials : DataFrame or path
        One row per eligible trial (see the module docstring); a path is read by
        :func:`read_trial_characteristics`.
    ipd : IPD or sequence of str, optional
        The participant data (or its trial labels): fills a missing ``ipd`` column and is
        checked against a given one.
    flow : PrismaFlow, optional
        The review's flow counts: the table must list ``identified`` trials, of which
        ``ipd_obtained`` supplied IPD (and the aggregate-data trials pooled did not).
    pooled : float, optional
        The pooled estimate of the IPD trials, drawn by :meth:`ResponderComparison.plot`.
    source : str, optional
        Named in error messages (default: the path, or "trial characteristics").

    Returns
    -------
    ResponderComparison

    Raises
    ------
    SpecError
        No ``study`` column, a trial listed twice, an ``ipd`` value that is not yes/no,
        a published SE that is not positive, an estimate without its SE, or a
        disagreement with the participant data or the flow counts (naming the trial).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"study": list("ABCDE"), "ipd": [1, 1, 1, 0, 0],
    ...                   "year": [1990, 1995, 2001, 1985, 1988]})
    >>> compare_responders(t).row("year").supplied_ipd
    '1995 [1992, 1998]'
    """
    if not isinstance(trials, pd.DataFrame):
        source = source or str(trials)
        trials = read_trial_characteristics(trials)
    source = source or "trial characteristics"
    frame = checked_characteristics(trials, source, ipd)
    if flow is not None:
        check_flow(frame, flow, source)
    rows = [
        CharacteristicRow("Trials", str(int(frame["ipd"].sum())), str(int((~frame["ipd"]).sum())))
    ]
    for column in frame.columns:
        if column in ("study", "ipd"):
            continue
        series = frame[column]
        if is_numeric(series):
            name = {"estimate": "published effect", "se": "published SE"}.get(column, column)
            rows.append(numeric_row(name, series, frame["ipd"]))
        else:
            rows += categorical_rows(column, series, frame["ipd"])
    effects = published_effects(frame)
    if effects is not None:
        rows.append(subgroup_row(effects))
    return ResponderComparison(frame, tuple(rows), pooled=pooled, source=source)
