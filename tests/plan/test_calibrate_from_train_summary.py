"""MFU calibration from a summary.json written by the training engine's own class."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")  # scalinglab.train imports torch

from scalinglab.plan.hardware import load_catalogue
from scalinglab.plan.training_cost import calibrate_from_summary
from scalinglab.train.summary import RunSummary


def test_calibrate_from_a_real_run_summary(tmp_path):
    summary = RunSummary(
        status="completed",
        out_dir=str(tmp_path),
        family="gpt",
        shape={},
        seed=0,
        n_params=10_000_000,
        n_params_nonembed=8_000_000,
        tokens=50_000_000,
        flops=3.3e15,
        flops_6nd=3.0e15,
        wall_seconds=600.0,
        peak_flops=1e12,
        world_size=2,
    )
    summary.write(tmp_path / "summary.json")
    calibration = calibrate_from_summary(tmp_path / "summary.json", load_catalogue())
    assert calibration.mfu == pytest.approx(3.0e15 / (600.0 * 2 * 1e12))
