"""``scalinglab train --family llama`` end to end: it learns, and its hf/ folder loads in
transformers as a llama with the summary's parameter count and the same logits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_model
from typer.testing import CliRunner

from scalinglab.cli.app import app
from scalinglab.models import build_model
from scalinglab.models.shape import ShapeSpec

TEXT = "And God said, Let there be light: and there was light. And God saw the light."


def _loss(model: torch.nn.Module, ids: torch.Tensor) -> float:
    with torch.no_grad():
        return float(model.eval()(ids[:, :-1], labels=ids[:, 1:]).loss)


def test_llama_trains_and_exports_a_transformers_llama(
    monkeypatch: pytest.MonkeyPatch, cache_dir: str, small_corpus: str, tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("SCALINGLAB_CACHE", cache_dir)
    out = tmp_path / "llama"
    args = ["train", "--family", "llama", "--n-layer", "2", "--d-model", "64", "--n-head", "2",
            "--n-kv-head", "1", "--ctx", "32", "--vocab", "512", "--batch-size", "8",
            "--tokens", str(8 * 32 * 40), "--eval-every", "10", "--device", "cpu",
            "--peak-flops", "1e11", "--corpus", small_corpus, "--out", str(out), "--quiet",
            "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["status"] == "completed"
    shape = ShapeSpec.from_dict(summary["shape"])
    assert (shape.family, shape.n_head, shape.n_kv_head, shape.d_ff) == ("llama", 2, 1, 192)

    hf = AutoModelForCausalLM.from_pretrained(out / "hf").eval()
    assert hf.config.model_type == "llama"
    assert hf.num_parameters() == summary["n_params"]
    trained = build_model(shape)
    latest = (out / "checkpoints" / "latest").read_text().strip()
    load_model(trained, str(out / "checkpoints" / latest / "model.safetensors"), strict=False)
    ids = AutoTokenizer.from_pretrained(out / "hf")([TEXT], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, trained.eval()(ids).logits, atol=1e-4, rtol=0)

    torch.manual_seed(0)  # the run's seed: the model as it was before the first step
    initial = build_model(shape)
    assert _loss(trained, ids) < _loss(initial, ids) - 1.0
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert evals[-1]["val_loss"] < evals[0]["val_loss"]
