"""The gpt family: a decoder-only causal LM in the GPT-2 layout (:mod:`scalinglab.models.gpt`).

Learned positions, pre-LayerNorm blocks with biases, a GELU MLP of width ``d_ff``
(default ``4 d_model``), a final LayerNorm, an unembedding tied to the token embedding
unless the shape unties it. Trained on next-token prediction with GPT-2's byte-level BPE;
exported as a Hugging Face ``gpt2`` folder, whose ``Conv1D`` layers store the transpose
of our ``nn.Linear`` weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from scalinglab.models.counting import (
    ParamCounts,
    block_forward_flops,
    block_params,
    layer_norm_params,
)
from scalinglab.models.families import HFExchange, ModelFamily, register
from scalinglab.models.shape import ShapeSpec

if TYPE_CHECKING:
    from torch import nn

_CONV1D_SUFFIXES = (
    "attn.c_attn.weight",
    "attn.c_proj.weight",
    "mlp.c_fc.weight",
    "mlp.c_proj.weight",
)


def count_params(shape: ShapeSpec) -> ParamCounts:
    """Token and position embeddings, the blocks, the final LayerNorm, an untied head."""
    d, V, T = shape.d_model, shape.vocab_size, shape.n_ctx
    embedding = V * d + T * d
    unembedding = 0 if shape.tied_embeddings else V * d
    nonembed = shape.n_layer * block_params(shape) + layer_norm_params(d)
    return ParamCounts(
        total=embedding + unembedding + nonembed,
        nonembed=nonembed,
        embedding=embedding + unembedding,
    )


def forward_flops_per_token(shape: ShapeSpec) -> float:
    """The blocks plus the unembedding ``2 d V``."""
    return float(shape.n_layer * block_forward_flops(shape) + 2 * shape.d_model * shape.vocab_size)


def build(shape: ShapeSpec, dropout: float, num_labels: int | None) -> nn.Module:
    from scalinglab.models.gpt import GPT

    return GPT(shape, dropout=dropout)


def hf_config(shape: ShapeSpec, num_labels: int | None) -> dict[str, Any]:
    """A ``GPT2Config``; dropout 0 (as we pretrain), tanh-GELU (``gelu_new``)."""
    return {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": shape.vocab_size,
        "n_positions": shape.n_ctx,
        "n_embd": shape.d_model,
        "n_layer": shape.n_layer,
        "n_head": shape.n_head,
        "n_inner": shape.d_ff,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "tie_word_embeddings": shape.tied_embeddings,
        "bos_token_id": None,
        "eos_token_id": None,
        "torch_dtype": "float32",
    }


def shape_from_hf_config(config: Mapping[str, Any]) -> ShapeSpec:
    d_model = config["n_embd"]
    return ShapeSpec(
        family="gpt",
        n_layer=config["n_layer"],
        d_model=d_model,
        n_head=config["n_head"],
        d_ff=config.get("n_inner") or 4 * d_model,
        vocab_size=config["vocab_size"],
        n_ctx=config["n_positions"],
        tied_embeddings=config.get("tie_word_embeddings", True),
    )


def transpose_conv1d(state: dict[str, Any], shape: ShapeSpec) -> dict[str, Any]:
    """``nn.Linear`` <-> HF ``Conv1D`` weights: the same transpose both ways."""
    return {
        key: value.t().contiguous() if key.endswith(_CONV1D_SUFFIXES) else value
        for key, value in state.items()
    }


FAMILY = register(
    ModelFamily(
        name="gpt",
        summary="decoder-only causal LM, GPT-2 layout",
        objective="causal",
        tokenizer="byte_bpe",
        inference="decoder",
        count_params=count_params,
        forward_flops_per_token=forward_flops_per_token,
        build=build,
        hf=HFExchange(
            model_type="gpt2",
            config=hf_config,
            shape_from_config=shape_from_hf_config,
            to_hf=transpose_conv1d,
            from_hf=transpose_conv1d,
            tied_keys=("lm_head.weight",),
        ),
        default_vocab=8192,
        default_ctx=256,
    )
)
