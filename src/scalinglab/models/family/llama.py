"""The llama family: a decoder-only causal LM in the Llama layout (:mod:`scalinglab.models.llama`).

RMSNorm, rotary positions (no position embedding), a SwiGLU MLP, no biases, optional
grouped-query attention (``n_kv_head`` key/value heads, a divisor of ``n_head``), tied
unembedding unless the shape unties it (tied as in Llama 3.2 1B/3B and most small
ladders; ``--untied`` gives Llama 2's separate head). Trained on next-token prediction
with the same byte-level BPE as gpt; exported as a Hugging Face ``llama`` folder that
``LlamaForCausalLM`` loads unchanged (our parameter names and layouts are HF's).

Default MLP width: SwiGLU has three ``d_model x d_ff`` matrices, so ``d_ff = 8/3 d_model``
keeps the MLP at the ``8 d_model^2`` parameters of a GELU MLP of width ``4 d_model``
(Shazeer 2020; Touvron et al. 2023); it is rounded up to a multiple of 64, or of 32 when
``d_model < 256`` (the tiny widths of :mod:`scalinglab.models.ladder`), as Llama rounds up
to ``multiple_of``. E.g. 64 -> 192, 128 -> 352, 768 -> 2048, 4096 -> 10944.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from scalinglab.models.counting import ParamCounts
from scalinglab.models.families import HFExchange, ModelFamily, register
from scalinglab.models.shape import ShapeSpec

if TYPE_CHECKING:
    from torch import nn

#: RMSNorm epsilon (Llama 2 and 3 use 1e-5).
RMS_NORM_EPS = 1e-5
#: RoPE base frequency (Llama 1 and 2; Llama 3 uses 500,000 for long contexts).
ROPE_THETA = 10_000.0
_TINY_WIDTH = 256


def default_d_ff(d_model: int) -> int:
    """``8/3 d_model`` rounded up to a multiple of 64 (of 32 below width 256)."""
    multiple = 32 if d_model < _TINY_WIDTH else 64
    return -(-8 * d_model // (3 * multiple)) * multiple


def _kv_width(shape: ShapeSpec) -> int:
    return shape.n_kv_head * shape.head_dim  # type: ignore[operator]


def block_params(shape: ShapeSpec) -> int:
    """Q and output ``d x d``; K and V ``d x d_kv``; gate, up, down ``d x d_ff``; two
    RMSNorm gains; no biases."""
    d, f = shape.d_model, shape.d_ff
    return 2 * d * d + 2 * d * _kv_width(shape) + 3 * d * f + 2 * d


def count_params(shape: ShapeSpec) -> ParamCounts:
    """Token embedding, the blocks, the final RMSNorm gain, an untied head."""
    d, V = shape.d_model, shape.vocab_size
    embedding = V * d + (0 if shape.tied_embeddings else V * d)
    nonembed = shape.n_layer * block_params(shape) + d
    return ParamCounts(total=embedding + nonembed, nonembed=nonembed, embedding=embedding)


def forward_flops_per_token(shape: ShapeSpec) -> float:
    """Per layer: Q and output ``2 * 2 d^2``, K and V ``2 * 2 d d_kv``, logits and weighted
    values ``2 * 2 n_ctx d`` (every query head attends, GQA or not), SwiGLU ``3 * 2 d
    d_ff``; plus the unembedding ``2 d V``."""
    d, f, T = shape.d_model, shape.d_ff, shape.n_ctx
    per_layer = 2 * 2 * d * d + 2 * 2 * d * _kv_width(shape) + 2 * 2 * T * d + 3 * 2 * d * f
    return float(shape.n_layer * per_layer + 2 * d * shape.vocab_size)


def build(shape: ShapeSpec, dropout: float, num_labels: int | None) -> nn.Module:
    from scalinglab.models.llama import Llama

    return Llama(shape, dropout=dropout)


def hf_config(shape: ShapeSpec, num_labels: int | None) -> dict[str, Any]:
    """A ``LlamaConfig``: SiLU, no biases, RoPE base 10,000 (written both as transformers 5's
    ``rope_parameters`` and 4's ``rope_theta``), dropout 0."""
    return {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "vocab_size": shape.vocab_size,
        "hidden_size": shape.d_model,
        "intermediate_size": shape.d_ff,
        "num_hidden_layers": shape.n_layer,
        "num_attention_heads": shape.n_head,
        "num_key_value_heads": shape.n_kv_head,
        "head_dim": shape.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": shape.n_ctx,
        "rms_norm_eps": RMS_NORM_EPS,
        "rope_theta": ROPE_THETA,
        "rope_parameters": {"rope_type": "default", "rope_theta": ROPE_THETA},
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "tie_word_embeddings": shape.tied_embeddings,
        "bos_token_id": None,
        "eos_token_id": None,
        "torch_dtype": "float32",
    }


def shape_from_hf_config(config: Mapping[str, Any]) -> ShapeSpec:
    """The shape of a ``LlamaConfig``; refuses what our module does not build (biases,
    another RoPE, a head size other than ``hidden_size / num_attention_heads``)."""
    from scalinglab.errors import ScalingLabError

    n_head, d_model = config["num_attention_heads"], config["hidden_size"]
    rope = config.get("rope_parameters") or {}
    theta = rope.get("rope_theta", config.get("rope_theta", ROPE_THETA))
    unsupported = {
        "attention_bias": config.get("attention_bias", False),
        "mlp_bias": config.get("mlp_bias", False),
        "rope_type": rope.get("rope_type", "default") != "default" or config.get("rope_scaling"),
        "rope_theta": theta != ROPE_THETA,
        "head_dim": (config.get("head_dim") or d_model // n_head) * n_head != d_model,
        "hidden_act": config.get("hidden_act", "silu") != "silu",
        "rms_norm_eps": config.get("rms_norm_eps", RMS_NORM_EPS) != RMS_NORM_EPS,
    }
    bad = [key for key, value in unsupported.items() if value]
    if bad:
        raise ScalingLabError(
            f"this llama config sets {', '.join(bad)} to values scalinglab's llama does not "
            "build (no biases, SiLU, RMSNorm eps 1e-5, default RoPE with base 10000, "
            "head_dim = hidden_size / heads)"
        )
    return ShapeSpec(
        family="llama",
        n_layer=config["num_hidden_layers"],
        d_model=d_model,
        n_head=n_head,
        n_kv_head=config.get("num_key_value_heads") or n_head,
        d_ff=config["intermediate_size"],
        vocab_size=config["vocab_size"],
        n_ctx=config["max_position_embeddings"],
        tied_embeddings=config.get("tie_word_embeddings", False),
    )


FAMILY = register(
    ModelFamily(
        name="llama",
        summary="decoder-only causal LM, Llama layout: RMSNorm, RoPE, SwiGLU, no biases, GQA",
        objective="causal",
        tokenizer="byte_bpe",
        inference="decoder",
        count_params=count_params,
        forward_flops_per_token=forward_flops_per_token,
        build=build,
        hf=HFExchange(
            model_type="llama",
            config=hf_config,
            shape_from_config=shape_from_hf_config,
            tied_keys=("lm_head.weight",),
        ),
        default_vocab=8192,
        default_ctx=256,
        default_d_ff=default_d_ff,
        supports_gqa=True,
    )
)
