"""muP (models.mup): the coordinate check of Yang et al. 2022 and the pieces it rests on.

Coordinate check: train 2-layer models of widths 64 to 1024 for a few Adam steps at one
learning rate and measure the RMS of each layer's activations. Under muP they stay
within 2x across widths; under SP the logits grow with width (each Adam step moves every
weight by about lr, and a readout sums d_model such moves)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from scalinglab.models.build import build_model  # noqa: E402
from scalinglab.models.mup import apply_mup, hidden_matrices, lr_multipliers  # noqa: E402
from scalinglab.models.shape import ShapeSpec  # noqa: E402
from scalinglab.train.optim import build_optimizer  # noqa: E402

WIDTHS = (64, 128, 256, 512, 1024)
BASE = 64
LR = 1e-2
STEPS = 4


def _shape(family: str, width: int) -> ShapeSpec:
    return ShapeSpec.create(family, n_layer=2, d_model=width, n_head=width // 32,
                            vocab_size=256, n_ctx=32)  # fmt: skip


def _activation_rms(family: str, width: int, mup: bool) -> dict[str, float]:
    """RMS of every block's output and of the logits after ``STEPS`` Adam steps."""
    torch.manual_seed(0)
    model = build_model(_shape(family, width))
    if mup:
        apply_mup(model, BASE)
    optimizer = build_optimizer(
        model, lr=LR, weight_decay=0.0, betas=(0.9, 0.95), eps=1e-8,
        lr_scales=lr_multipliers(model, BASE) if mup else None,
    )  # fmt: skip
    generator = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, 256, (8, 33), generator=generator)
    inputs, labels = tokens[:, :-1], tokens[:, 1:]
    if family == "bert":
        labels = torch.where(torch.rand(labels.shape, generator=generator) < 0.15, labels, -100)
    for _ in range(STEPS):
        optimizer.zero_grad()
        model(inputs, labels=labels).loss.backward()
        optimizer.step()
    blocks = model.transformer.h if family == "gpt" else model.bert.encoder.layer
    captured: dict[str, float] = {}
    hooks = [
        block.register_forward_hook(
            lambda _m, _i, out, i=i: captured.__setitem__(f"block {i}", _rms(out))
        )
        for i, block in enumerate(blocks)
    ]
    with torch.no_grad():
        captured["logits"] = _rms(model(inputs).logits)
    for hook in hooks:
        hook.remove()
    return captured


def _rms(tensor: torch.Tensor) -> float:
    return float(tensor.float().pow(2).mean().sqrt())


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gpt", "bert"])
def test_coordinate_check_mup_stays_flat_and_sp_grows(family):
    mup = {w: _activation_rms(family, w, mup=True) for w in WIDTHS}
    sp = {w: _activation_rms(family, w, mup=False) for w in WIDTHS}
    for layer in mup[BASE]:
        values = [mup[w][layer] for w in WIDTHS]
        assert max(values) / min(values) <= 2.0, (layer, values)
    sp_logits = [sp[w]["logits"] for w in WIDTHS]
    assert sp_logits[-1] / sp_logits[0] > 2.0, sp_logits


def test_base_width_mup_differs_from_sp_only_in_attention_scale():
    shape = _shape("gpt", BASE)
    torch.manual_seed(0)
    sp = build_model(shape)
    torch.manual_seed(0)
    mup = build_model(shape)
    apply_mup(mup, BASE)
    for (name, a), (_, b) in zip(sp.state_dict().items(), mup.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert mup.output_multiplier == 1.0
    assert mup.transformer.h[0].attn.query_multiplier == pytest.approx(1 / math.sqrt(32))


def test_hidden_matrices_get_lr_over_m_and_smaller_init():
    shape = _shape("gpt", 4 * BASE)
    torch.manual_seed(0)
    sp = build_model(shape)
    torch.manual_seed(0)
    mup = build_model(shape)
    apply_mup(mup, BASE)
    names = {name for name, _ in hidden_matrices(mup)}
    assert names == {f"transformer.h.{i}.{m}" for i in range(2)
                     for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")}  # fmt: skip
    assert mup.output_multiplier == pytest.approx(1 / 4)
    with torch.no_grad():
        ratio = (
            mup.transformer.h[0].mlp.c_fc.weight.std() / sp.transformer.h[0].mlp.c_fc.weight.std()
        )
    assert float(ratio) == pytest.approx(0.5, rel=1e-6)
    scales = lr_multipliers(mup, BASE)
    groups = build_optimizer(mup, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95), eps=1e-8,
                             lr_scales=scales).param_groups  # fmt: skip
    by_param = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert by_param[id(mup.transformer.h[0].mlp.c_fc.weight)] == pytest.approx(1e-3 / 4)
    assert by_param[id(mup.transformer.wte.weight)] == pytest.approx(1e-3)
    assert by_param[id(mup.transformer.h[0].ln_1.weight)] == pytest.approx(1e-3)


@pytest.mark.parametrize("family", ["gpt", "bert", "llama"])
def test_folded_copy_exports_to_hf_with_the_same_logits(family, tmp_path):
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    from scalinglab.models.hf_export import export_hf
    from scalinglab.models.mup import folded_copy

    torch.manual_seed(0)
    model = build_model(_shape(family, 4 * BASE))
    apply_mup(model, BASE)
    with torch.no_grad():  # move every weight off its initial value, as training would
        for param in model.parameters():
            param.add_(0.02 * torch.randn_like(param))
    model.eval()
    folded = folded_copy(model)
    assert folded.shape.tied_embeddings is False
    tokens = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours = model(tokens).logits
        torch.testing.assert_close(folded(tokens).logits, ours, rtol=1e-5, atol=1e-5)
    export_hf(folded, folded.shape, tmp_path / "hf")
    loader = AutoModelForMaskedLM if family == "bert" else AutoModelForCausalLM
    hf = loader.from_pretrained(tmp_path / "hf").eval()
    with torch.no_grad():
        torch.testing.assert_close(hf(tokens).logits, ours, rtol=1e-4, atol=1e-4)
