"""Schedules: bounds, monotonicity, end points, and the WSD property branches rely on."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalinglab.train.schedule import constant_lr, cooldown_steps, cosine_lr, wsd_lr

peaks = st.floats(1e-5, 1.0)
ratios = st.floats(0.0, 0.5)


@settings(max_examples=40)
@given(peaks, st.integers(0, 50), st.integers(1, 500), ratios)
def test_cosine_is_bounded_and_decreasing_after_warmup(
    peak: float, warmup: int, extra: int, ratio: float
) -> None:
    total = warmup + extra
    values = [
        cosine_lr(s, peak=peak, warmup=warmup, total=total, min_ratio=ratio)
        for s in range(total + 1)
    ]
    assert all(0 <= v <= peak * (1 + 1e-12) for v in values)
    after = values[warmup:]
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(after))
    assert values[total] == pytest.approx(peak * ratio, abs=1e-12 * peak) or ratio == 0
    warm = values[:warmup]
    assert all(b > a for a, b in itertools.pairwise(warm))


@settings(max_examples=40)
@given(peaks, st.integers(0, 30), st.integers(2, 400), st.floats(0.05, 1.0), ratios,
       st.sampled_from(["sqrt", "linear"]))  # fmt: skip
def test_wsd_is_flat_then_cools_to_the_floor(
    peak: float, warmup: int, extra: int, fraction: float, ratio: float, shape: str
) -> None:
    total = warmup + extra
    cooldown = min(cooldown_steps(total, fraction), extra)
    lr = [wsd_lr(s, peak=peak, warmup=warmup, total=total, cooldown=cooldown, min_ratio=ratio,
                 shape=shape) for s in range(total)]  # fmt: skip
    assert all(v == peak for v in lr[warmup : total - cooldown])
    assert lr[total - 1] == pytest.approx(peak * ratio, rel=1e-9, abs=1e-15)
    tail = lr[total - cooldown :]
    assert all(b <= a for a, b in itertools.pairwise(tail))


@settings(max_examples=40)
@given(peaks, st.integers(0, 20), st.integers(30, 300), st.integers(30, 300))
def test_wsd_stable_phase_does_not_depend_on_the_budget(
    peak: float, warmup: int, total_a: int, total_b: int
) -> None:
    """Why cooldown branches are exact: before its cooldown, every WSD run is the
    constant-rate run."""
    cool_a = cooldown_steps(total_a, 0.2)
    for step in range(total_a - cool_a):
        expected = constant_lr(step, peak=peak, warmup=warmup)
        assert wsd_lr(step, peak=peak, warmup=warmup, total=total_a, cooldown=cool_a) == expected
        if step < total_b - cooldown_steps(total_b, 0.2):
            assert wsd_lr(step, peak=peak, warmup=warmup, total=total_b,
                          cooldown=cooldown_steps(total_b, 0.2)) == expected  # fmt: skip


def test_sqrt_cooldown_is_above_linear_midway() -> None:
    args = {"peak": 1.0, "warmup": 0, "total": 100, "cooldown": 50}
    assert wsd_lr(74, shape="sqrt", **args) < wsd_lr(74, shape="linear", **args)
    assert cosine_lr(50, peak=1.0, warmup=0, total=100, min_ratio=0.0) == pytest.approx(
        0.5 * (1 + math.cos(math.pi * 0.5))
    )
