"""PlanRequest: every value checked when the request is made, with one-line errors that
name the option (the CLI's exit status 2 for them: tests/plan/test_cli_plan.py). Days,
and the total cost of training plus lifetime inference, are part of the plan and its
JSON, not of the CLI."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from scalinglab.cli.app import app
from scalinglab.errors import ScalingLabError
from scalinglab.plan import PlanRequest, make_plan

runner = CliRunner()

BAD_REQUESTS = [
    ({}, "exactly one budget"),
    ({"flops": 1e21, "hours": 10.0, "gpu": "h100"}, "exactly one budget"),
    ({"hours": 10.0, "days": 1.0, "gpu": "h100"}, "--hours or --days, not both"),
    ({"days": 0.0, "gpu": "h100"}, "--days must be a positive number, got 0.0"),
    ({"hours": math.inf, "gpu": "h100"}, "--hours must be a positive number"),
    ({"flops": math.nan}, "--flops must be a positive number"),
    ({"target_loss": -2.0}, "--target-loss must be a positive number"),
    ({"days": 1.0}, "--hours/--days needs --gpu"),
    ({"dollars": 1e6, "gpu": "a100"}, "--dollars needs --price-per-gpu-hour"),
    ({"flops": 1e21, "price_per_gpu_hour": 0.0}, "--price-per-gpu-hour must be a positive"),
    ({"flops": 1e21, "gpus": 0}, "--gpus must be at least 1, got 0"),
    ({"flops": 1e21, "precision": "int4"}, "unknown precision 'int4'"),
    ({"flops": 1e21, "mfu": 1.5}, r"--mfu must be in (0, 1]"),
    ({"flops": 1e21, "mfu": 0.5, "calibrate_from": "llama2-70b"}, "not both"),
    ({"flops": 1e21, "memory_headroom": 1.0}, "--memory-headroom must be in [0, 1)"),
    ({"flops": 1e21, "family": "rnn"}, "unknown model family 'rnn'"),
    ({"flops": 1e21, "vocab_size": 0}, "--vocab must be at least 1"),
    ({"flops": 1e21, "seq_len": 0}, "--seq-len must be at least 1"),
    ({"flops": 1e21, "micro_batch": 0}, "--micro-batch must be at least 1"),
    ({"flops": 1e21, "batch": -1}, "--batch must be at least 1"),
    ({"flops": 1e21, "loss_tolerance": -0.1}, "--loss-tolerance must be >= 0"),
    ({"flops": 1e21, "inference_tokens": 0.0}, "--inference-tokens must be a positive"),
    ({"flops": 1e21, "unique_tokens": -1.0}, "--unique-tokens must be a positive"),
    ({"flops": 1e21, "sizes": "100M,lots"}, "cannot read model size 'lots'"),
    ({"flops": 1e21, "sizes": (1e9, -5.0)}, "--sizes must be a positive number"),
]


@pytest.mark.parametrize(("options", "message"), BAD_REQUESTS)
def test_a_bad_request_fails_when_made_with_one_line(options, message):
    with pytest.raises(ScalingLabError) as caught:
        PlanRequest(**options)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_days_are_24_hours_and_say_so():
    request = PlanRequest(law="epoch2024", gpu="h100", gpus=64, days=14)
    assert request.wall_hours == 336.0
    in_days = make_plan(request)
    in_hours = make_plan(PlanRequest(law="epoch2024", gpu="h100", gpus=64, hours=336))
    # 64 H100 SXM (989e12 FLOP/s dense bf16) for 336 h at the assumed MFU 0.4
    assert in_days.budget.flops == pytest.approx(64 * 336 * 3600 * 0.4 * 989e12)
    assert in_days.budget.flops == in_hours.budget.flops
    assert "14 days (336 h)" in in_days.budget.how
    assert (in_days.budget.days, in_hours.budget.days) == (14.0, None)


def test_json_carries_days_and_the_total_cost():
    args = ["plan", "--law", "epoch2024", "--gpu", "h100", "--gpus", "64", "--days", "14",
            "--price-per-gpu-hour", "2.5", "--inference-tokens", "1e12", "--json", "-"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["budget"]["days"] == 14.0
    assert data["budget"]["wall_hours"] == pytest.approx(336.0)
    # the budget buys 64 GPUs x 336 h, and N* is sized to spend it: 21,504 GPU-hours at $2.5
    assert data["cost_dollars"] == pytest.approx(64 * 336 * 2.5)
    # lifetime inference: 1e12 tokens at the decode throughput of the inference section
    inference_hours = 1e12 / data["inference"]["throughput_tokens_per_s"] / 3600
    assert data["inference_cost_dollars"] == pytest.approx(inference_hours * 2.5)
    assert data["total_cost_dollars"] == pytest.approx(64 * 336 * 2.5 + inference_hours * 2.5)
    optimum = next(row for row in data["candidates"] if row["label"] == "N* (compute-optimal)")
    assert optimum["total_cost_dollars"] == pytest.approx(data["total_cost_dollars"])
    for row in data["candidates"]:
        expected = row["train_cost_dollars"] + row["inference_cost_dollars"]
        assert row["total_cost_dollars"] == pytest.approx(expected)
    (figure,) = [f for f in data["figures"] if f["section"] == "total cost"]
    assert figure["value"] == pytest.approx(data["total_cost_dollars"])


def test_the_total_without_inference_is_the_training_cost_and_without_a_price_none():
    plan = make_plan(PlanRequest(law="epoch2024", gpu="a100", gpus=8, dollars=1e6,
                                 price_per_gpu_hour=2.0))  # fmt: skip
    data = plan.to_json_dict()
    assert data["inference_cost_dollars"] is None
    assert data["total_cost_dollars"] == pytest.approx(1e6)
    (figure,) = [f for f in data["figures"] if f["section"] == "total cost"]
    assert "no lifetime inference counted" in figure["how"]
    no_price = make_plan(PlanRequest(law="epoch2024", gpu="a100", flops=1e21)).to_json_dict()
    assert no_price["total_cost_dollars"] is None
    assert all("total_cost_dollars" not in row for row in no_price["candidates"])
    assert not [f for f in no_price["figures"] if f["section"] == "total cost"]
