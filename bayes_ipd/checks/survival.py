"""Time-to-event outcomes: Kaplan-Meier curves, predictive survival curves and checks.

The one-stage survival model (:mod:`bayes_ipd.one_stage.builder`) is a piecewise-exponential
proportional-hazards model: in trial ``k`` and interval ``j`` the hazard of a participant
with design row ``z`` is ``h_kj exp(z'b_k)``, with ``log h_kj = alpha_k + sum_{l <= j}
hazard_smoothing * log_hazard_step_kl``. These checks turn its posterior into what a
time-to-event analysis is judged by, one module per job, all importable from here:

* :func:`kaplan_meier`, :func:`observed_km` — the Kaplan-Meier estimate (no dependency on
  lifelines; :mod:`~bayes_ipd.checks.kaplan_meier`);
* :func:`interval_edges`, :func:`interval_labels`, :func:`cumulative_baseline_hazard` — the
  piecewise baseline hazard (:mod:`~bayes_ipd.checks.baseline_hazard`);
* :func:`participant_design_rows` — each participant's design row in the fit
  (:mod:`~bayes_ipd.checks.design_rows`);
* :func:`predictive_survival` — per trial and arm, the posterior of the arm's expected
  survival curve ``S_arm(t) = mean_i exp(-H_k(t) exp(z_i'b_k))`` over the arm's own
  participants (their covariates), ``H_k`` the cumulative piecewise baseline hazard
  (:mod:`~bayes_ipd.checks.survival_curves`, where its bands are explained);
* :func:`interval_event_ppc` — observed against replicated events per trial, interval and
  arm (works from exposure cells, so also for trials given as summaries;
  :mod:`~bayes_ipd.checks.interval_events`);
* :func:`km_ppc` — Kaplan-Meier curves drawn over the predictive bands,
  :func:`log_cumulative_hazard_ppc` — the same on the ``log(-log S)`` against ``log t``
  scale, and :func:`interval_event_ppc_plot` (:mod:`~bayes_ipd.checks.survival_plots`);
* :func:`rmst_difference` — the posterior RMST difference per trial and on average
  (:mod:`~bayes_ipd.checks.rmst`); :func:`survival_curves`, :func:`hazard_ratio_curve`,
  :func:`median_survival` — each arm's curve in each trial and a new trial, the pooled
  hazard ratio over time, median survival (:mod:`~bayes_ipd.checks.survival_estimands`,
  on the arrays of :mod:`~bayes_ipd.checks.arm_hazards` and
  :mod:`~bayes_ipd.checks.piecewise_survival`);
* :func:`hazard_ratio_summary` — pooled, new-trial, per-trial hazard ratios and
  interaction ratios on the hazard-ratio scale in one table
  (:mod:`~bayes_ipd.checks.hazard_ratio`);
* :func:`event_free_trials` / :func:`warn_event_free_trials` — trials without events, and
  what the one-stage model makes of them (:mod:`~bayes_ipd.checks.event_free`).
"""

from __future__ import annotations

from bayes_ipd.checks.baseline_hazard import (
    cumulative_baseline_hazard,
    interval_edges,
    interval_labels,
)
from bayes_ipd.checks.design_rows import participant_design_rows
from bayes_ipd.checks.event_free import event_free_trials, warn_event_free_trials
from bayes_ipd.checks.hazard_ratio import hazard_ratio_summary
from bayes_ipd.checks.interval_events import expected_interval_events, interval_event_ppc
from bayes_ipd.checks.kaplan_meier import kaplan_meier, observed_km
from bayes_ipd.checks.rmst import rmst_difference
from bayes_ipd.checks.survival_curves import GRID_POINTS, predictive_survival
from bayes_ipd.checks.survival_estimands import (
    hazard_ratio_curve,
    median_survival,
    survival_curves,
)
from bayes_ipd.checks.survival_plots import (
    interval_event_ppc_plot,
    km_ppc,
    log_cumulative_hazard_ppc,
)
from bayes_ipd.conventions import SEED_OFFSETS

__all__ = [
    "GRID_POINTS",
    "SEED_OFFSETS",
    "cumulative_baseline_hazard",
    "event_free_trials",
    "expected_interval_events",
    "hazard_ratio_curve",
    "hazard_ratio_summary",
    "interval_edges",
    "interval_event_ppc",
    "interval_event_ppc_plot",
    "interval_labels",
    "kaplan_meier",
    "km_ppc",
    "log_cumulative_hazard_ppc",
    "median_survival",
    "observed_km",
    "participant_design_rows",
    "predictive_survival",
    "rmst_difference",
    "survival_curves",
    "warn_event_free_trials",
]
