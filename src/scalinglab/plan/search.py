"""One-dimensional minimisation and root finding for the planner.

Golden-section search and bisection, written out because importing ``scipy.optimize``
takes most of a second, and ``scalinglab plan`` must answer in under one. Both work on
the log scale the planner searches (``log N``, ``log C``), where its objectives are
unimodal or monotone and 1e-10 in the log is far below any reported digit.
"""

from __future__ import annotations

import math
from collections.abc import Callable

_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0


def golden_minimize(f: Callable[[float], float], lo: float, hi: float, tol: float = 1e-10) -> float:
    """The ``x`` in ``[lo, hi]`` minimising a unimodal ``f`` (to within ``tol``)."""
    a, b = lo, hi
    c = b - _INV_PHI * (b - a)
    d = a + _INV_PHI * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - _INV_PHI * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + _INV_PHI * (b - a)
            fd = f(d)
    return c if fc <= fd else d


def bisect_root(f: Callable[[float], float], lo: float, hi: float, tol: float = 1e-12) -> float:
    """A root of ``f`` in ``[lo, hi]``, where ``f(lo)`` and ``f(hi)`` differ in sign."""
    f_lo = f(lo)
    if f_lo == 0.0:
        return lo
    if (f_lo > 0) == (f(hi) > 0):
        raise ValueError("bisect_root needs a sign change between lo and hi")
    while hi - lo > tol * max(1.0, abs(lo)):
        mid = 0.5 * (lo + hi)
        f_mid = f(mid)
        if f_mid == 0.0:
            return mid
        if (f_mid > 0) == (f_lo > 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
