"""The torch modules: exact parameter counts, losses, masks, initialisation."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from scalinglab.models import build_model  # noqa: E402
from scalinglab.models.bert import BertForMaskedLM, BertForSequenceClassification  # noqa: E402
from scalinglab.models.counting import count_params  # noqa: E402
from scalinglab.models.gpt import GPT  # noqa: E402
from scalinglab.models.shape import ShapeSpec  # noqa: E402

SHAPES = [
    ShapeSpec.create("gpt", n_layer=2, d_model=64, vocab_size=100, n_ctx=16),
    ShapeSpec.create("gpt", n_layer=3, d_model=96, n_head=3, d_ff=200, vocab_size=257, n_ctx=32),
    ShapeSpec.create("gpt", n_layer=1, d_model=128, vocab_size=50, n_ctx=8, tied_embeddings=False),
    ShapeSpec.create("bert", n_layer=2, d_model=64, vocab_size=100, n_ctx=16),
    ShapeSpec.create("bert", n_layer=3, d_model=96, n_head=3, vocab_size=257, n_ctx=32, nsp=True),
    ShapeSpec.create("bert", n_layer=1, d_model=128, vocab_size=50, n_ctx=8, tied_embeddings=False),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s.family}-{s.n_layer}x{s.d_model}")
def test_parameter_count_is_exact(shape: ShapeSpec) -> None:
    model = build_model(shape)
    assert sum(p.numel() for p in model.parameters()) == count_params(shape).total


def test_builder_picks_the_family_module() -> None:
    assert isinstance(build_model(SHAPES[0]), GPT)
    assert isinstance(build_model(SHAPES[3]), BertForMaskedLM)
    classifier = build_model(SHAPES[3], num_labels=3)
    assert isinstance(classifier, BertForSequenceClassification)
    d = SHAPES[3].d_model
    head = (d * d + d) + (d * 3 + 3)  # pooler + classifier
    mlm_head = (d * d + d) + 2 * d + SHAPES[3].vocab_size
    expected = count_params(SHAPES[3]).total - mlm_head + head
    assert sum(p.numel() for p in classifier.parameters()) == expected
    with pytest.raises(ValueError, match="bert"):
        build_model(SHAPES[0], num_labels=2)


def test_models_package_imports_without_torch() -> None:
    code = (
        "import sys, scalinglab.models, scalinglab.models.ladder, scalinglab.models.counting;"
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_gpt_loss_is_mean_cross_entropy_of_aligned_targets_ignoring_minus_100() -> None:
    torch.manual_seed(0)
    model = build_model(SHAPES[0])
    ids = torch.randint(0, 100, (2, 16))
    labels = torch.randint(0, 100, (2, 16))
    labels[:, :5] = -100
    out = model(ids, labels=labels)
    assert out.logits.shape == (2, 16, 100)
    log_probs = torch.log_softmax(out.logits, dim=-1)
    keep = labels != -100
    manual = -log_probs[keep].gather(1, labels[keep][:, None]).mean()
    assert out.loss.item() == pytest.approx(manual.item(), rel=1e-5)
    assert model(ids).loss is None


def test_gpt_is_causal() -> None:
    torch.manual_seed(0)
    model = build_model(SHAPES[0]).eval()
    ids = torch.randint(0, 100, (1, 16))
    changed = ids.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % 100
    with torch.no_grad():
        a, b = model(ids).logits, model(changed).logits
    torch.testing.assert_close(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[3]], ids=["gpt", "bert"])
def test_right_padding_leaves_real_tokens_unchanged(shape: ShapeSpec) -> None:
    torch.manual_seed(0)
    model = build_model(shape).eval()
    ids = torch.randint(1, shape.vocab_size, (1, 16))
    mask = torch.ones(1, 16, dtype=torch.long)
    mask[0, 11:] = 0
    with torch.no_grad():
        padded = model(ids, attention_mask=mask).logits[:, :11]
        short = model(ids[:, :11]).logits
    torch.testing.assert_close(padded, short, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(model(ids, attention_mask=mask).logits).all()


def test_bert_mlm_and_nsp_losses_add() -> None:
    torch.manual_seed(0)
    model = build_model(SHAPES[4])
    ids = torch.randint(0, 257, (3, 32))
    labels = torch.full_like(ids, -100)
    labels[:, 3] = ids[:, 3]
    nsp = torch.tensor([0, 1, 1])
    mlm = model(ids, labels=labels)
    both = model(ids, labels=labels, next_sentence_label=nsp)
    assert both.seq_relationship_logits.shape == (3, 2)
    nsp_loss = torch.nn.functional.cross_entropy(both.seq_relationship_logits, nsp)
    assert both.loss.item() == pytest.approx((mlm.loss + nsp_loss).item(), rel=1e-5)
    with pytest.raises(ValueError, match="nsp"):
        build_model(SHAPES[3])(ids[:, :16] % 100, next_sentence_label=nsp)


def test_sequence_classifier_loss_and_logits() -> None:
    torch.manual_seed(0)
    model = build_model(SHAPES[3], num_labels=3).eval()
    ids = torch.randint(0, 100, (4, 16))
    out = model(ids, labels=torch.tensor([0, 1, 2, 1]))
    assert out.logits.shape == (4, 3)
    assert out.loss.item() > 0


def test_gpt2_initialisation() -> None:
    torch.manual_seed(0)
    shape = ShapeSpec.create("gpt", n_layer=8, d_model=256, vocab_size=1000, n_ctx=64)
    model = build_model(shape)
    block = model.transformer.h[3]
    assert block.attn.c_attn.weight.std().item() == pytest.approx(0.02, rel=0.05)
    residual = 0.02 / math.sqrt(2 * shape.n_layer)
    assert block.attn.c_proj.weight.std().item() == pytest.approx(residual, rel=0.05)
    assert block.mlp.c_proj.weight.std().item() == pytest.approx(residual, rel=0.05)
    assert block.mlp.c_fc.bias.abs().max().item() == 0.0
    assert torch.equal(block.ln_1.weight, torch.ones(256))
    assert model.lm_head.weight is model.transformer.wte.weight
    bert = build_model(ShapeSpec.create("bert", n_layer=8, d_model=256, vocab_size=1000))
    layer = bert.bert.encoder.layer[2]
    assert layer.output.dense.weight.std().item() == pytest.approx(residual, rel=0.05)
    assert layer.attention.output.dense.weight.std().item() == pytest.approx(residual, rel=0.1)
    assert layer.attention.self.query.weight.std().item() == pytest.approx(0.02, rel=0.05)


def test_gpt_rejects_a_bert_shape_and_token_types() -> None:
    with pytest.raises(ValueError, match="gpt shape"):
        GPT(SHAPES[3])
    with pytest.raises(ValueError, match="token types"):
        build_model(SHAPES[0])(
            torch.zeros(1, 4, dtype=torch.long), token_type_ids=torch.zeros(1, 4)
        )


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[3]], ids=["gpt", "bert"])
def test_sequences_longer_than_the_context_are_refused(shape: ShapeSpec) -> None:
    too_long = torch.zeros(1, shape.n_ctx + 1, dtype=torch.long)
    with pytest.raises(ValueError, match="longer than the context"):
        build_model(shape)(too_long)
