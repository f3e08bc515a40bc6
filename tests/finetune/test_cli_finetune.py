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


def test_missing_task_file_and_unavailable_cuda_exit_2_with_one_line(tmp_path):
    import torch

    cli = [sys.executable, "-m", "scalinglab"]
    finetune = ["finetune", "--task", "nope/data.csv", "--out", str(tmp_path)]
    runs = {"task file not found: nope/data.csv": [*cli, *finetune]}
    if not torch.cuda.is_available():
        predict = ["predict", "--model", str(tmp_path), "--device", "cuda", "hello"]
        runs["--device cuda: torch"] = [*cli, *predict]
    for message, command in runs.items():
        run = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert run.returncode == 2, run.stderr
        assert run.stderr.strip().splitlines() == [run.stderr.strip()], run.stderr
        assert message in run.stderr


def test_device_resolution():
    import torch

    from scalinglab.errors import ScalingLabError
    from scalinglab.finetune.device import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ScalingLabError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ScalingLabError, match=r"--device cuda: torch .* sees no CUDA GPU"):
            resolve_device("cuda")


def test_cli_trains_on_cpu_from_split_files_with_lora_targets(tiny_mlm_dir, toy_csv, tmp_path):
    train = toy_csv(tmp_path / "train.csv", n_per_class=12)
    test = toy_csv(tmp_path / "test.csv", n_per_class=4, seed=1)
    args = ["finetune", "--model", str(tiny_mlm_dir), "--train-file", str(train)]
    args += ["--test-file", str(test), "--method", "lora", "--lora-targets", "query,key,value"]
    args += ["--lora-dropout", "0.0", "--device", "cpu", "--epochs", "1", "--max-length", "16"]
    args += ["--quiet", "--out", str(tmp_path / "o"), "--json", str(tmp_path / "r.json")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["method_config"]["target_modules"] == ["query", "key", "value"]
    assert data["method_config"]["dropout"] == 0.0
    assert data["test"]["n"] == 8
    assert data["settings"]["train"]["device"] == "cpu"


def test_help_documents_the_new_options():
    result = CliRunner().invoke(app, ["finetune", "--help"], terminal_width=200)
    for option in ("--train-file", "--validation-file", "--test-file", "--split-column"):
        assert option in result.output
    for option in ("--device", "--lora-targets", "--lora-dropout", "--pooling"):
        assert option in result.output
