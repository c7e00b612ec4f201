"""Model checks of a one-stage fit: posterior and prior predictive checks (:mod:`.ppc`),
leave-one-trial-out PSIS-LOO (:mod:`.loo`) and the time-to-event checks (:mod:`.survival`:
Kaplan-Meier, predictive survival curves, events per interval).

Each takes plain values (a :class:`~bayes_ipd.one_stage.posterior.Posterior`, or a design
and parameter draws) and returns a new value; nothing here imports the fitting or the
result above it (:class:`~bayes_ipd.one_stage.result.OneStageResult` calls these checks for
its methods). Import the submodule you need.
"""
