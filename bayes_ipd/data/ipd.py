"""The validated participant-data value, :class:`IPD`, and its source column names.

:meth:`IPD.from_frame` (and :meth:`IPD.read_csv`) is the only way participant data enters the
package; the validation behind it lives in :mod:`bayes_ipd.data.reading`. The value's views
ask the outcome-family plug-in (:func:`bayes_ipd.families.get_family`) which columns it has,
which of them counts events and which are integer indicators.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.conventions import readonly
from bayes_ipd.data import reading
from bayes_ipd.data.checks import check_enough_trials
from bayes_ipd.data.columns import Columns
from bayes_ipd.data.messages import file_row_name, index_row_name, quoted
from bayes_ipd.data.network import Network
from bayes_ipd.data.network_rows import network_rows
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families import Family, get_family

__all__ = ["IPD", "Columns"]


@dataclass(frozen=True, eq=False)
class IPD:
    """Validated individual-participant data of several randomised trials.

    Build it with :meth:`from_frame` or :meth:`read_csv`. All arrays are read-only; the
    covariates frame is the object's own copy.

    Attributes
    ----------
    family : str
        Name of a registered outcome family (:data:`bayes_ipd.families.FAMILY_NAMES`:
        ``"gaussian"``, ``"binomial"``, ``"survival"``).
    studies : tuple of str
        Trial labels (``str`` of the source value) in order of first appearance.
    study : ndarray of int64, shape (n,)
        Index into ``studies`` per participant.
    treat : ndarray of float64, shape (n,)
        1 = experimental arm, 0 = control.
    outcome : ndarray of float64 or None
        Outcome (gaussian; 0/1 for binomial).
    time, event : ndarray of float64 or None
        Follow-up time (> 0) and event indicator (0/1) for survival.
    covariates : DataFrame
        One column per covariate (source names), float64 or pandas Categorical.
    columns : Columns
        Source column names.
    dropped : Mapping[str, int]
        Rows dropped per trial under ``missing="drop"`` (empty if none).
    n_input_rows : int
        Rows in the input before dropping.
    experimental : str or None
        The source level coded 1 when ``experimental=`` was given.
    levels : tuple of str or None
        An ordinal outcome's levels in order (:attr:`outcome` holds codes 0..J-1).
    """

    family: str
    studies: tuple[str, ...]
    study: np.ndarray
    treat: np.ndarray
    outcome: np.ndarray | None
    time: np.ndarray | None
    event: np.ndarray | None
    covariates: pd.DataFrame
    columns: Columns
    dropped: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    n_input_rows: int = -1
    experimental: str | None = None
    levels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "family", get_family(self.family, IPDDataError).name)
        set_(self, "studies", tuple(str(s) for s in self.studies))
        set_(self, "study", readonly(self.study, np.int64))
        set_(self, "treat", readonly(self.treat, np.float64))
        for name in ("outcome", "time", "event"):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, readonly(value, np.float64))
        covariates = pd.DataFrame(self.covariates).copy(deep=True)
        covariates.index = pd.RangeIndex(len(covariates))
        set_(self, "covariates", covariates)
        set_(self, "dropped", MappingProxyType({str(k): int(v) for k, v in self.dropped.items()}))
        if self.n_input_rows < 0:
            set_(self, "n_input_rows", int(self.study.shape[0]) + sum(self.dropped.values()))
        self._check_shapes()

    def _check_shapes(self) -> None:
        n = self.study.shape[0]
        arrays = {"treat": self.treat, "outcome": self.outcome, "time": self.time}
        arrays["event"] = self.event
        for name, value in arrays.items():
            if value is not None and value.shape != (n,):
                raise IPDDataError(f"IPD.{name} has shape {value.shape}; expected ({n},)")
        if len(self.covariates) != n:
            raise IPDDataError(f"IPD.covariates has {len(self.covariates)} rows; expected {n}")
        if n and (self.study.min() < 0 or self.study.max() >= len(self.studies)):
            raise IPDDataError("IPD.study holds codes outside 0..k-1")

    # ---------------------------------------------------------------------------- building

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        study: str,
        treatment: str,
        outcome: str | None = None,
        time: str | None = None,
        event: str | None = None,
        covariates: str | Iterable[str] = (),
        family: str = "gaussian",
        missing: str = "error",
        experimental: Any = None,
        min_trials: int = 2,
        levels: str | Iterable[Any] | None = None,
        participant: str | None = None,
        reference: str | None = None,
    ) -> IPD | Network:
        """Validate participant rows and return an :class:`IPD` (or, with ``reference=``,
        a :class:`~bayes_ipd.data.network.Network`).

        Parameters
        ----------
        df : DataFrame
            One row per participant. Never modified.
        study : str
            Trial identifier column. Labels are text (``1.0`` is written ``"1"``) with
            surrounding whitespace stripped, so ``"A"``, ``" A"`` and ``"A "`` are one trial
            ``"A"``; a blank label is missing. Labels are normalised to Unicode NFC, so two
            spellings of ``"Zürich"`` (composed ``ü`` or ``u`` + combining diaeresis) are one
            trial.
        treatment : str
            Treatment column: 0/1 or bool (1/True = experimental), or two levels of which
            ``experimental`` names the experimental one.
        outcome : str, optional
            Outcome column, for ``family="gaussian"`` or ``"binomial"`` (0/1).
        time, event : str, optional
            Follow-up time (> 0) and event (0/1) columns, for ``family="survival"``.
        covariates : str or sequence of str
            Covariate columns. A covariate whose values are all text, or a pandas
            ``category`` dtype column, is categorical (sorted levels, or the dtype's); a
            column in which some values are numbers must be numeric throughout (text such
            as ``"unknown"`` in it is refused, naming the value and its row).
        family : {"gaussian", "binomial", "survival"}
        missing : {"error", "drop", "impute"}
            What to do with rows that have a missing value in a used column: refuse, or drop
            them (counted per trial in :attr:`dropped`, with a warning), or (``"impute"``)
            keep a missing covariate value as NaN for a route that imputes it (two-stage:
            ``two_stage(..., imputations=M)``); a missing trial label, treatment or outcome
            is then refused (never imputed).
        experimental : str or number, optional
            The treatment level coded 1. Required when the treatment is not coded 0/1.
        levels : str or sequence, optional
            An ordinal outcome's levels in order (``"mild,moderate,severe"``); by default a
            numeric outcome's distinct values in numeric order. The outcome is coded 0..J-1.
        min_trials : int, optional
            Fewest trials accepted: 2 (default) for a meta-analysis; 1 for a site that
            summarises its own trial (:func:`~bayes_ipd.one_stage.summaries.summarise`).
        participant : str, optional
            Participant-identifier column. Each kept row is one participant, so an
            identifier that repeats within a trial (one row per visit) is refused; the same
            identifier in two trials is fine. The column is only checked, never modelled.
            Without it, a warning says when every row of a trial repeats another row's
            treatment and covariates exactly while a covariate is continuous (more than 10
            distinct values in the trial): long data that would count people several times.
        reference : str, optional
            The rows are a network of treatments: ``treatment`` holds any number of text
            levels and ``reference`` (one of them) is the common comparator. The result is
            then the :class:`~bayes_ipd.data.network.Network` of
            :func:`~bayes_ipd.data.network.network_from_frame` (multi-arm trials whole; a
            trial with one arm or a disconnected network refused), which ``bi.fit`` and
            ``bi.fit_two_stage`` analyse as a network meta-analysis. ``covariates``,
            ``missing`` (other than ``"error"``), ``experimental``, ``levels``,
            ``min_trials`` and ``participant`` have no meaning for a network and are refused
            by name (a network's covariates: ``bi.fit_network(rows, covariates=...)``).

        Returns
        -------
        IPD or Network
            An :class:`IPD` (two arms, the treatment coded 0/1); a
            :class:`~bayes_ipd.data.network.Network` when ``reference`` is given.

        Raises
        ------
        IPDDataError
            On any of: absent columns, unknown family, wrong outcome arguments for the
            family, missing values (with ``missing="error"``), a treatment that is not two
            valued (the trials with a third level are named), a trial with one arm, fewer
            than two trials, a binomial outcome or event outside {0, 1}, a survival time
            <= 0, text in a numeric column, numbers written with commas (``"1,000"``,
            ``"60,1232"``) in a covariate or numeric column, a trial label holding a control
            character (newline, escape), a participant repeated within a trial, no rows.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"trial": ["A", "A", "B", "B"], "arm": [0, 1, 0, 1],
        ...                    "y": [1.0, 2.0, 3.0, 5.0]})
        >>> ipd = IPD.from_frame(df, study="trial", treatment="arm", outcome="y")
        >>> ipd.studies, ipd.n
        (('A', 'B'), 4)
        """
        if reference is not None:
            return network_rows(
                df,
                study=study,
                treatment=treatment,
                reference=reference,
                family=family,
                responses={"outcome": outcome, "time": time, "event": event},
                two_arm={
                    "covariates": covariates,
                    "missing": missing,
                    "experimental": experimental,
                    "levels": levels,
                    "min_trials": min_trials,
                    "participant": participant,
                },
            )
        return reading.build_ipd(
            cls,
            Columns,
            df,
            study=study,
            treatment=treatment,
            outcome=outcome,
            time=time,
            event=event,
            covariates=covariates,
            family=family,
            missing=missing,
            experimental=experimental,
            row_name=index_row_name(df.index) if isinstance(df, pd.DataFrame) else None,
            min_trials=min_trials,
            levels=levels,
            participant=participant,
        )

    @classmethod
    def read_csv(cls, path: str | Path, *, sep: str = ",", **kwargs: Any) -> IPD | Network:
        """Read a delimited text file of participant rows and validate it.

        Parameters
        ----------
        path : str or Path
            The file, a pipe or ``/dev/stdin`` (read once). UTF-8 text, or UTF-16/32 with a
            byte-order mark; ``.gz``, ``.bz2``, ``.xz``, ``.zip`` and ``.tar`` are
            decompressed (``.zst`` is refused).
        sep : str
            Field delimiter.
        **kwargs
            The keyword arguments of :meth:`from_frame` (``study=``, ``treatment=``, ...;
            with ``reference=`` the rows are read as a network of treatments).

        Returns
        -------
        IPD or Network

        Raises
        ------
        IPDDataError
            If the file does not exist, cannot be decompressed (damaged or truncated), is
            not text, is empty, its header names a column twice, or it fails validation.
            Error messages name rows as ``data row i (line j of path)``.

        Notes
        -----
        The study column is read as text exactly as written: ``"007"`` and ``"7"`` are two
        trials, and ``"NA"`` or ``"None"`` are labels, not missing values (an empty cell is).
        """
        path = Path(path)
        study = kwargs.get("study")
        text_columns = (study,) if isinstance(study, str) else ()
        frame = reading.read_table(path, sep=sep, text_columns=text_columns)
        if kwargs.get("reference") is not None:  # a network of treatments
            return cls.from_frame(frame, **kwargs)
        return reading.build_ipd(cls, Columns, frame, row_name=file_row_name(path), **kwargs)

    # ---------------------------------------------------------------------------- views

    @property
    def n(self) -> int:
        """Number of participants (rows)."""
        return int(self.study.shape[0])

    @property
    def k(self) -> int:
        """Number of trials."""
        return len(self.studies)

    @property
    def n_per_study(self) -> dict[str, int]:
        """Participants per trial."""
        counts = np.bincount(self.study, minlength=self.k)
        return {label: int(c) for label, c in zip(self.studies, counts, strict=True)}

    @property
    def events_per_study(self) -> dict[str, int]:
        """Events per trial (binomial outcome = 1, or survival event = 1)."""
        indicator = self._event_indicator()
        counts = np.bincount(self.study, weights=indicator, minlength=self.k)
        return {label: round(float(c)) for label, c in zip(self.studies, counts, strict=True)}

    @property
    def covariate_names(self) -> tuple[str, ...]:
        """Covariate column names, in the order given."""
        return tuple(str(c) for c in self.covariates.columns)

    @property
    def categorical_covariates(self) -> tuple[str, ...]:
        """The covariates held as pandas Categorical."""
        return tuple(
            str(c)
            for c in self.covariates.columns
            if isinstance(self.covariates[c].dtype, pd.CategoricalDtype)
        )

    def _plugin(self) -> Family:
        """The outcome-family plug-in of :attr:`family`."""
        return get_family(self.family, IPDDataError)

    def _event_indicator(self) -> np.ndarray:
        """The 0/1 response whose 1s are events, as the family names it."""
        event_role = self._plugin().event_role
        if event_role is None:
            raise IPDDataError(f"a {self.family} outcome has no events")
        indicator = getattr(self, event_role)
        assert indicator is not None
        return indicator

    def to_frame(self) -> pd.DataFrame:
        """Participant rows with the source column names (treatment coded 0/1).

        Returns
        -------
        DataFrame
            Columns: study label, treatment (int 0/1), outcome or time and event, covariates.
        """
        cols = self.columns
        data: dict[str, Any] = {
            cols.study: np.asarray(self.studies, dtype=object)[self.study],
            cols.treatment: self.treat.astype(np.int64),
        }
        for role in self._plugin().responses:
            values = getattr(self, role.role)
            if values is None:  # an optional column not given
                continue
            data[getattr(cols, role.role)] = values.astype(np.int64) if role.integer else values
        frame = pd.DataFrame(data)
        for name in self.covariates.columns:
            frame[name] = self.covariates[name].to_numpy(copy=True)
        return frame

    def select_studies(self, labels: str | Iterable[str]) -> IPD:
        """The participants of the named trials, as a new :class:`IPD`.

        Trials keep their original order. At least two trials must remain.

        Parameters
        ----------
        labels : str or iterable of str
            Trial labels as in :attr:`studies`.
        """
        wanted = [labels] if isinstance(labels, str) else [str(x) for x in labels]
        unknown = [label for label in wanted if label not in self.studies]
        if unknown:
            raise IPDDataError(
                f"unknown trial(s) {quoted(unknown)}; the trials are {quoted(self.studies, 40)}"
            )
        kept_codes = [i for i, label in enumerate(self.studies) if label in set(wanted)]
        studies = tuple(self.studies[i] for i in kept_codes)
        check_enough_trials(studies, self.columns.study)
        remap = np.full(self.k, -1, dtype=np.int64)
        remap[kept_codes] = np.arange(len(kept_codes))
        rows = remap[self.study] >= 0
        dropped = {label: count for label, count in self.dropped.items() if label in studies}
        return IPD(
            family=self.family,
            studies=studies,
            study=remap[self.study][rows],
            treat=self.treat[rows],
            outcome=None if self.outcome is None else self.outcome[rows],
            time=None if self.time is None else self.time[rows],
            event=None if self.event is None else self.event[rows],
            covariates=self.covariates.loc[rows].reset_index(drop=True),
            columns=self.columns,
            dropped=MappingProxyType(dropped),
            n_input_rows=int(rows.sum()) + sum(dropped.values()),
            experimental=self.experimental,
            levels=self.levels,
        )

    def summary_frame(self) -> pd.DataFrame:
        """One row per trial: ``n, n_treated, n_control``, ``events`` (binomial, survival),
        ``dropped``.
        """
        n = np.bincount(self.study, minlength=self.k).astype(np.int64)
        n_treated = np.bincount(self.study, weights=self.treat, minlength=self.k)
        n_treated = np.rint(n_treated).astype(np.int64)
        data: dict[str, np.ndarray] = {"n": n, "n_treated": n_treated, "n_control": n - n_treated}
        if self._plugin().has_events:
            data["events"] = np.array(list(self.events_per_study.values()), dtype=np.int64)
        data["dropped"] = np.array([self.dropped.get(s, 0) for s in self.studies], dtype=np.int64)
        return pd.DataFrame(data, index=pd.Index(self.studies, name="study"))

    def __repr__(self) -> str:
        cols = self.columns
        names = self._plugin().response_names
        response = ", ".join(
            f"{name}={getattr(cols, name)!r}" for name in names if getattr(cols, name) is not None
        )
        covariates = ", ".join(cols.covariates) if cols.covariates else "none"
        n_dropped = sum(self.dropped.values())
        dropped = f"{n_dropped} row(s) dropped for missing values" if n_dropped else "none dropped"
        return (
            f"IPD({self.family}: {self.k} trials, {self.n:,} participants; "
            f"study={cols.study!r}, treatment={cols.treatment!r}, {response}; "
            f"covariates: {covariates}; {dropped})"
        )
