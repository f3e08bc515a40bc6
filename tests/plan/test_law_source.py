"""Loading laws: presets, fit JSON files, bootstrap intervals, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scalinglab.errors import InputError, ScalingLabError
from scalinglab.plan import PlanRequest, make_plan
from scalinglab.plan.law_source import load_law
from scalinglab.plan.loss import loss_interval, predict_loss

EPOCH = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}


def _fit_json(samples: int = 200, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    bootstrap = {k: list(v * (1 + 0.02 * rng.standard_normal(samples))) for k, v in EPOCH.items()}
    return {
        "method": "approach3",
        "form": "chinchilla",
        "params": EPOCH,
        "a": 0.5126,
        "b": 0.4874,
        "ci": {},
        "ci_level": 0.9,
        "n_points": 240,
        "bootstrap_params": bootstrap,
    }


def test_fit_file_with_bootstrap_gives_an_interval_around_the_point(tmp_path):
    path = tmp_path / "law.json"
    path.write_text(json.dumps(_fit_json()))
    loaded = load_law(path)
    assert loaded.source == "fit"
    assert loaded.ci_level == 0.9
    point = float(predict_loss(loaded.law, 7e10, 1.4e12))
    lo, hi = loss_interval(loaded, 7e10, 1.4e12)
    assert lo < point < hi
    assert "90% interval" in loaded.interval_note
    assert "200 bootstrap samples" in loaded.interval_note
    # the interval is the central 90% of the per-sample predictions
    samples = loaded.samples
    values = samples["E"] + samples["A"] / 7e10 ** samples["alpha"]
    values = values + samples["B"] / 1.4e12 ** samples["beta"]
    assert (lo, hi) == pytest.approx(tuple(np.percentile(values, [5, 95])))


def test_method_all_uses_approach3():
    data = {"method": "all", "fits": {"approach3": _fit_json(), "approach1": {"form": "x"}}}
    assert load_law(data).law.params == pytest.approx(EPOCH)
    with pytest.raises(ScalingLabError, match="approach3"):
        load_law({"method": "all", "fits": {"approach1": {}}})


def test_presets_have_no_interval_and_say_so():
    loaded = load_law("epoch2024")
    assert loaded.source == "preset"
    assert loss_interval(loaded, 7e10, 1.4e12) is None
    assert "no interval" in loaded.interval_note


def test_bad_inputs(tmp_path):
    with pytest.raises(ScalingLabError, match="neither a preset"):
        load_law(tmp_path / "missing.json")
    path = tmp_path / "bad.json"
    path.write_text('{"form": "chinchilla",\n "params": }')
    with pytest.raises(InputError, match=r"bad\.json, line 2"):
        load_law(path)
    with pytest.raises(ScalingLabError, match="cannot plan"):
        load_law({"form": "kaplan_c", "params": {"Cc": 1e8, "alphaC": 0.05}})
    broken = _fit_json()
    del broken["bootstrap_params"]["beta"]
    with pytest.raises(ScalingLabError, match="lacks beta"):
        load_law(broken)


def test_a_real_fit_file_plans_with_an_interval():
    # Written by `scalinglab fit --example chinchilla --method approach3 --bootstrap 20
    # --json` (scalinglab.laws.fit_file) on 2026-11-28: the Epoch AI points, 20 bootstrap
    # refits. The planner reads it as is and brackets its point prediction.
    path = Path(__file__).parent / "data" / "epoch_fit_bootstrap20.json"
    plan = make_plan(PlanRequest(law=path, flops=5.76e23))
    assert plan.law.source == "fit"
    assert plan.compute_optimal.n == pytest.approx(72e9, rel=0.05)
    lo, hi = plan.loss_interval
    assert lo < plan.compute_optimal.loss < hi
    assert "20 bootstrap samples" in plan.law.interval_note
