"""``scalinglab data prepare`` and ``train --data`` through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from scalinglab.cli.app import app
from scalinglab.data.corpus import load_corpus
from scalinglab.errors import ScalingLabWarning

runner = CliRunner()
SRC = str(Path(__file__).parents[2] / "src")


def _refused(*args: str) -> str:
    """The one stderr line of a command that must fail with exit status 2."""
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run([sys.executable, "-m", "scalinglab", *args], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    line = _refused("data", "prepare", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "o"))
    assert "missing.txt" in line
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("First\n\nCaf\u00e9\n".encode("latin-1"))
    line = _refused("data", "prepare", str(latin), "--out", str(tmp_path / "o2"), "--workers", "1")
    assert "latin1.txt, line 3" in line
    assert "UTF-8" in line
    bins = tmp_path / "bins"
    bins.mkdir()
    for split in ("train", "val"):
        np.arange(301, dtype=np.uint16).tofile(bins / f"{split}.bin")
    line = _refused("train", "--data", str(bins), "--data-dtype", "uint32", "--n-layer", "1",
                    "--d-model", "32", "--vocab", "512",
                    "--out", str(tmp_path / "run"))  # fmt: skip
    assert "uint32" in line
    assert "--data-dtype" in line


@pytest.mark.torch
def test_prepare_then_train_a_one_layer_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.set_num_threads(1)
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))
    corpus = tmp_path / "docs.jsonl"
    docs = load_corpus("kjv").documents[:80]
    corpus.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    out = tmp_path / "prepared"
    args = ["data", "prepare", str(corpus), "--out", str(out), "--vocab-size", "512",
            "--sample-bytes", "2e5", "--shard-tokens", "20000", "--workers", "1",
            "--json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    prepared = json.loads(result.stdout)
    assert prepared["vocab_size"] == 512
    assert prepared["shards_written"] >= 3
    run = tmp_path / "run"
    train = ["train", "--data", str(out), "--family", "gpt", "--n-layer", "1", "--d-model", "32",
             "--n-head", "2", "--ctx", "32", "--batch-size", "8", "--tokens", "5120",
             "--device", "cpu", "--peak-flops", "1e11", "--quiet", "--json",
             "--out", str(run)]  # fmt: skip
    with pytest.warns(ScalingLabWarning, match="vocab_size 4096 -> 512"):
        result = runner.invoke(app, train)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed"
    assert summary["tokens"] == 5120
    config = json.loads((run / "config.json").read_text())
    assert config["vocab_size"] == 512
    assert config["data"] == str(out)
    assert (run / "hf" / "tokenizer.json").exists()
