"""MFU calibration and GPU-hours, against Llama 2 70B's published figures."""

from __future__ import annotations

import json

import pytest

from scalinglab.errors import InputError, ScalingLabError
from scalinglab.plan.hardware import load_catalogue
from scalinglab.plan.training_cost import (
    DEFAULT_MFU,
    PUBLIC_RUNS,
    calibrate_from_public,
    calibrate_from_summary,
    gpu_hours,
    resolve_mfu,
)

CATALOGUE = load_catalogue()


def test_llama2_70b_calibration_and_back_within_1_percent():
    # Touvron et al. 2023, Table 2: Llama 2 70B, 2T tokens, 1,720,320 A100-80GB GPU-hours.
    # MFU = 6 * 70e9 * 2e12 / (1,720,320 * 3600 * 312e12) = 8.4e23 / 1.932e24 = 0.435.
    calibration = calibrate_from_public("llama2-70b", CATALOGUE)
    assert calibration.mfu == pytest.approx(0.4347, abs=1e-3)
    assert calibration.source == "calibrated"
    run = PUBLIC_RUNS["llama2-70b"]
    back = gpu_hours(6 * run.n_params * run.tokens, 312e12, calibration.mfu)
    assert back == pytest.approx(1_720_320, rel=0.01)


def test_summary_json_of_a_measured_run(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(
        json.dumps({"tokens": 1e9, "flops": 3e18, "wall_seconds": 1000.0, "peak_flops": 1e16})
    )
    assert calibrate_from_summary(path, CATALOGUE).mfu == pytest.approx(0.3)
    path.write_text(
        json.dumps(
            {"tokens": 1e9, "n_params": 1e9, "wall_seconds": 3600, "gpu": "a100", "n_devices": 8}
        )
    )
    assert calibrate_from_summary(path, CATALOGUE).mfu == pytest.approx(6e18 / (3600 * 8 * 312e12))


def test_summary_json_prefers_6nd_and_counts_world_size(tmp_path):
    # the fields `scalinglab train` writes: exact `flops`, `flops_6nd`, `world_size`
    path = tmp_path / "summary.json"
    summary = {"tokens": 1e9, "flops": 7e18, "flops_6nd": 6e18, "wall_seconds": 100.0,
               "peak_flops": 1e15, "world_size": 4, "n_params": 1e9}  # fmt: skip
    path.write_text(json.dumps(summary))
    calibration = calibrate_from_summary(path, CATALOGUE)
    assert calibration.mfu == pytest.approx(6e18 / (100 * 4 * 1e15))
    assert "flops_6nd" in calibration.how


def test_summary_json_errors_name_the_file_and_the_missing_fields(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text('{"tokens": 1e9}')
    with pytest.raises(InputError, match=r"summary\.json.*wall_seconds.*flops.*peak_flops"):
        calibrate_from_summary(path, CATALOGUE)
    path.write_text('{"tokens": 1e9,,}')
    with pytest.raises(InputError, match="line 1"):
        calibrate_from_summary(path, CATALOGUE)


def test_resolve_mfu_states_where_it_came_from():
    assert resolve_mfu(None, None, CATALOGUE).source == "assumed"
    assert resolve_mfu(None, None, CATALOGUE).mfu == DEFAULT_MFU
    assert resolve_mfu(0.5, None, CATALOGUE).source == "user"
    assert resolve_mfu(None, "llama2-70b", CATALOGUE).source == "calibrated"
    with pytest.raises(ScalingLabError, match="not both"):
        resolve_mfu(0.5, "llama2-70b", CATALOGUE)
    with pytest.raises(ScalingLabError, match=r"\(0, 1\]"):
        resolve_mfu(1.5, None, CATALOGUE)
