"""Survival trials without any event.

A trial with no events is kept in a one-stage fit. Its likelihood is
``-sum_c E_c exp(eta_c)``, which only says that its hazard is small: the trial's baseline
(``alpha_k``) is then driven by its prior (it drifts into the lower tail of the intercept
prior), its treatment effect ``theta_k`` is close to the new-trial distribution
``Normal(mu, tau)``, and it adds next to nothing to ``mu`` and ``tau`` through the shared
parameters. The fit runs, but the trial's own estimates mean little; the two-stage route
cannot fit a Cox model to it at all and excludes it. :meth:`bayes_ipd.data.IPD.from_frame`
warns naming such trials; for trials given as summaries, :func:`warn_event_free_trials` on
the design does the same.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from bayes_ipd.checks.baseline_hazard import require_survival

if TYPE_CHECKING:
    from bayes_ipd.families.protocols import DesignLike as Design

__all__ = ["event_free_trials", "warn_event_free_trials"]


def event_free_trials(design: Design) -> tuple[str, ...]:
    """Labels of the trials of a survival design without any event."""
    require_survival(design.family, "event_free_trials", "design")
    observed, _ = design.plugin.interval_totals(design)
    events = observed.reshape(design.k, design.n_intervals * 2).sum(axis=1)
    return tuple(s for s, e in zip(design.studies, events, strict=True) if e == 0)


def warn_event_free_trials(design: Design) -> tuple[str, ...]:
    """Warn, naming them, about trials without events (see the module docstring).

    Returns the labels of those trials (empty when there are none).
    """
    empty = event_free_trials(design)
    if empty:
        names = ", ".join(repr(s) for s in empty)
        warnings.warn(
            f"trial(s) {names} have no events: in the one-stage model their baseline hazard "
            "is driven by its prior and their treatment effect by Normal(mu, tau); they add "
            "almost no information on the pooled log hazard ratio",
            UserWarning,
            stacklevel=2,
        )
    return empty
