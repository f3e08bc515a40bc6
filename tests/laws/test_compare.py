"""Methods side by side and the 'disagree' warning, on allocations computed by hand."""

from __future__ import annotations

import pytest

from scalinglab.laws.approaches import ApproachResult
from scalinglab.laws.compare import (
    allocation_conflicts,
    compare_methods,
    compared_methods,
    disagreements,
)


def result(method: str, tokens_per_param: float, a: float = 0.5) -> ApproachResult:
    """``N* = sqrt(C / (6 r))``, ``D* = r N*``: exactly ``r`` tokens per parameter (a = 0.5)."""
    n_coef = (6.0 * tokens_per_param) ** -0.5
    return ApproachResult(method, a, 1 - a, n_coef, tokens_per_param * n_coef)


def test_side_by_side_rows_at_the_largest_budget_and_10x_100x():
    comparison = compare_methods({"approach2": result("approach2", 20.0)}, 1e21)
    assert comparison.budgets == [1e21, 1e22, 1e23]
    row = comparison.rows[0]
    assert row["tokens_per_param"] == pytest.approx([20.0] * 3)
    assert row["N_opt"][0] == pytest.approx((1e21 / 120.0) ** 0.5)
    assert row["D_opt"][2] == pytest.approx(20.0 * (1e23 / 120.0) ** 0.5)


def test_disagree_above_one_and_a_half_times_only():
    close = {m: result(m, r) for m, r in (("approach1", 20.0), ("approach2", 29.0))}
    assert compare_methods(close, 1e21).disagreements == []
    far = {**close, "approach3": result("approach3", 6.0)}
    warnings = compare_methods(far, 1e21).disagreements
    assert len(warnings) == 2  # approach3 against each of the others
    assert all("disagree" in w and "approach3" in w for w in warnings)


def test_diverging_exponents_disagree_at_100x_only():
    rows = [
        {"method": "x", "tokens_per_param": [20.0, 20.0, 20.0]},
        {"method": "y", "tokens_per_param": [20.0, 25.0, 31.0]},
    ]
    (warning,) = disagreements(rows, [1e21, 1e22, 1e23])
    assert "1e+23" in warning
    assert "1.55x" in warning


def test_a_rejected_form_is_shown_but_not_compared():
    methods = ["approach1", "approach2", "approach3", "kaplan"]
    assert compared_methods(methods, "chinchilla") == ["approach1", "approach2", "approach3"]
    assert compared_methods(methods, "kaplan_nd") == ["approach1", "approach2", "kaplan"]
    assert compared_methods(methods, None) == methods
    results = {m: result(m, 20.0) for m in methods[:3]} | {"kaplan": result("kaplan", 5.0)}
    comparison = compare_methods(results, 1e21, "chinchilla")
    assert len(comparison.rows) == 4
    assert comparison.disagreements == []


def test_allocation_intervals_conflict_only_when_they_do_not_overlap():
    assert allocation_conflicts({"approach2": (0.5, 0.8), "approach3": (0.3, 0.55)}) == []
    assert allocation_conflicts({"approach2": (0.5, 0.8), "approach3": (0.2, 0.5)}) == []
    (warning,) = allocation_conflicts({"approach2": (0.474, 0.837), "approach3": (0.049, 0.419)})
    assert warning.startswith("approach2 and approach3 disagree on the allocation exponent a")
    assert "[0.474, 0.837] and [0.049, 0.419] do not overlap" in warning
    three = {"approach1": (0.1, 0.2), "approach2": (0.5, 0.8), "approach3": (0.6, 0.9)}
    assert [w.split(" disagree")[0] for w in allocation_conflicts(three)] == [
        "approach1 and approach2",
        "approach1 and approach3",
    ]
    assert allocation_conflicts({"approach3": (0.1, 0.2)}) == []
