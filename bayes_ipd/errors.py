"""Exception types, one per domain.

Each is raised where the bad value is first seen and names the column, trial, field or
value at fault. The CLI turns them into ``error: ...`` lines; nothing else catches them.
"""

from __future__ import annotations


class BayesIPDError(ValueError):
    """Base class of every error bayes_ipd raises about its input."""


class IPDDataError(BayesIPDError):
    """Participant data (or aggregate trial results) that cannot be analysed as given."""


class PoolingError(BayesIPDError):
    """Per-trial estimates that cannot be pooled (non-positive SE, unknown method, ...)."""


class SpecError(BayesIPDError):
    """A model or analysis specification with an unknown or invalid field."""


class PriorError(SpecError):
    """A prior string or Prior object that is malformed or has invalid parameters."""


class AnalysisNote(UserWarning):
    """A remark about how the analysis ran that is neither a problem nor an error (e.g.
    ``missing="impute"`` with nothing missing); the CLI prints it as ``note: ...``."""
