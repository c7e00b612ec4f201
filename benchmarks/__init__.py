"""Speed benchmarks of bayes_ipd's one-stage fits, each against a named baseline.

Run one with ``python benchmarks/<name>.py`` from the repository root; ``--smoke`` runs a
tiny configuration in seconds. See ``benchmarks/README.md``.
"""
