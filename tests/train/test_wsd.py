"""WSD cooldown branches equal standalone WSD runs, and the stable run is shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.train import run_training
from scalinglab.train.defaults import resolve
from scalinglab.train.wsd import branch_points, run_wsd_branches


def test_branches_equal_standalone_wsd_runs(tiny) -> None:
    per_step = 8 * 32
    budgets = [per_step * 20, per_step * 40]
    base = tiny("wsd", schedule="wsd", warmup_steps=2)
    branches = run_wsd_branches(base, budgets, progress=False)
    assert [b.tokens for b in branches] == budgets
    assert all(b.status == "completed" for b in branches)
    stable = json.loads((Path(base.out_dir) / "stable" / "summary.json").read_text())
    assert stable["status"] == "stopped"
    assert stable["steps"] == 40 - 8  # the last cooldown starts at 80% of 40 steps
    alone = run_training(
        tiny("alone", schedule="wsd", warmup_steps=2, tokens=budgets[0]), progress=False
    )
    assert branches[0].final_val_loss == pytest.approx(alone.final_val_loss, rel=1e-6)
    assert branches[1].final_val_loss < branches[0].final_val_loss
    lrs = [json.loads(x)["lr"] for x in (Path(branches[1].out_dir) / "metrics.jsonl").open()]
    assert lrs[-1] == 0.0  # cooled down to zero
    again = run_wsd_branches(base, budgets, progress=False)
    assert [a.wall_seconds for a in again] == [b.wall_seconds for b in branches]


def test_budget_too_small_to_branch_is_an_error(tiny) -> None:
    cfg = resolve(tiny(schedule="wsd"))
    with pytest.raises(ScalingLabError, match="too few"):
        branch_points(cfg, [8 * 32])
