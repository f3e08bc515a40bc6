"""Allocation tables anchored at the data, significant digits, and headline warnings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalinglab.laws import ChinchillaLaw
from scalinglab.laws.approaches import ApproachResult, approach3_from_law
from scalinglab.laws.extrapolation import (
    allocation_budgets,
    allocation_rows,
    decades_past,
    extrapolation_warnings,
    significant,
)

LAW = ChinchillaLaw(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)


def test_budgets_start_at_the_data_and_go_three_decades_past_it():
    C = np.array([3e15, 1e16, 3e11 * 1e6])
    assert allocation_budgets(C) == pytest.approx([3e15, 3e17, 3e18, 3e19, 3e20])
    assert allocation_budgets(C, 0) == pytest.approx([3e15, 3e17])
    assert allocation_budgets(np.array([1e18, 1e18]), 1) == pytest.approx([1e18, 1e19])


def test_rows_say_how_far_past_the_data_they_are():
    rows = allocation_rows(approach3_from_law(LAW), np.array([1e17, 1e19]), 2, LAW)
    assert [row["decades_past_data"] for row in rows] == pytest.approx([0, 0, 1, 2])
    n_star, d_star = LAW.compute_optimal(1e21)
    assert rows[-1]["N"] == pytest.approx(float(n_star))
    assert rows[-1]["tokens_per_param"] == pytest.approx(float(d_star / n_star))
    assert rows[-1]["loss"] == pytest.approx(float(LAW.predict(N=n_star, D=d_star)))


@given(st.floats(min_value=1e-12, max_value=1e12))
def test_significant_digits_never_print_zero(value):
    text = significant(value)
    assert float(text) != 0
    assert float(text) == pytest.approx(value, rel=5e-3)


@given(st.floats(min_value=1e10, max_value=1e30), st.floats(min_value=0, max_value=10))
def test_decades_past(largest, decades):
    assert decades_past(largest * 10**decades, largest) == pytest.approx(decades, abs=1e-9)
    assert decades_past(largest / 10, largest) == 0


def runs(sizes, tokens):
    N, D = (a.ravel() for a in np.meshgrid(sizes, tokens))
    return {"N": N, "D": D, "C": 6 * N * D, "loss": LAW.predict(N=N, D=D)}


def test_a_good_fit_gets_no_warning():
    n_star, d_star = LAW.compute_optimal(1e19)
    data = runs(float(n_star) * np.geomspace(0.1, 10, 5), float(d_star) * np.geomspace(0.1, 10, 5))
    assert extrapolation_warnings(approach3_from_law(LAW), data, LAW) == []


def test_e_above_the_lowest_loss_n_star_outside_sizes_and_a_out_of_range():
    data = runs(np.geomspace(1e6, 1e7, 3), np.geomspace(1e12, 1e13, 3))
    high_e = ChinchillaLaw(E=5.0, A=480.0, B=2100.0, alpha=0.05, beta=0.9)
    warnings = extrapolation_warnings(approach3_from_law(high_e), data, high_e)
    assert any(
        w.startswith("irreducible loss E = 5 exceeds the lowest measured loss") for w in warnings
    )
    assert any("outside the sizes trained" in w for w in warnings)
    assert any(
        w.startswith(f"allocation exponent a = {0.9 / 0.95:.3g} is outside") for w in warnings
    )


def test_power_law_results_are_checked_too():
    result = ApproachResult("approach2", 0.9, 0.1, 1.0, 1.0 / 6)
    data = runs(np.geomspace(1e8, 1e9, 3), np.geomspace(1e9, 1e10, 3))
    warnings = extrapolation_warnings(result, data)
    assert any("allocation exponent a = 0.9" in w for w in warnings)
    assert not any("irreducible" in w for w in warnings)
    assert math.isfinite(result.a)
