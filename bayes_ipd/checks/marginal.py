"""Each trial's own intercept and treatment effect integrated out, by adaptive quadrature.

The quadrature lives in :mod:`bayes_ipd.families.quadrature` (every family's marginal
leave-one-trial-out method takes a :class:`TrialDraws`, and families import nothing above
them); this module keeps the names where the checks have always found them.
"""

from __future__ import annotations

from bayes_ipd.families.quadrature import (
    QUADRATURE_NODES,
    LogDensity,
    TrialDraws,
    adaptive_gauss_hermite,
    find_mode,
)

__all__ = ["QUADRATURE_NODES", "LogDensity", "TrialDraws", "adaptive_gauss_hermite", "find_mode"]
