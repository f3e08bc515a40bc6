"""fit_runs and the JSON document that ``scalinglab fit --json`` writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.laws import ChinchillaLaw, bootstrap_law, fit_runs, law_from_dict
from scalinglab.laws.synthetic import isoflop_design

LAW = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
KEYS = {"method", "form", "params", "a", "b", "ci", "ci_level", "n_points", "objective"}
KEYS |= {"converged", "warnings", "holdout", "allocation"}


@pytest.fixture(scope="module")
def runs():
    return isoflop_design(LAW, np.geomspace(1e18, 1e21, 6), sizes_per_budget=7, noise=0.005)


def test_approach3_json_schema_and_round_trip(runs):
    report = fit_runs(runs, method="approach3", bootstrap=40, holdout_largest=3, n_jobs=1)
    doc = report.to_json_dict()
    assert set(doc) == KEYS | {"bootstrap_params", "bootstrap_by", "influence", "influential"}
    assert doc["form"] == "chinchilla"
    assert set(doc["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert set(doc["ci"]) == {"E", "A", "B", "alpha", "beta", "a", "b"}
    for lo, hi in doc["ci"].values():
        assert lo <= hi
    assert len(doc["bootstrap_params"]["alpha"]) == 40
    assert doc["n_points"] == 42
    assert doc["ci_level"] == 0.95
    assert len(doc["holdout"]) == 3
    assert set(doc["holdout"][0]) == {
        *("N", "D", "C", "loss", "predicted", "rel_error", "lower", "upper")
    }
    assert all(abs(row["rel_error"]) < 0.05 for row in doc["holdout"])
    assert all(r["lower"] < r["predicted"] < r["upper"] for r in doc["holdout"])
    law = law_from_dict(json.loads(json.dumps(doc)))
    assert law == ChinchillaLaw(**doc["params"])


def test_no_bootstrap_means_no_samples_and_empty_intervals(runs):
    doc = fit_runs(runs, method="approach2").to_json_dict()
    assert "bootstrap_params" not in doc
    assert doc["ci"] == {}
    assert doc["form"] == "isoflop_power_laws"
    assert set(doc["params"]) == {"n_coef", "a", "d_coef", "b"}
    assert doc["a"] == pytest.approx(LAW.a, abs=0.02)


def test_approach2_bootstrap_intervals(runs):
    doc = fit_runs(runs, method="approach2", bootstrap=30, seed=1).to_json_dict()
    lo, hi = doc["ci"]["a"]
    assert lo < hi
    assert len(doc["bootstrap_params"]["a"]) + _failed(doc["warnings"]) == 30


def _failed(warnings):
    return sum(int(w.split()[0]) for w in warnings if "resamples failed" in w)


def test_all_methods_document(runs):
    doc = fit_runs(runs, method="all").to_json_dict()
    assert doc["method"] == "all"
    assert doc["n_points"] == 42
    assert set(doc["fits"]) == {"approach1", "approach2", "approach3", "kaplan"}
    assert doc["fits"]["approach3"]["a"] == pytest.approx(LAW.a, abs=0.02)
    json.dumps(doc)


def test_bootstrap_is_seeded(runs):
    first = bootstrap_law("chinchilla", runs, 20, seed=3, n_jobs=1, starts=LAW.params)
    again = bootstrap_law("chinchilla", runs, 4000, seed=3, n_jobs=2, starts=LAW.params)
    other = bootstrap_law("chinchilla", runs, 20, seed=4, n_jobs=1, starts=LAW.params)
    # Splitting the resamples over processes changes only float rounding.
    np.testing.assert_allclose(first.samples, again.samples[:20], rtol=1e-6)
    assert not np.array_equal(first.samples, other.samples)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "approach9"}, "unknown method"),
        ({"bootstrap": -1}, ">= 0"),
        ({"holdout_largest": 99}, "cannot hold out"),
        ({"holdout_largest": 2, "holdout_by": "D"}, "unknown"),
        ({"objective": "l2"}, "unknown objective"),
    ],
)
def test_bad_options_raise_user_errors(runs, options, message):
    with pytest.raises(ScalingLabError, match=message):
        fit_runs(runs, **options)


def test_missing_column_is_a_user_error(runs):
    with pytest.raises(ScalingLabError, match="lacks column"):
        fit_runs({k: v for k, v in runs.items() if k != "C"})
