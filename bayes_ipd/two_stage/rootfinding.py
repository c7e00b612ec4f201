"""Brent's root finder with R's ``uniroot`` stopping rule, for estimators defined by it.

metafor computes the Paule-Mandel τ² with ``uniroot(tol = .Machine$double.eps^0.25)``
on ``[0, max(100, 10 mad(y)²)]``: a root accurate to about 1e-4, not to machine
precision. A tighter root differs from metafor's in the last printed digit of I² and of
the prediction interval (dat.hackshaw1998: I² 19.446 instead of 19.4726), so the
PM estimator reproduces that search: the same interval, the same tolerance and the same
iteration (Brent 1973, chapter 4; the Forsythe-Malcolm-Moler ``zeroin`` that R's
``uniroot`` calls). scipy's ``brentq`` is Brent's method too, but its steps and stopping
rule differ, so its root differs at the tolerance R uses.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

from bayes_ipd.errors import PoolingError

__all__ = ["R_UNIROOT_TOL", "brent_zeroin"]

R_UNIROOT_TOL = sys.float_info.epsilon**0.25
"""R's default ``uniroot`` tolerance, ``.Machine$double.eps^0.25`` (about 1.22e-4)."""

_EPS = sys.float_info.epsilon


def brent_zeroin(
    f: Callable[[float], float],
    lower: float,
    upper: float,
    *,
    tol: float = R_UNIROOT_TOL,
    maxiter: int = 1000,
) -> float:
    """A root of ``f`` in ``[lower, upper]`` by Brent's method, stopped as R's ``uniroot``.

    Parameters
    ----------
    f : callable
        Continuous function with opposite signs (or a zero) at the two ends.
    lower, upper : float
        The bracket.
    tol : float, optional
        Absolute tolerance; the search stops when the bracket's half width is at most
        ``2 eps |b| + tol / 2`` (R's rule), default :data:`R_UNIROOT_TOL`.
    maxiter : int, optional
        Largest number of function evaluations after the two ends (R's default 1000).

    Returns
    -------
    float
        The last iterate ``b`` (R's ``uniroot(...)$root``).

    Raises
    ------
    PoolingError
        The ends do not bracket a root, or the search did not converge.
    """
    a, b = float(lower), float(upper)
    fa, fb = float(f(a)), float(f(b))
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    if math.copysign(1.0, fa) == math.copysign(1.0, fb):
        raise PoolingError(
            f"no sign change of the estimating equation on [{a:g}, {b:g}] "
            f"(values {fa:g} and {fb:g})"
        )
    c, fc = a, fa
    for _ in range(maxiter + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            # b is the best approximation so far, c the other end of the bracket
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2.0 * _EPS * abs(b) + tol / 2.0
        new_step = (c - b) / 2.0
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            new_step = _interpolated_step(a, b, c, fa, fb, fc, prev_step, tol_act, new_step)
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = float(f(b))
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    raise PoolingError(f"the root search did not converge in {maxiter} steps")


def _interpolated_step(
    a: float,
    b: float,
    c: float,
    fa: float,
    fb: float,
    fc: float,
    prev_step: float,
    tol_act: float,
    bisection: float,
) -> float:
    """Secant (two distinct points) or inverse quadratic step, if it stays inside the
    bracket and shrinks fast enough; otherwise the bisection step."""
    cb = c - b
    if a == c:
        t1 = fb / fa
        p = cb * t1
        q = 1.0 - t1
    else:
        q, t1, t2 = fa / fc, fb / fc, fb / fa
        p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
        q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
    if p > 0:
        q = -q
    else:
        p = -p
    if p < 0.75 * cb * q - abs(tol_act * q) / 2.0 and p < abs(prev_step * q / 2.0):
        return p / q
    return bisection
