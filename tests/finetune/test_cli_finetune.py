"""`scalinglab finetune` end to end on a tiny local model, and its user errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")

from typer.testing import CliRunner

from scalinglab.cli.app import app


def test_finetune_cli_writes_json_with_the_documented_keys(tiny_mlm_dir, toy_csv, tmp_path):
    task = toy_csv(tmp_path / "t.csv", n_per_class=16)
    args = ["finetune", "--model", str(tiny_mlm_dir), "--task", str(task), "--method", "lora"]
    args += ["--epochs", "1", "--max-length", "16", "--quiet", "--out", str(tmp_path / "o")]
    args += ["--json", str(tmp_path / "r.json")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    for key in (
        "total_params",
        "trainable_params",
        "train_seconds",
        "latency_ms_p50",
        "latency_ms_p95",
        "throughput_per_s",
        "peak_memory_bytes",
        "size_on_disk_bytes",
    ):
        assert data[key] > 0
    assert {"macro_f1", "accuracy"} <= set(data["test"])
    assert {"macro_f1", "accuracy"} <= set(data["validation"])
    assert "macro-F1" in result.output


def test_bad_csv_row_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nok,a\n,b\nfine,a\n")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "scalinglab",
            "finetune",
            "--task",
            str(bad),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert run.returncode == 2
    assert "line 3, column text" in run.stderr
    assert "Traceback" not in run.stderr


def test_help_lists_every_option_with_text():
    result = CliRunner().invoke(app, ["finetune", "--help"])
    assert result.exit_code == 0
    for option in ("--resume-from", "--continual", "--replay-fraction", "--ewc-lambda", "--json"):
        assert option in result.output
