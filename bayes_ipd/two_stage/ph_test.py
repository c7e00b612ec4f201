"""Checking proportional hazards in each trial of the two-stage route.

Each trial's stage-one Cox model (same design, Efron ties) is tested by the
Grambsch-Therneau test as R ``survival::cox.zph(fit, transform = "km")`` computes it
(:mod:`bayes_ipd.families.cox_zph`): globally and per term. A trial that rejects at 0.05 is
named in a warning: its single hazard ratio averages an effect that changes in time.
The scaled Schoenfeld residuals of the treatment term make the figure.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bayes_ipd.conventions import json_ready
from bayes_ipd.data import IPD
from bayes_ipd.families.cox_zph import ZphResult
from bayes_ipd.families.regression import Unfittable
from bayes_ipd.plots.schoenfeld import SchoenfeldPanel, schoenfeld_plot
from bayes_ipd.plots.text import TextColumn, fmt_fixed, fmt_p, text_table
from bayes_ipd.two_stage.trial_models import survival_family, trial_models

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PH_ALPHA", "ProportionalityChecks", "TrialPHTest", "proportionality_tests"]

PH_ALPHA = 0.05
"""Level at which a trial's global test is reported as rejecting proportional hazards."""


@dataclass(frozen=True)
class TrialPHTest:
    """One trial's test, or why it has none.

    Attributes
    ----------
    study : str
        The trial.
    result : ZphResult or None
        Its global and per-term tests and scaled Schoenfeld residuals.
    reason : str or None
        Why the trial was not tested (its Cox model could not be fitted).
    """

    study: str
    result: ZphResult | None
    reason: str | None = None

    def global_dict(self) -> dict[str, Any] | None:
        """``{"statistic", "df", "p"}`` of the global test (None if not tested)."""
        return None if self.result is None else json_ready(self.result.global_test.to_dict())

    def terms_dict(self) -> dict[str, Any] | None:
        """``{term: {"statistic", "df", "p"}}`` (None if not tested)."""
        if self.result is None:
            return None
        return {t.term: json_ready(t.to_dict()) for t in self.result.terms}


@dataclass(frozen=True)
class ProportionalityChecks:
    """The proportional-hazards tests of every trial.

    Attributes
    ----------
    trials : tuple of TrialPHTest
        One per trial, in the IPD's order.
    alpha : float
        The level at which a rejection is reported.
    """

    trials: tuple[TrialPHTest, ...]
    alpha: float = PH_ALPHA

    def rejected(self) -> list[str]:
        """The trials whose global test rejects at :attr:`alpha`."""
        return [
            t.study
            for t in self.trials
            if t.result is not None and t.result.global_test.p < self.alpha
        ]

    def for_study(self, study: str) -> TrialPHTest | None:
        """The test of trial ``study`` (None if it is not one of them)."""
        return next((t for t in self.trials if t.study == study), None)

    def table(self) -> str:
        """A text table: per trial the global test and each term's p-value."""
        terms = list(dict.fromkeys(r.term for t in self.trials if t.result for r in t.result.terms))
        columns = [TextColumn("study", tuple(t.study for t in self.trials), "left")]
        columns.append(TextColumn("chi2", tuple(_cell(t, "statistic") for t in self.trials)))
        columns.append(TextColumn("df", tuple(_cell(t, "df") for t in self.trials)))
        columns.append(TextColumn("p (global)", tuple(_cell(t, "p") for t in self.trials)))
        for term in terms:
            cells = tuple(_term_p(t, term) for t in self.trials)
            columns.append(TextColumn(f"p ({term})", cells))
        head = (
            "Proportional hazards, per trial: Grambsch-Therneau test on the stage-one Cox "
            'model (as R cox.zph, transform = "km")'
        )
        lines = [head, "", *text_table(columns)]
        skipped = [t for t in self.trials if t.result is None]
        lines += [f"  {t.study}: not tested ({t.reason})" for t in skipped]
        rejected = self.rejected()
        if rejected:
            lines += ["", f"Rejected at {self.alpha:g}: {', '.join(rejected)}"]
        return "\n".join(lines)

    def plot(self, *, title: str | None = None) -> Figure:
        """Scaled Schoenfeld residuals of the treatment term against time, per trial
        (:func:`bayes_ipd.plots.schoenfeld.schoenfeld_plot`)."""
        panels = {}
        for t in self.trials:
            if t.result is None:
                continue
            z = t.result
            j = z.names.index("treat")
            panels[t.study] = SchoenfeldPanel(
                transformed_time=z.transformed_time,
                event_time=z.event_time,
                residuals=z.scaled_residuals[:, j],
                coefficient=float(z.coefficients[j]),
                p=z.terms[j].p,
            )
        return schoenfeld_plot(panels, term="treat", title=title)


def _cell(t: TrialPHTest, key: str) -> str:
    if t.result is None:
        return "-"
    g = t.result.global_test
    if key == "df":
        return str(g.df)
    if key == "p":
        return fmt_p(g.p).removeprefix("p = ").replace("p ", "")
    return fmt_fixed(g.statistic, 2)


def _term_p(t: TrialPHTest, term: str) -> str:
    if t.result is None:
        return "-"
    try:
        return fmt_p(t.result.term(term).p).removeprefix("p = ").replace("p ", "")
    except KeyError:
        return "-"


def proportionality_tests(
    ipd: IPD,
    *,
    covariates: Sequence[str] = (),
    pool_var: str = "treat",
    alpha: float = PH_ALPHA,
    excluded: Mapping[str, str] | None = None,
) -> ProportionalityChecks:
    """Test proportional hazards in each trial's stage-one Cox model.

    Parameters
    ----------
    ipd : IPD
        Survival participant rows.
    covariates, pool_var
        The stage one's adjustment covariates and term (the model tested is the one whose
        estimate is pooled; see :func:`bayes_ipd.two_stage.stage1.fit_per_study`).
    alpha : float
        Level at which a rejection is reported (default 0.05).
    excluded : mapping, optional
        Trials excluded at stage one (study -> reason), reported as not tested. Without
        it a trial whose Cox model does not converge is reported as not tested.

    Returns
    -------
    ProportionalityChecks

    Raises
    ------
    SpecError
        The outcome is not time to event.

    Warns
    -----
    UserWarning
        Naming each trial whose global test rejects at ``alpha``.

    Examples
    --------
    >>> from bayes_ipd.datasets import load_survival_ipd
    >>> checks = proportionality_tests(load_survival_ipd())
    >>> len(checks.trials)
    10
    """
    family = survival_family(ipd, "the proportional-hazards test")
    out = []
    for model in trial_models(ipd, family, covariates, pool_var, excluded=excluded):
        if model.x is None:
            out.append(TrialPHTest(model.study, None, model.reason))
            continue
        try:
            result = family.proportionality_test(model.responses, model.x, model.names)
        except Unfittable as exc:
            out.append(TrialPHTest(model.study, None, str(exc)))
            continue
        out.append(TrialPHTest(model.study, result))
    checks = ProportionalityChecks(tuple(out), alpha)
    for study in checks.rejected():
        test = checks.for_study(study)
        assert test is not None and test.result is not None
        g = test.result.global_test
        warnings.warn(
            f"trial {study!r}: proportional hazards rejected at {alpha:g} (Grambsch-Therneau "
            f"chi2 = {g.statistic:.2f} on {g.df} df, {fmt_p(g.p)}); its single hazard ratio "
            "averages an effect that changes in time (see effect_intervals / "
            "--effect-intervals)",
            UserWarning,
            stacklevel=2,
        )
    return checks
