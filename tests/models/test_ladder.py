"""The ladder's shapes: near their target size, well proportioned, monotone in N."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalinglab.errors import ScalingLabError
from scalinglab.models import ladder as ladder_module
from scalinglab.models.counting import count_params
from scalinglab.models.ladder import (
    ASPECT_MAX,
    ASPECT_MIN,
    head_dim_for_width,
    ladder,
    shape_for_params,
    width_ladder,
)
from scalinglab.models.shape import ShapeSpec


def _check_rules(shape: ShapeSpec) -> None:
    assert ASPECT_MIN <= shape.aspect_ratio <= ASPECT_MAX
    assert shape.head_dim == head_dim_for_width(shape.d_model)
    assert shape.d_model % shape.head_dim == 0
    assert shape.d_ff == 4 * shape.d_model


@settings(max_examples=60, deadline=None)
@given(
    log10_target=st.floats(min_value=5.0, max_value=10.0),
    family=st.sampled_from(["gpt", "bert"]),
)
def test_shape_for_params_is_near_its_target_and_in_the_bands(
    log10_target: float, family: str
) -> None:
    target = 10.0**log10_target
    shape = shape_for_params(target, family=family)
    assert shape.family == family
    tolerance = 0.20 if target < 3e5 else 0.15
    assert abs(count_params(shape).nonembed / target - 1.0) <= tolerance
    _check_rules(shape)


@settings(max_examples=25, deadline=None)
@given(
    log10_min=st.floats(min_value=5.0, max_value=7.0),
    decades=st.floats(min_value=1.0, max_value=2.0),
    count=st.integers(min_value=2, max_value=6),
)
def test_ladder_is_strictly_monotone_in_n(log10_min: float, decades: float, count: int) -> None:
    shapes = ladder(10.0**log10_min, 10.0 ** (log10_min + decades), count)
    sizes = [count_params(s).nonembed for s in shapes]
    assert len(shapes) == count
    assert sizes == sorted(sizes)
    assert len(set(sizes)) == count
    for shape in shapes:
        _check_rules(shape)


def test_issue_ladder_spans_1e5_to_3e6() -> None:
    shapes = ladder(1e5, 3e6, 5, family="gpt", vocab_size=4096, n_ctx=256)
    sizes = [count_params(s).nonembed for s in shapes]
    assert sizes[0] == pytest.approx(1e5, rel=0.15)
    assert sizes[-1] == pytest.approx(3e6, rel=0.15)
    assert all(s.vocab_size == 4096 and s.n_ctx == 256 for s in shapes)


def test_gpt2_small_size_gets_a_gpt2_like_shape() -> None:
    shape = shape_for_params(85e6)
    assert shape.n_head * 64 == shape.d_model
    assert 48 <= shape.aspect_ratio <= 80


def test_too_close_shapes_are_refused() -> None:
    with pytest.raises(ScalingLabError, match="too close"):
        ladder(1e5, 1.1e5, 5)


@pytest.mark.parametrize(("n_min", "n_max", "count"), [(0, 1e6, 3), (2e6, 1e6, 3), (1e5, 1e6, 0)])
def test_bad_ranges_are_refused(n_min: float, n_max: float, count: int) -> None:
    with pytest.raises(ScalingLabError):
        ladder(n_min, n_max, count)


def test_tiny_target_is_refused() -> None:
    with pytest.raises(ScalingLabError, match="too small"):
        shape_for_params(10)


def test_width_ladder_keeps_depth_and_sets_heads() -> None:
    shapes = width_ladder((64, 320), n_layer=2, vocab_size=384, n_ctx=64)
    assert [(s.n_layer, s.d_model, s.n_head) for s in shapes] == [(2, 64, 2), (2, 320, 5)]
    assert all(s.vocab_size == 384 and s.n_ctx == 64 for s in shapes)
    assert [s.n_head for s in width_ladder((64, 320), head_dim=32)] == [2, 10]


def test_docstring_examples() -> None:
    assert doctest.testmod(ladder_module).failed == 0
