"""A bert trained here loads in transformers as a masked LM and fine-tunes as a classifier;
a gpt loads as a causal LM with the same logits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scalinglab.train import run_training


@pytest.mark.slow
def test_bert_checkpoint_fine_tunes_with_auto_classes(tiny) -> None:
    from transformers import (
        AutoModelForMaskedLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    summary = run_training(tiny("bert", family="bert", export_hf=True), progress=False)
    assert summary.status == "completed"
    hf = Path(summary.out_dir) / "hf"
    tokenizer = AutoTokenizer.from_pretrained(hf)
    mlm = AutoModelForMaskedLM.from_pretrained(hf)
    batch = tokenizer(["and god said let there be [MASK]"], return_tensors="pt")
    assert torch.isfinite(mlm(**batch).logits).all()

    texts = [f"the lord is my shepherd {i}" for i in range(8)] + [
        f"and they went into the city {i}" for i in range(8)
    ]
    labels = torch.tensor([1] * 8 + [0] * 8)
    inputs = tokenizer(texts, return_tensors="pt", padding=True)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(hf, num_labels=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = model(**inputs, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def test_gpt_export_loads_as_causal_lm(tiny) -> None:
    from transformers import AutoModelForCausalLM

    from scalinglab.models.hf_export import load_hf_dir

    summary = run_training(tiny("gpt", tokens=8 * 32 * 5, export_hf=True), progress=False)
    hf = Path(summary.out_dir) / "hf"
    ours, _ = load_hf_dir(hf)
    theirs = AutoModelForCausalLM.from_pretrained(hf)
    ids = torch.arange(10, 30).reshape(1, 20)
    with torch.no_grad():
        assert torch.allclose(ours.eval()(ids).logits, theirs.eval()(ids).logits, atol=1e-4)
