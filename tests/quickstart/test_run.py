"""Quickstart sizing and its JSON (the full loop is measured in BENCHMARKS.md: it takes
minutes, too long for the suite)."""

from __future__ import annotations

import json

import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.quickstart.run import (
    BUDGET_RATIO,
    N_BUDGETS,
    QuickstartResult,
    run_quickstart,
    size_budgets,
    smallest_budget,
    train_options,
    write_json,
)

pytest.importorskip("torch")


def _budgets(design):
    return sorted({run.budget for run in design.runs})


@pytest.mark.slow
def test_budgets_scale_with_the_time_budget_and_respect_the_floor(tmp_path):
    small = size_budgets(0.1, workers=2, cache=tmp_path)
    large = size_budgets(500, workers=2, cache=tmp_path)
    assert _budgets(small)[0] == pytest.approx(smallest_budget())
    assert _budgets(large)[0] > 3 * _budgets(small)[0]
    for design in (small, large):
        budgets = _budgets(design)
        assert len(budgets) == N_BUDGETS
        assert budgets[1] / budgets[0] == pytest.approx(BUDGET_RATIO)
        for budget in budgets:
            runs = [r for r in design.runs if r.budget == budget]
            assert len(runs) >= 4
            assert {r.shape.n_layer for r in runs} == {1}


def test_json_has_the_promised_keys(tmp_path):
    result = QuickstartResult(
        predicted_loss=3.0, predicted_interval=(2.9, 3.1), measured_loss=3.05,
        target_flops=1e13, target_n_params_nonembed=10**5, target_tokens=10**6,
        rel_error=0.0167, inside_interval=True, budgets=[1e11, 2e11, 4e11], sweep_runs=13,
        approach2_a=0.5, approach3_params={"E": 1.0}, wall_seconds=500.0, seconds={},
        report="r.html", registry="r.db", precision="fp32", lr_source="pilot",
        lr_pilot={"law": "lr* = 0.5 * N^-0.300", "runs": 25},
    )  # fmt: skip
    data = json.loads(write_json(result, tmp_path / "q.json").read_text())
    for key in ("predicted_loss", "measured_loss", "target_flops", "wall_seconds"):
        assert isinstance(data[key], float)
    assert data["predicted_interval"] == [2.9, 3.1]
    assert data["precision"] == "fp32"
    assert data["lr_pilot"]["law"].startswith("lr* = ")


def test_precision_forces_bf16_or_fp32_and_refuses_anything_else():
    assert "bf16" not in train_options("auto")
    assert train_options("fp32")["bf16"] is False
    assert train_options("bf16")["bf16"] is True
    with pytest.raises(ScalingLabError, match="--precision must be one of auto, bf16, fp32"):
        train_options("fp16")


def test_non_positive_budget_is_a_user_error(tmp_path):
    with pytest.raises(ScalingLabError, match="budget-minutes"):
        run_quickstart(0, tmp_path)
