"""Golden-section minimisation and bisection."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalinglab.plan.search import bisect_root, golden_minimize


@settings(max_examples=60, deadline=None)
@given(center=st.floats(min_value=-50, max_value=50), width=st.floats(min_value=0.1, max_value=30))
def test_golden_finds_the_minimum_of_a_convex_function(center, width):
    lo, hi = center - width, center + 2 * width
    x = golden_minimize(lambda v: math.cosh(v - center), lo, hi)
    assert x == pytest.approx(center, abs=1e-6)


def test_golden_at_the_boundary():
    assert golden_minimize(lambda v: v, 0.0, 1.0) == pytest.approx(0.0, abs=1e-8)


@settings(max_examples=60, deadline=None)
@given(root=st.floats(min_value=-40, max_value=40))
def test_bisect_finds_the_root_of_a_monotone_function(root):
    assert bisect_root(lambda v: math.atan(v - root), -50.0, 50.0) == pytest.approx(root, abs=1e-9)


def test_bisect_needs_a_sign_change():
    with pytest.raises(ValueError, match="sign change"):
        bisect_root(lambda v: v * v + 1, -1.0, 1.0)
