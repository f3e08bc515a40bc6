"""``scalinglab train`` end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalinglab.cli.app import app
from scalinglab.errors import ScalingLabError

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, cache_dir: str) -> None:
    monkeypatch.setenv("SCALINGLAB_CACHE", cache_dir)


TINY = ["--n-layer", "1", "--d-model", "32", "--n-head", "2", "--ctx", "32", "--vocab", "512",
        "--batch-size", "8", "--device", "cpu", "--peak-flops", "1e11", "--quiet"]  # fmt: skip


def test_train_writes_the_run_folder(cli_env, small_corpus: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", *TINY, "--tokens", "5120", "--corpus", small_corpus, "--out", str(out)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["status"] == "completed"
    assert summary["tokens"] == 5120
    for name in ("summary.json", "metrics.jsonl", "config.json", "hf/config.json"):
        assert (out / name).exists()
    again = runner.invoke(app, args)
    assert isinstance(again.exception, ScalingLabError)
    assert "--resume" in str(again.exception)
    assert runner.invoke(app, [*args, "--resume"]).exit_code == 0


def test_a_run_past_one_epoch_warns(cli_env, small_corpus: str, tmp_path: Path) -> None:
    args = ["train", *TINY, "--tokens", "5120", "--unique-tokens", "2048",
            "--corpus", small_corpus, "--out", str(tmp_path / "run")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "warning: run: 2.5 epochs of its data: repeated tokens count less" in result.output


@pytest.mark.slow
def test_train_from_toml_with_cooldown_branches(cli_env, small_corpus: str, tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(
        "[train]\nn_layer = 1\nd_model = 32\nn_head = 2\nn_ctx = 32\nvocab_size = 512\n"
        f"batch_size = 8\ncorpus = '{small_corpus}'\npeak_flops = 1e11\ndevice = 'cpu'\n"
        "export_hf = false\n"
    )
    out = tmp_path / "wsd"
    result = runner.invoke(
        app,
        ["train", "--config", str(config), "--out", str(out), "--cooldown-at", "2560,5120",
         "--quiet", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [Path(r["out_dir"]).name for r in json.loads(result.output)] == [
        "cooldown-2560",
        "cooldown-5120",
    ]
    assert json.loads((out / "cooldown-5120" / "summary.json").read_text())["tokens"] == 5120


def test_help_lists_every_option() -> None:
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    for option in (
        "--family",
        "--cooldown-at",
        "--unique-tokens",
        "--bf16",
        "--resume",
        "--cache-dir",
    ):
        assert option in result.output


def test_json_stdout_is_json_with_the_progress_bar_on(
    cache_dir: str, small_corpus: str, tmp_path: Path
) -> None:
    """The progress bar writes to stderr, so ``--json`` output parses without --quiet."""
    import os
    import subprocess
    import sys

    args = [a for a in TINY if a != "--quiet"]
    command = [sys.executable, "-m", "scalinglab", "train", *args, "--tokens", "2560",
               "--corpus", small_corpus, "--out", str(tmp_path / "run"), "--json"]  # fmt: skip
    env = {**os.environ, "SCALINGLAB_CACHE": cache_dir, "TERM": "xterm", "COLUMNS": "100"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "completed"
