"""The sweep's table, law and recommendation; a reduced real sweep over the MiniLM ladder."""

from __future__ import annotations

import json

import pytest

from scalinglab.finetune.sweep import aggregate, recommend


def _row(model, method, n, f1, seconds=10.0, latency=5.0, seed=0):
    return {
        "model": model,
        "method": method,
        "seed": seed,
        "n_params": n,
        "trainable_params": n,
        "train_seconds": seconds,
        "latency_ms_p50": latency,
        "latency_ms_p95": latency,
        "throughput_per_s": 100.0,
        "macro_f1": f1,
        "accuracy": f1,
        "val_macro_f1": f1,
        "size_on_disk_bytes": 1,
    }


def test_aggregate_means_over_seeds():
    rows = [_row("a", "full", 10, 0.8, seed=0), _row("a", "full", 10, 0.9, seed=1)]
    (row,) = aggregate(rows)
    assert row["macro_f1"] == pytest.approx(0.85)
    assert row["macro_f1_std"] == pytest.approx(0.0707, abs=1e-3)
    assert row["seeds"] == 2
    assert row["error"] == pytest.approx(0.15)


def test_recommend_smallest_within_tolerance_and_budgets():
    table = aggregate(
        [
            _row("s", "full", 10, 0.850, seconds=5, latency=2),
            _row("m", "full", 20, 0.870, seconds=10, latency=4),
            _row("l", "full", 40, 0.875, seconds=40, latency=9),
        ]
    )
    rec = recommend(table, 0.01, latency_budget_ms=3.0, train_seconds_budget=None)
    assert rec["best"]["model"] == "l"
    assert rec["smallest_within_tolerance"]["model"] == "m"
    assert rec["best_under_budget"]["model"] == "s"
    none = recommend(table, 0.01, latency_budget_ms=1.0, train_seconds_budget=None)
    assert none["best_under_budget"] is None


@pytest.mark.slow
def test_reduced_sweep_produces_table_law_and_recommendation(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("scalinglab.laws.fitter")
    from typer.testing import CliRunner

    from scalinglab.cli.app import app

    out = tmp_path / "sweep"
    result = CliRunner().invoke(
        app,
        [
            "finetune-sweep",
            "--models", "minilm-L1,minilm-L2,minilm-L3,minilm-L4",
            "--methods", "full,lora,bitfit",
            "--max-train-examples", "48",
            "--max-eval-examples", "40",
            "--epochs", "1",
            "--batch-size", "16",
            "--max-length", "48",
            "--few-shot-k", "4",
            "--bootstrap", "10",
            "--latency-repeats", "3",
            "--throughput-batches", "1",
            "--latency-budget-ms", "1000",
            "--threads", "1",
            "--quiet",
            "--out", str(out),
            "--json", str(tmp_path / "sweep.json"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "sweep.json").read_text())
    methods = {row["method"] for row in data["table"]}
    assert {"full", "lora", "bitfit", "zero-shot", "few-shot-4"} <= methods
    full = sorted((r for r in data["table"] if r["method"] == "full"), key=lambda r: r["n_params"])
    assert len(full) == 4
    assert full[0]["n_params"] < full[-1]["n_params"]
    for method in ("full", "lora", "bitfit"):
        law = data["laws"][method]
        assert law["law"]["form"] == "power_offset"
        assert "predicted_error_95" in law
    rec = data["recommendation"]
    assert rec["smallest_within_tolerance"]["method"] in ("full", "lora", "bitfit")
    assert "best_under_budget" in rec
    assert (out / "table.csv").read_text().startswith("model,method,n_params")
    assert "error(N)" in result.output
