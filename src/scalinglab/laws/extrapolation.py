"""Extrapolation honesty: allocation tables anchored at the data, and their warnings.

An allocation table printed at 1e21-1e25 FLOPs for a sweep whose largest run used 3e11
reads as a measurement; it is an extrapolation over ten decades. Here the table starts
at the data's own smallest and largest budgets and goes ``decades`` decades beyond the
largest (one row per decade), and every row says how far past the data it is.
:func:`extrapolation_warnings` flags fits whose headline should not be trusted:
an irreducible loss ``E`` above the lowest loss measured, a compute-optimal size at the
data's own budgets more than 2x outside the sizes trained, an allocation exponent ``a`` outside
[0.2, 0.8] (published fits lie near 0.5).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

DECADES = 3
A_RANGE = (0.2, 0.8)
#: N* at the data's budgets may lie this factor beyond the sizes trained before a warning
#: (the corner budgets of a full grid sit just outside it).
SIZE_SLACK = 2.0


def allocation_budgets(C: np.ndarray, decades: int = DECADES) -> list[float]:
    """The data's smallest and largest budgets (FLOPs), then ``decades`` decades beyond."""
    if decades < 0:
        raise ValueError("decades must be >= 0")
    low, high = float(np.min(C)), float(np.max(C))
    own = [low, high] if high > low * (1 + 1e-9) else [high]
    return own + [high * 10.0**k for k in range(1, decades + 1)]


def decades_past(C: float, largest: float) -> float:
    """``log10(C / largest)``, or 0 for a budget within the data."""
    return max(0.0, math.log10(C / largest))


def significant(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits, never rounded to ``0.0``."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    return f"{value:.{digits}g}"


def _law(result: Any, law: Any) -> Any:
    """The law given, else the result's main fitted law, else ``None``."""
    if law is not None:
        return law
    return result.fit.law if result.fit is not None else None


def allocation_rows(
    result: Any, C: np.ndarray, decades: int = DECADES, law: Any = None
) -> list[dict[str, Any]]:
    """One dict per budget: ``C``, ``N``, ``D``, ``tokens_per_param``,
    ``decades_past_data`` and, for a law in ``(N, D)`` (``law``, default the result's
    fitted law), the predicted ``loss``."""
    law = _law(result, law)
    predicts = law is not None and tuple(law.inputs) == ("N", "D")
    largest = float(np.max(C))
    rows = []
    for budget in allocation_budgets(C, decades):
        N, D = float(result.n_opt(budget)), float(result.d_opt(budget))
        row = {
            "C": budget,
            "N": N,
            "D": D,
            "tokens_per_param": D / N,
            "decades_past_data": decades_past(budget, largest),
        }
        if predicts:
            row["loss"] = float(law.predict(N=N, D=D))
        rows.append(row)
    return rows


def extrapolation_warnings(
    result: Any, arrays: dict[str, np.ndarray], law: Any = None
) -> list[str]:
    """Warnings about a fit's headline (``result``'s allocation, ``law``'s ``E``; default
    the result's fitted law) measured against the runs it was fitted to."""
    notes = []
    law = _law(result, law)
    lowest = float(np.min(arrays["loss"]))
    E = getattr(law, "E", None)
    if E is not None and lowest < E:
        notes.append(
            f"irreducible loss E = {E:.4g} exceeds the lowest measured loss {lowest:.4g}: the "
            "law cannot describe the best runs; look for outliers (influential runs) or "
            "runs far from compute-optimal (--min-tokens-per-param)"
        )
    sizes = (float(np.min(arrays["N"])), float(np.max(arrays["N"])))
    for budget in sorted({float(np.min(arrays["C"])), float(np.max(arrays["C"]))}):
        n_star = float(result.n_opt(budget))
        if not sizes[0] / SIZE_SLACK <= n_star <= sizes[1] * SIZE_SLACK:
            notes.append(
                f"N* = {n_star:.3g} at the data's own budget C = {budget:.3g} lies more than "
                f"{SIZE_SLACK:g}x outside the sizes trained ({sizes[0]:.3g}-{sizes[1]:.3g}): the "
                "optimum is extrapolated even inside the data; add sizes around it"
            )
    if not A_RANGE[0] <= result.a <= A_RANGE[1]:
        notes.append(
            f"allocation exponent a = {result.a:.3g} is outside [{A_RANGE[0]}, {A_RANGE[1]}] "
            "(published fits give about 0.5): the design may not determine it"
        )
    return notes
