"""Multivariate random-effects meta-analysis, re-exported from its home.

The ITE, spline and network analyses share it, so it lives in the two-stage layer:
:mod:`bayes_ipd.two_stage.mvma`. This module keeps ``bayes_ipd.ite.mvma`` importable.
"""

from __future__ import annotations

from bayes_ipd.two_stage.mvma import STRUCTURES, MultivariateMA, mvma, restricted_loglik

__all__ = ["STRUCTURES", "MultivariateMA", "mvma", "restricted_loglik"]
