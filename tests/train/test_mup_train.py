"""``scalinglab train --parametrization mup`` end to end: hidden matrices train at
``lr / m``, the run learns, and its hf/ folder (multipliers folded in, readout untied)
loads in transformers (the logits are checked in tests/models/test_mup.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalinglab.cli.app import app
from scalinglab.train.checkpoint import latest_checkpoint


@pytest.mark.slow
def test_mup_run_learns_and_exports_its_logits(
    monkeypatch: pytest.MonkeyPatch, cache_dir: str, small_corpus: str, tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM

    monkeypatch.setenv("SCALINGLAB_CACHE", cache_dir)
    out = tmp_path / "mup"
    args = ["train", "--n-layer", "1", "--d-model", "128", "--n-head", "4", "--ctx", "32",
            "--vocab", "512", "--batch-size", "8", "--tokens", str(8 * 32 * 40),
            "--parametrization", "mup", "--mup-base-width", "64", "--lr", "0.01",
            "--device", "cpu", "--peak-flops", "1e11", "--corpus", small_corpus,
            "--out", str(out), "--quiet", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["status"] == "completed"
    assert summary["config"]["parametrization"] == "mup"
    assert summary["final_val_loss"] < math.log(512) - 0.5  # uniform guessing scores ln 512
    state = json.loads((latest_checkpoint(out) / "state.json").read_text())
    rates = sorted({round(group["lr"] / group["lr_scale"], 12) for group in state["param_groups"]})
    assert [group["lr_scale"] for group in state["param_groups"]].count(0.5) >= 1
    assert len(rates) == 1  # every group follows one schedule, scaled by its factor
    hf_config = json.loads((out / "hf" / "config.json").read_text())
    assert hf_config["tie_word_embeddings"] is False
    hf = AutoModelForCausalLM.from_pretrained(out / "hf").eval()
    assert hf.config.model_type == "gpt2"
