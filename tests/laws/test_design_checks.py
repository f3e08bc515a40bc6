"""Design checks: refuse fits that the runs cannot determine, before any fit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalinglab.errors import ScalingLabError
from scalinglab.laws import ChinchillaLaw, fit_runs
from scalinglab.laws.design_checks import check_design, distinct_values, variables_of
from scalinglab.laws.synthetic import isoflop_design

LAW = ChinchillaLaw(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)


def grid(sizes, tokens):
    N, D = (a.ravel() for a in np.meshgrid(sizes, tokens))
    loss = LAW.predict(N=N, D=D)
    return {"N": N, "D": D, "C": 6 * N * D, "loss": loss}


def test_single_size_is_refused_naming_the_column_and_its_value():
    table = grid([1e8], np.geomspace(1e9, 1e11, 12))
    with pytest.raises(ScalingLabError) as error:
        fit_runs(table, method="approach3")
    message = str(error.value)
    assert "column N has 1 distinct value(s) (1e+08 parameters)" in message
    assert "\n" not in message


def test_single_token_count_is_refused():
    table = grid(np.geomspace(1e7, 1e9, 12), [2e9])
    with pytest.raises(ScalingLabError, match="column D has 1 distinct value"):
        fit_runs(table, method="all")


def test_two_sizes_are_refused_and_three_pass():
    check_design(grid([1e8, 2e8, 4e8], [1e9, 2e9, 4e9]), ("N", "D", "C"))
    with pytest.raises(ScalingLabError, match="2 distinct value"):
        check_design(grid([1e8, 2e8], [1e9, 2e9, 4e9]), ("N",))


def test_holdout_that_leaves_two_sizes_is_refused():
    table = grid([1e7, 3e7, 1e8, 3e8], np.geomspace(1e9, 1e11, 4))
    with pytest.raises(ScalingLabError, match="after holding out the 2 largest model sizes"):
        fit_runs(table, method="approach3", holdout_largest=2, holdout_by="N")


def test_isoflop_design_passes():
    runs = isoflop_design(LAW, np.geomspace(1e18, 1e20, 3), sizes_per_budget=5, noise=0.0)
    check_design(runs, variables_of(["approach1", "approach2", "approach3", "kaplan"]))


@given(
    st.lists(st.floats(min_value=1.0, max_value=1e12), min_size=1, max_size=30),
    st.integers(min_value=1, max_value=4),
)
def test_distinct_values_ignore_repeats_and_order(values, repeats):
    once = distinct_values(np.array(values))
    many = distinct_values(np.array(values * repeats)[::-1])
    assert np.array_equal(once, many)
    assert np.all(np.diff(np.log(once)) > np.log1p(1e-6))
    assert len(once) <= len(set(values))


@given(st.floats(min_value=1.0, max_value=1e12), st.floats(min_value=0.0, max_value=1e-7))
def test_values_within_the_tolerance_are_one(value, relative):
    assert len(distinct_values(np.array([value, value * (1 + relative)]))) == 1
