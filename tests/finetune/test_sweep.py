"""The sweep's table, law and recommendation; a reduced real sweep over the MiniLM ladder."""

from __future__ import annotations

import json

import pytest

from scalinglab.finetune.sweep import aggregate, flag_below_baselines, recommend


def _row(model, method, n, f1, seconds=10.0, latency=5.0, seed=0, reasons=()):
    return {
        "degenerate_reasons": list(reasons),
        "fine_tuned": method in ("full", "lora", "bitfit"),
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


def test_recommend_never_picks_a_degenerate_row_or_one_below_a_baseline():
    table = aggregate(
        [
            _row("s", "bitfit", 10, 0.41, reasons=["predicts only 'negative' on the test split"]),
            _row("m", "full", 20, 0.60),
            _row("l", "full", 40, 0.80),
            _row("xl", "full", 80, 0.805),
        ]
    )
    baselines = aggregate([_row("m", "zero-shot", 20, 0.65), _row("-", "majority-class", 0, 0.41)])
    rec = recommend(table, 0.01, None, None, baselines=baselines)
    assert rec["smallest_within_tolerance"]["model"] == "l"
    assert rec["best_baseline"]["method"] == "zero-shot"
    left_out = {row["model"]: row["why"] for row in rec["excluded"]}
    assert left_out["s"].startswith("degenerate: predicts only")
    assert "below the best baseline (m zero-shot, 0.6500)" in left_out["m"]
    assert rec["reason"].startswith("l full (40 params, macro_f1 0.8000) is the smallest")
    assert "2 rows left out" in rec["reason"]


def test_recommend_says_so_when_no_row_is_usable():
    table = aggregate([_row("s", "full", 10, 0.5)])
    rec = recommend(table, 0.01, None, None, baselines=aggregate([_row("s", "zero-shot", 10, 0.6)]))
    assert rec["smallest_within_tolerance"] is None
    assert rec["reason"].startswith("no recommendation")


def test_runs_below_their_models_zero_shot_are_flagged_and_aggregated():
    runs = [
        _row("a", "full", 10, 0.55, seed=0),
        _row("a", "full", 10, 0.70, seed=1),
        _row("a", "zero-shot", 10, 0.60),
        _row("b", "full", 20, 0.55),
    ]
    with pytest.warns(UserWarning, match="a full seed 0 looks degenerate"):
        flag_below_baselines(runs)
    assert runs[1]["degenerate_reasons"] == []
    assert runs[3]["degenerate_reasons"] == []
    rows = {(r["model"], r["method"]): r for r in aggregate(runs)}
    assert rows["a", "full"]["degenerate"]
    assert rows["a", "full"]["degenerate_reasons"][0].startswith("seed 0: test macro_f1 0.5500")
    assert not rows["b", "full"]["degenerate"]
    assert not rows["a", "zero-shot"]["degenerate"]


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
        rows = [r for r in data["table"] if r["method"] == method]
        if sum(not r["degenerate"] for r in rows) >= 4:  # 48 tweets: some rows may not learn
            assert law["law"]["form"] == "power_offset"
            assert "predicted_error_95" in law
            assert f"{method}: error(N)" in result.output
        else:
            assert law["law"] is None
            assert "needs at least 4 model sizes" in law["note"]
    rec = data["recommendation"]
    assert "majority-class" in methods
    if rec["smallest_within_tolerance"] is None:
        assert rec["reason"].startswith("no recommendation")
    else:
        assert rec["smallest_within_tolerance"]["method"] in ("full", "lora", "bitfit")
        assert "best_under_budget" in rec
    assert f"recommendation: {rec['reason']}" in " ".join(result.output.split())
    assert (out / "table.csv").read_text().startswith("model,method,n_params")


def test_a_rerun_reuses_matching_runs_and_reruns_those_whose_settings_changed(
    tiny_mlm_dir, toy_csv, tmp_path
):
    pytest.importorskip("torch")
    from dataclasses import replace

    from scalinglab.finetune.sweep import SweepOptions, finetune_sweep
    from scalinglab.finetune.training import FinetuneConfig

    train = FinetuneConfig(epochs=1, batch_size=8, lr=3e-3, max_length=16, progress=False)
    options = SweepOptions(
        models=(str(tiny_mlm_dir),),
        methods=("full", "lora"),
        task=str(toy_csv(tmp_path / "toy.csv", n_per_class=12)),
        out_dir=str(tmp_path / "sweep"),
        train=train,
        baselines=(),
        bootstrap=0,
        latency_repeats=2,
        throughput_batches=1,
    )
    first = finetune_sweep(options)
    assert [entry["action"] for entry in first.reuse] == ["ran", "ran"]
    again = finetune_sweep(options)
    assert [entry["action"] for entry in again.reuse] == ["reused", "reused"]
    lora_rank = finetune_sweep(replace(options, method_options={"lora": {"r": 2}}))
    actions = {entry["run"].split("-")[-2]: entry for entry in lora_rank.reuse}
    assert actions["full"]["action"] == "reused"
    assert actions["lora"]["action"] == "re-ran"
    assert actions["lora"]["changed"] == ["method_config.r: 8 -> 2"]
    epochs = finetune_sweep(replace(options, train=replace(train, epochs=2)))
    assert {entry["action"] for entry in epochs.reuse} == {"re-ran"}
    assert "train.epochs: 1 -> 2" in epochs.reuse[0]["changed"]
    assert (
        json.loads((tmp_path / "sweep/runs" / epochs.reuse[0]["run"] / "result.json").read_text())[
            "settings"
        ]["train"]["epochs"]
        == 2
    )


def test_sweep_cli_prints_flags_reason_and_reuse(tiny_mlm_dir, toy_csv, tmp_path):
    pytest.importorskip("torch")
    from typer.testing import CliRunner

    from scalinglab.cli.app import app

    task = toy_csv(tmp_path / "toy.csv", n_per_class=12)
    args = ["finetune-sweep", "--models", str(tiny_mlm_dir), "--methods", "full,lora"]
    args += ["--task", str(task), "--baselines", "", "--epochs", "1", "--max-length", "16"]
    args += ["--lora-r", "2", "--bootstrap", "0", "--latency-repeats", "2"]
    args += [
        "--throughput-batches",
        "1",
        "--quiet",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "s"),
    ]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "majority-class" in first.output
    assert "recommendation:" in first.output
    data = json.loads((tmp_path / "s" / "sweep.json").read_text())
    lora = next(r for r in data["runs"] if r["method"] == "lora")
    run = json.loads(
        (tmp_path / "s" / "runs")
        .joinpath(lora["out_dir"].split("/")[-1], "result.json")
        .read_text()
    )
    assert run["method_config"]["r"] == 2
    second = CliRunner().invoke(app, [*args[:-2], "--lora-r", "4", "--out", str(tmp_path / "s")])
    assert second.exit_code == 0, second.output
    assert "reused 1 finished runs" in second.output
    assert "method_config.r: 2 -> 4" in second.output
