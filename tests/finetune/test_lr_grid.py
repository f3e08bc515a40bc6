"""The fine-tuning learning-rate grid: parsing, choosing on validation (never test), the sweep."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.finetune.lr_grid import LrPoint, choose_lr, grid_lrs, grid_report, parse_lr_grid


def _run(val, test=0.5, seed=0):
    return {"val_macro_f1": val, "macro_f1": test, "accuracy": test, "seed": seed}


def test_parse_reads_multipliers_absolute_rates_and_a_mix():
    assert parse_lr_grid("0.3x, 1x,3X") == (
        LrPoint(0.3, relative=True),
        LrPoint(1.0, relative=True),
        LrPoint(3.0, relative=True),
    )
    assert parse_lr_grid("1e-5,3e-5") == (LrPoint(1e-5), LrPoint(3e-5))
    assert parse_lr_grid("2x,1e-3") == (LrPoint(2.0, relative=True), LrPoint(1e-3))
    assert parse_lr_grid("") == ()
    assert parse_lr_grid(None) == ()
    assert [str(p) for p in parse_lr_grid("0.5x,3e-05")] == ["0.5x", "3e-05"]


@pytest.mark.parametrize("text", ["abc", "-1e-4", "0x", "nan", "inf", "1e-4,x", "1xx"])
def test_parse_refuses_what_is_not_a_positive_rate(text):
    with pytest.raises(ScalingLabError, match=r"--lr-grid: .* is not a positive learning rate"):
        parse_lr_grid(text)


def test_grid_resolves_per_method_sorted_and_without_duplicates():
    grid = parse_lr_grid("3x,0.3x,1x")
    assert grid_lrs(grid, 1e-4) == [3e-5, 1e-4, 3e-4]  # 0.3 * 1e-4 rounds to 3e-5 exactly
    assert grid_lrs(grid, 1e-3) == [3e-4, 1e-3, 3e-3]
    assert grid_lrs(parse_lr_grid("1x,1e-4,5e-5"), 1e-4) == [5e-5, 1e-4]


def test_choice_is_the_best_mean_over_seeds_not_the_best_single_seed():
    runs = {
        1e-4: [_run(0.90, seed=0), _run(0.50, seed=1)],  # mean 0.70, best single seed
        3e-4: [_run(0.75, seed=0), _run(0.72, seed=1)],  # mean 0.735
    }
    assert choose_lr(runs) == 3e-4


def test_choice_follows_validation_when_test_disagrees():
    runs = {
        1e-4: [_run(val=0.80, test=0.60)],
        3e-4: [_run(val=0.70, test=0.95)],  # best on test, worse on validation
        1e-3: [_run(val=0.60, test=0.90)],
    }
    assert choose_lr(runs) == 1e-4
    swapped = {lr: [{**r, "macro_f1": 1.0 - r["macro_f1"]} for r in rs] for lr, rs in runs.items()}
    assert choose_lr(swapped) == 1e-4  # test scores change, the choice does not


def test_ties_go_to_the_smaller_rate_and_nan_never_wins():
    assert choose_lr({3e-4: [_run(0.7)], 1e-4: [_run(0.7)], 1e-3: [_run(0.7)]}) == 1e-4
    assert choose_lr({1e-4: [_run(float("nan"))], 3e-4: [_run(0.41)]}) == 3e-4


def test_report_lists_every_rate_with_its_validation_score_and_the_choice():
    runs = {
        3e-4: [_run(0.70, seed=0), _run(0.80, seed=1)],
        1e-4: [_run(0.60, seed=0), _run(0.60, seed=1)],
        1e-3: [_run(0.50, seed=0), _run(0.40, seed=1)],
    }
    rows = grid_report("m", "lora", runs, choose_lr(runs))
    assert [row["lr"] for row in rows] == [1e-4, 3e-4, 1e-3]
    assert [row["chosen"] for row in rows] == [False, True, False]
    assert [row["at_edge"] for row in rows] == [True, False, True]
    assert rows[1]["val_macro_f1"] == pytest.approx(0.75)
    assert rows[1]["val_macro_f1_std"] == pytest.approx(0.0707107, abs=1e-6)  # sqrt(0.005)
    assert {row["seeds"] for row in rows} == {2}
    assert {(row["model"], row["method"]) for row in rows} == {("m", "lora")}
    assert "macro_f1" not in rows[0]  # the grid reports validation only


# Validation and test macro-F1 a fake run gets at each learning rate (full's default 1e-4):
# the rate best on test (2e-4) is not the one best on validation (1e-4).
FAKE_VALIDATION = {5e-5: 0.60, 1e-4: 0.80, 2e-4: 0.70}
FAKE_TEST = {5e-5: 0.65, 1e-4: 0.70, 2e-4: 0.90}


def _fake_finetune(options, task=None):
    """A stand-in for one fine-tuning run: scores by learning rate and seed, no training."""
    from types import SimpleNamespace

    lr, seed = options.train.lr, options.train.seed
    offset = 0.01 * seed
    record = {
        "model": options.model,
        "method": options.method,
        "n_params": 1000,
        "n_params_nonembed": 500,
        "trainable_params": 1000,
        "train_seconds": 1.0,
        "latency_ms_p50": 1.0,
        "latency_ms_p95": 2.0,
        "throughput_per_s": 100.0,
        "validation": {"macro_f1": FAKE_VALIDATION[lr] + offset, "accuracy": 0.8},
        "test": {"macro_f1": FAKE_TEST[lr] + offset, "accuracy": 0.9},
        "training": {"lr": lr},
        "size_on_disk_bytes": 1,
        "peak_memory_bytes": 1,
        "out_dir": options.out_dir,
        "degenerate_reasons": [],
    }
    return SimpleNamespace(to_dict=lambda: record)


def test_sweep_reports_the_test_score_of_the_rate_best_on_validation(
    monkeypatch, toy_csv, tmp_path
):
    pytest.importorskip("torch")
    from scalinglab.finetune import run
    from scalinglab.finetune.sweep import SweepOptions, finetune_sweep

    monkeypatch.setattr(run, "finetune", _fake_finetune)
    result = finetune_sweep(
        SweepOptions(
            models=("fake",),
            methods=("full",),
            seeds=(0, 1),
            task=str(toy_csv(tmp_path / "toy.csv", n_per_class=50)),
            out_dir=str(tmp_path / "sweep"),
            baselines=(),
            bootstrap=0,
            lr_grid=parse_lr_grid("0.5x,1x,2x"),
        )
    )
    (row,) = [r for r in result.table if r["method"] == "full"]
    assert row["lr"] == 1e-4
    assert row["macro_f1"] == pytest.approx(0.705)  # test at 1e-4, mean of seeds 0 and 1
    assert row["seeds"] == 2
    assert {r["lr"] for r in result.runs if r.get("fine_tuned")} == {1e-4}
    grid = {r["lr"]: r for r in result.lr_grid}
    assert sorted(grid) == [5e-5, 1e-4, 2e-4]
    assert [grid[lr]["chosen"] for lr in sorted(grid)] == [False, True, False]
    assert grid[2e-4]["val_macro_f1"] == pytest.approx(0.705)
    assert sorted(entry["run"] for entry in result.reuse) == [
        f"fake-full-lr{lr}-s{seed}" for lr in ("0.0001", "0.0002", "5e-05") for seed in (0, 1)
    ]
    saved = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert saved["lr_grid"] == json.loads(json.dumps(result.lr_grid))
    assert saved["options"]["lr_grid"][0] == {"value": 0.5, "relative": True}
    assert "lr" in (tmp_path / "sweep" / "table.csv").read_text().splitlines()[0].split(",")


def test_sweep_with_a_two_point_grid_on_a_real_tiny_model(tiny_mlm_dir, toy_csv, tmp_path):
    pytest.importorskip("torch")
    from typer.testing import CliRunner

    from scalinglab.cli.app import app

    task = toy_csv(tmp_path / "toy.csv", n_per_class=12)
    out = tmp_path / "s"
    args = ["finetune-sweep", "--models", str(tiny_mlm_dir), "--methods", "full"]
    args += ["--task", str(task), "--baselines", "", "--epochs", "1", "--max-length", "16"]
    args += ["--lr-grid", "3e-4,3e-3", "--bootstrap", "0", "--latency-repeats", "2"]
    args += ["--throughput-batches", "1", "--threads", "1", "--quiet", "--device", "cpu"]
    args += ["--out", str(out), "--json", str(tmp_path / "sweep.json")]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    data = json.loads((tmp_path / "sweep.json").read_text())
    results = {
        lr: json.loads(
            (next((out / "runs").glob(f"*-full-lr{lr:g}-s0")) / "result.json").read_text()
        )
        for lr in (3e-4, 3e-3)
    }
    assert {r["settings"]["train"]["lr"] for r in results.values()} == {3e-4, 3e-3}
    validation = {lr: r["validation"]["macro_f1"] for lr, r in results.items()}
    best = max(sorted(validation), key=lambda lr: validation[lr])  # ties: the smaller rate
    assert [(r["lr"], r["chosen"]) for r in data["lr_grid"]] == [
        (3e-4, best == 3e-4),
        (3e-3, best == 3e-3),
    ]
    assert [r["val_macro_f1"] for r in data["lr_grid"]] == [validation[3e-4], validation[3e-3]]
    (row,) = [r for r in data["table"] if r["method"] == "full"]
    assert row["lr"] == best
    assert row["macro_f1"] == results[best]["test"]["macro_f1"]
    assert "learning-rate grid" in first.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "reused 2 finished runs" in again.output


def test_a_bad_grid_exits_2_with_one_line(tmp_path):
    command = [sys.executable, "-m", "scalinglab", "finetune-sweep", "--lr-grid", "1e-4,fast"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [run.stderr.strip()]
    assert "--lr-grid: 'fast' is not a positive learning rate" in run.stderr
