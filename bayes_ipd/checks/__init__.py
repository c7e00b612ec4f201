"""Model checks of a one-stage fit: posterior and prior predictive checks (:mod:`.ppc`),
leave-one-trial-out PSIS-LOO (:mod:`.loo`) and the time-to-event checks (:mod:`.survival`:
Kaplan-Meier, predictive survival curves, events per interval).

Each takes a :class:`~bayes_ipd.one_stage.result.OneStageResult` and returns a new value;
import the submodule you need.
"""
