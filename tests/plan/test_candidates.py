"""Candidate sizes: the --sizes parser (hypothesis) and the case-study table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalinglab.errors import ScalingLabError
from scalinglab.plan import PlanRequest, make_plan
from scalinglab.plan.figure import size_label
from scalinglab.plan.request import parse_sizes

CASE_STUDY = "100M,300M,600M,1.3B,3.0B,6.7B"  # the DESIGN's BERT-family sizes


def test_parse_sizes_examples():
    assert parse_sizes(CASE_STUDY) == pytest.approx((1e8, 3e8, 6e8, 1.3e9, 3e9, 6.7e9))
    assert parse_sizes(" 7e9 , 70G, 1.5k,2T") == pytest.approx((7e9, 7e10, 1.5e3, 2e12))


@pytest.mark.parametrize("bad", ["", "1.3X", "-1M", "0", "inf", "nan", "1e400", "1M,,2M", "M"])
def test_parse_sizes_rejects_with_a_user_error(bad):
    with pytest.raises(ScalingLabError, match="cannot read model size"):
        parse_sizes(bad)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_parse_sizes_never_fails_otherwise(text):
    try:
        sizes = parse_sizes(text)
    except ScalingLabError:
        return
    assert all(size > 0 for size in sizes)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=1e3, max_value=1e14), min_size=1, max_size=6))
def test_labels_parse_back_to_the_sizes(sizes):
    text = ",".join(size_label(n) for n in sizes)
    assert parse_sizes(text) == pytest.approx(sizes, rel=0.01)


def test_case_study_table_for_an_encoder():
    # The DESIGN's case study: BERT-family sizes 100M..6.7B, training and inference time.
    request = PlanRequest(
        law="epoch2024", flops=3e21, gpu="a100", gpus=8, family="bert", seq_len=512,
        vocab_size=30522, sizes=CASE_STUDY, inference_tokens=1e11, batch=64,
    )  # fmt: skip
    plan = make_plan(request)
    rows = [row for row in plan.candidates if row.label in ("100M", "1.3B", "6.7B")]
    assert [row.label for row in rows] == ["100M", "1.3B", "6.7B"]
    hours = [row.costs["train_gpu_hours"] for row in rows]
    inference = [row.costs["inference_gpu_hours"] for row in rows]
    latency = [row.costs["encoder_ms_per_sequence"] for row in rows]
    assert hours == sorted(hours)
    assert inference == sorted(inference)
    assert latency == sorted(latency)
    losses = [row.loss for row in rows]
    assert losses == sorted(losses, reverse=True)
    assert "N* (compute-optimal)" in [row.label for row in plan.candidates]
