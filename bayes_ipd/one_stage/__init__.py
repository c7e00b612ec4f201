"""The one-stage route: exact per-trial summaries, the design, the PyMC model, NUTS, and the
result.

``summaries`` (rows -> per-trial sufficient statistics) -> ``design`` (trials stacked on
global columns) -> ``builder`` (the model, from the family's log-likelihood) -> ``sampling``
(NUTS, compiled-model reuse) -> ``result`` (``OneStageResult``); ``fitting.fit`` runs them in
one call (``bayes_ipd.fit``). ``summaries`` and ``design`` import no sampler, so a site that
only summarises its own trial never loads PyMC; import the submodule you need.
"""
