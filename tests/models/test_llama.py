"""The llama family: exact counts against torch and transformers, FLOPs against torch's
FlopCounterMode, and a Hugging Face folder that ``LlamaForCausalLM`` loads with equal logits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from scalinglab.errors import ScalingLabError  # noqa: E402
from scalinglab.models import build_model  # noqa: E402
from scalinglab.models.counting import count_params, flops_per_token  # noqa: E402
from scalinglab.models.hf_export import export_hf, load_hf_dir  # noqa: E402
from scalinglab.models.llama import Llama  # noqa: E402
from scalinglab.models.shape import ShapeSpec  # noqa: E402

SHAPES = [
    ShapeSpec.create("llama", n_layer=2, d_model=64, vocab_size=512, n_ctx=64),
    ShapeSpec.create("llama", n_layer=3, d_model=128, n_head=4, n_kv_head=2, vocab_size=300,
                     n_ctx=128, tied_embeddings=False),
    ShapeSpec.create("llama", n_layer=2, d_model=96, n_head=3, n_kv_head=1, d_ff=200,
                     vocab_size=257, n_ctx=32),
]  # fmt: skip


def _id(shape: ShapeSpec) -> str:
    return f"L{shape.n_layer}-d{shape.d_model}-h{shape.n_head}-kv{shape.n_kv_head}"


def test_default_mlp_width_is_eight_thirds_rounded_up() -> None:
    # 8/3 d: 170.7 -> 192 (multiple of 32), 341.3 -> 352, 2048 -> 2048 (multiple of 64),
    # 10922.7 -> 10944.
    widths = {64: 192, 128: 352, 768: 2048, 4096: 10944}
    for d_model, d_ff in widths.items():
        assert ShapeSpec.create("llama", n_layer=1, d_model=d_model).d_ff == d_ff


def test_parameter_count_of_published_models() -> None:
    """Llama 2 7B and TinyLlama 1.1B (grouped-query, 4 KV heads), as their model cards and
    ``num_parameters()`` give them."""
    llama2_7b = ShapeSpec.create(
        "llama",
        n_layer=32,
        d_model=4096,
        n_head=32,
        d_ff=11008,
        vocab_size=32000,
        n_ctx=4096,
        tied_embeddings=False,
    )
    tinyllama = ShapeSpec.create(
        "llama",
        n_layer=22,
        d_model=2048,
        n_head=32,
        n_kv_head=4,
        d_ff=5632,
        vocab_size=32000,
        n_ctx=2048,
        tied_embeddings=False,
    )
    assert count_params(llama2_7b).total == 6_738_415_616
    assert count_params(tinyllama).total == 1_100_048_384


@pytest.mark.parametrize("shape", SHAPES, ids=_id)
def test_parameter_count_equals_torch_and_transformers(shape: ShapeSpec) -> None:
    model = build_model(shape)
    assert isinstance(model, Llama)
    assert sum(p.numel() for p in model.parameters()) == count_params(shape).total
    config = transformers.LlamaConfig(
        vocab_size=shape.vocab_size,
        hidden_size=shape.d_model,
        intermediate_size=shape.d_ff,
        num_hidden_layers=shape.n_layer,
        num_attention_heads=shape.n_head,
        num_key_value_heads=shape.n_kv_head,
        max_position_embeddings=shape.n_ctx,
        tie_word_embeddings=shape.tied_embeddings,
    )
    reference = transformers.LlamaForCausalLM(config)
    assert reference.num_parameters() == count_params(shape).total
    embedding = reference.model.embed_tokens.weight.numel()
    untied = 0 if shape.tied_embeddings else reference.lm_head.weight.numel()
    assert count_params(shape).nonembed == reference.num_parameters() - embedding - untied


@pytest.mark.parametrize("shape", SHAPES, ids=_id)
def test_training_flops_equal_flop_counter(shape: ShapeSpec) -> None:
    torch.manual_seed(0)
    model = build_model(shape)
    batch = 2
    ids = torch.randint(0, shape.vocab_size, (batch, shape.n_ctx))
    counter = FlopCounterMode(display=False)
    with sdpa_kernel(SDPBackend.MATH), counter:
        model(ids, labels=ids).loss.backward()
    assert counter.get_total_flops() / (batch * shape.n_ctx) == flops_per_token(shape).exact


def _perturbed(shape: ShapeSpec) -> torch.nn.Module:
    """A model whose RMSNorm gains are not at their init values either."""
    torch.manual_seed(0)
    model = build_model(shape).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.02 * torch.randn_like(param))
    return model


@pytest.mark.parametrize("shape", SHAPES, ids=_id)
def test_exported_folder_loads_as_llama_with_equal_logits(tmp_path: Path, shape: ShapeSpec) -> None:
    ours = _perturbed(shape)
    export_hf(ours, shape, tmp_path)
    theirs, info = transformers.AutoModelForCausalLM.from_pretrained(
        tmp_path, output_loading_info=True
    )
    theirs.eval()
    assert isinstance(theirs, transformers.LlamaForCausalLM)
    assert theirs.config.model_type == "llama"
    assert {key: value for key, value in info.items() if value} == {}
    assert theirs.num_parameters() == count_params(shape).total
    ids = torch.randint(1, shape.vocab_size, (2, shape.n_ctx))
    mask = torch.ones_like(ids)
    mask[1, shape.n_ctx // 2 :] = 0
    with torch.no_grad():
        for attention_mask in (None, mask):
            expected = ours(ids, attention_mask=attention_mask).logits
            got = theirs(ids, attention_mask=attention_mask).logits
            keep = mask.bool() if attention_mask is not None else torch.ones_like(mask).bool()
            torch.testing.assert_close(got[keep], expected[keep], atol=1e-4, rtol=0)


@pytest.mark.parametrize("shape", SHAPES, ids=_id)
def test_load_hf_dir_restores_shape_and_weights(tmp_path: Path, shape: ShapeSpec) -> None:
    ours = _perturbed(shape)
    export_hf(ours, shape, tmp_path)
    back, back_shape = load_hf_dir(tmp_path)
    assert back_shape == shape
    for key, value in ours.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key


def test_grouped_query_attention_shares_each_kv_head_across_its_group() -> None:
    """With the K/V weights of each group copied into every head, the full-head model
    computes exactly what the grouped model does."""
    grouped_shape = SHAPES[2]
    grouped = _perturbed(grouped_shape)
    full_shape = ShapeSpec.from_dict({**grouped_shape.to_dict(), "n_kv_head": grouped_shape.n_head})
    full = build_model(full_shape).eval()
    state = dict(grouped.state_dict())
    head_dim = grouped_shape.head_dim
    for key in [k for k in state if k.endswith(("k_proj.weight", "v_proj.weight"))]:
        heads = state[key].reshape(grouped_shape.n_kv_head, head_dim, grouped_shape.d_model)
        state[key] = heads.repeat_interleave(3, dim=0).reshape(-1, grouped_shape.d_model)
    full.load_state_dict(state)
    ids = torch.randint(0, grouped_shape.vocab_size, (2, grouped_shape.n_ctx))
    with torch.no_grad():
        torch.testing.assert_close(full(ids).logits, grouped(ids).logits)


def test_shape_checks_of_the_family() -> None:
    with pytest.raises(ScalingLabError, match="multiple of n_kv_head"):
        ShapeSpec.create("llama", n_layer=1, d_model=128, n_head=4, n_kv_head=3)
    with pytest.raises(ScalingLabError, match="nsp"):
        ShapeSpec.create("llama", n_layer=1, d_model=64, nsp=True)
    with pytest.raises(ScalingLabError, match="one key/value head per query head"):
        ShapeSpec.create("gpt", n_layer=1, d_model=128, n_kv_head=1)


def test_folder_with_biases_or_scaled_rope_is_refused(tmp_path: Path) -> None:
    shape = SHAPES[0]
    export_hf(build_model(shape), shape, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    for change in ({"attention_bias": True}, {"rope_parameters": {"rope_theta": 5e5}}):
        (tmp_path / "config.json").write_text(json.dumps({**config, **change}))
        with pytest.raises(ScalingLabError, match="does not build"):
            load_hf_dir(tmp_path)
