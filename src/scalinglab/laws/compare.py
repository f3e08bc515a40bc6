"""Side-by-side allocations of every method, and a warning when the approaches disagree.

At the data's largest budget ``C_max`` and at 10x and 100x it, each method's ``a``,
``b``, ``N*``, ``D*`` and tokens per parameter ``D*/N*``. When two of the compared
methods' tokens per parameter differ by more than :data:`DISAGREE_RATIO` at any of those
budgets, a warning containing the word "disagree" names them: the allocation then
depends on the method, and no single answer should be trusted.

Compared are approaches 1 and 2 and the parametric method of the form the runs support
(approach 3 for the Chinchilla form, ``kaplan`` for Kaplan's; see
:mod:`scalinglab.laws.crossval`): a form the data reject is shown but is not a
competing answer. Without a form selection every method is compared.

:func:`allocation_conflicts` is the statistical version for methods with bootstrap
intervals: two estimates of one exponent ``a`` whose 95% intervals do not overlap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from scalinglab.laws.approaches import ApproachResult

#: Budgets compared, as multiples of the data's largest budget.
BUDGET_FACTORS = (1.0, 10.0, 100.0)
#: Tokens-per-parameter ratio between two methods above which they disagree.
DISAGREE_RATIO = 1.5
#: The method that fits each parametric form.
METHOD_OF_FORM = {"chinchilla": "approach3", "kaplan_nd": "kaplan"}


@dataclass(frozen=True)
class Comparison:
    """Each method's allocation at ``budgets`` (FLOPs), the methods compared, warnings."""

    budgets: list[float]
    rows: list[dict[str, Any]]
    compared: list[str]
    disagreements: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "budgets": self.budgets,
            "rows": self.rows,
            "compared": self.compared,
            "disagree_ratio": DISAGREE_RATIO,
            "disagreements": self.disagreements,
        }


def allocation_row(method: str, result: ApproachResult, budgets: list[float]) -> dict[str, Any]:
    """``a``, ``b`` and ``N*``, ``D*``, tokens per parameter at each budget."""
    return {
        "method": method,
        "a": result.a,
        "b": result.b,
        "N_opt": [float(result.n_opt(C)) for C in budgets],
        "D_opt": [float(result.d_opt(C)) for C in budgets],
        "tokens_per_param": [float(result.tokens_per_param(C)) for C in budgets],
    }


def compared_methods(methods: list[str], chosen_form: str | None) -> list[str]:
    """The methods whose allocations must agree (module docstring)."""
    if chosen_form is None:
        return list(methods)
    rejected = {m for form, m in METHOD_OF_FORM.items() if form != chosen_form}
    return [m for m in methods if m not in rejected]


def disagreements(rows: list[dict[str, Any]], budgets: list[float]) -> list[str]:
    """One warning per pair of rows whose tokens per parameter differ by more than
    :data:`DISAGREE_RATIO` at some budget, quoting the budget of the largest ratio."""
    out = []
    for first, second in combinations(rows, 2):
        pairs = zip(first["tokens_per_param"], second["tokens_per_param"], strict=True)
        ratios = [max(x, y) / min(x, y) for x, y in pairs]
        worst = max(range(len(budgets)), key=lambda i: ratios[i])
        if ratios[worst] > DISAGREE_RATIO:
            out.append(
                f"{first['method']} and {second['method']} disagree: "
                f"{first['tokens_per_param'][worst]:.3g} against "
                f"{second['tokens_per_param'][worst]:.3g} tokens per parameter at "
                f"C = {budgets[worst]:.3g} FLOPs ({ratios[worst]:.2f}x > {DISAGREE_RATIO}x); "
                "the allocation depends on the method: look for outlying runs and runs far "
                "from the optimum, and check the design (IsoFLOP grids around the optimum)"
            )
    return out


def allocation_conflicts(intervals: Mapping[str, tuple[float, float]]) -> list[str]:
    """One warning per pair of methods whose 95% bootstrap intervals of the allocation
    exponent ``a`` (``N* ~ C^a``), given as ``method -> (low, high)``, do not overlap.

    Both estimate the same exponent from the same runs; when even their intervals miss
    each other, the budgets do not identify one law, whatever each fit's own diagnostics
    say (Hoffmann et al.'s approaches 2 and 3 agree on well-designed grids). No
    threshold is involved: the intervals carry each method's own uncertainty.
    """
    out = []
    for (first, (low1, high1)), (second, (low2, high2)) in combinations(intervals.items(), 2):
        if high1 < low2 or high2 < low1:
            out.append(
                f"{first} and {second} disagree on the allocation exponent a (N* ~ C^a): "
                f"their 95% intervals [{low1:.3g}, {high1:.3g}] and [{low2:.3g}, {high2:.3g}] "
                "do not overlap"
            )
    return out


def compare_methods(
    results: dict[str, ApproachResult], largest_budget: float, chosen_form: str | None = None
) -> Comparison:
    """Compare ``results`` (method name -> result) at ``largest_budget`` x
    :data:`BUDGET_FACTORS`; ``chosen_form`` restricts the check (module docstring)."""
    budgets = [largest_budget * factor for factor in BUDGET_FACTORS]
    rows = [allocation_row(name, result, budgets) for name, result in results.items()]
    compared = compared_methods(list(results), chosen_form)
    checked = [row for row in rows if row["method"] in compared]
    return Comparison(budgets, rows, compared, disagreements(checked, budgets))
