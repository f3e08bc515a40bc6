"""Classifiers round-trip through safetensors directories, for every storage kind."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from scalinglab.errors import ScalingLabError  # noqa: E402
from scalinglab.finetune.checkpoint import load_classifier, save_classifier  # noqa: E402
from scalinglab.finetune.methods import apply_method, method_config  # noqa: E402

TEXTS = ["it was great", "it was terrible the car", "love the ride"]


def _logits(model, tokenizer):
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits


def _perturb_trainable(model):
    """Move every trainable tensor so that zero-initialised parts (LoRA B, adapters) matter."""
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.05 * torch.randn_like(parameter))


def test_plain_model_round_trips(tmp_path, tiny_bert, tiny_tokenizer):
    path = save_classifier(
        tiny_bert, tiny_tokenizer, tmp_path / "clf", {"method": "full", "task": "toy"}
    )
    assert (path / "model.safetensors").is_file()
    assert not list(path.glob("*.bin"))
    meta = json.loads((path / "scalinglab.json").read_text())
    assert meta["labels"] == ["negative", "positive"]
    assert meta["storage"] == "merged"
    loaded = load_classifier(path)
    assert loaded.labels == ["negative", "positive"]
    assert not loaded.model.training
    expected = _logits(tiny_bert, tiny_tokenizer)
    got = loaded.model(**loaded.tokenizer(TEXTS, padding=True, return_tensors="pt"))
    torch.testing.assert_close(got, expected)
    probs = loaded.predict_proba(TEXTS, batch_size=2)
    assert probs.shape == (3, 2)
    assert probs.sum(axis=1) == pytest.approx([1.0, 1.0, 1.0])


@pytest.mark.parametrize(
    ("method", "storage"),
    [
        ("lora", "merged"),
        ("bitfit", "merged"),
        ("adapter", "bottleneck_adapter"),
        ("prompt", "peft_prompt"),
    ],
)
def test_method_round_trips(tmp_path, tiny_bert, tiny_tokenizer, method, storage):
    model = apply_method(tiny_bert, method_config(method))
    _perturb_trainable(model)
    model.eval()
    expected = _logits(model, tiny_tokenizer)
    path = save_classifier(model, tiny_tokenizer, tmp_path / method, {"method": method})
    assert json.loads((path / "scalinglab.json").read_text())["storage"] == storage
    loaded = load_classifier(path)
    got = loaded.model(**loaded.tokenizer(TEXTS, padding=True, return_tensors="pt"))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    assert all(p.suffix != ".bin" for p in path.rglob("*"))


def test_missing_metadata_is_a_clear_error(tmp_path, tiny_bert):
    tiny_bert.save_pretrained(tmp_path)
    with pytest.raises(ScalingLabError, match="not a scalinglab classifier"):
        load_classifier(tmp_path)
