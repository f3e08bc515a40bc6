"""The bert family: a bidirectional encoder in the BERT layout (:mod:`scalinglab.models.bert`).

Learned positions, two token types, post-LayerNorm blocks with biases, a GELU MLP of
width ``d_ff`` (default ``4 d_model``), a masked-LM head whose decoder is tied to the token
embedding unless the shape unties it; ``nsp`` adds the pooler and next-sentence head, and
a sequence-classification head exists for fine-tuning. Pretrained on masked LM (plus
NSP) with uncased WordPiece; exported as a Hugging Face ``bert`` folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from scalinglab.models.counting import (
    ParamCounts,
    block_forward_flops,
    block_params,
    layer_norm_params,
    linear_params,
)
from scalinglab.models.families import HFExchange, ModelFamily, register
from scalinglab.models.shape import ShapeSpec

if TYPE_CHECKING:
    from torch import nn

TYPE_VOCAB_SIZE = 2


def count_params(shape: ShapeSpec) -> ParamCounts:
    """Embeddings (token, position, type) and their LayerNorm, the blocks, the masked-LM
    head (transform, LayerNorm, decoder bias; an untied decoder) and the NSP head."""
    d, V, T = shape.d_model, shape.vocab_size, shape.n_ctx
    embedding = V * d + T * d + TYPE_VOCAB_SIZE * d
    mlm_head = linear_params(d, d) + layer_norm_params(d) + V
    unembedding = 0 if shape.tied_embeddings else V * d
    nsp_head = (linear_params(d, d) + linear_params(d, 2)) if shape.nsp else 0
    nonembed = layer_norm_params(d) + shape.n_layer * block_params(shape) + mlm_head + nsp_head
    return ParamCounts(
        total=embedding + unembedding + nonembed,
        nonembed=nonembed,
        embedding=embedding + unembedding,
    )


def forward_flops_per_token(shape: ShapeSpec) -> float:
    """The blocks, the masked-LM transform and decoder, and (once per sequence) the
    pooler and NSP logits."""
    d, T = shape.d_model, shape.n_ctx
    head = 2 * d * shape.vocab_size + 2 * d * d
    if shape.nsp:
        head += (2 * d * d + 2 * d * 2) / T
    return float(shape.n_layer * block_forward_flops(shape) + head)


def build(shape: ShapeSpec, dropout: float, num_labels: int | None) -> nn.Module:
    from scalinglab.models.bert import BertForMaskedLM, BertForSequenceClassification

    if num_labels is not None:
        return BertForSequenceClassification(shape, num_labels=num_labels, dropout=dropout)
    return BertForMaskedLM(shape, dropout=dropout)


def hf_config(shape: ShapeSpec, num_labels: int | None) -> dict[str, Any]:
    """A ``BertConfig``; HF's dropout 0.1 (as BERT fine-tunes)."""
    if num_labels is not None:
        architecture = "BertForSequenceClassification"
    else:
        architecture = "BertForPreTraining" if shape.nsp else "BertForMaskedLM"
    config: dict[str, Any] = {
        "model_type": "bert",
        "architectures": [architecture],
        "vocab_size": shape.vocab_size,
        "hidden_size": shape.d_model,
        "num_hidden_layers": shape.n_layer,
        "num_attention_heads": shape.n_head,
        "intermediate_size": shape.d_ff,
        "hidden_act": "gelu",
        "max_position_embeddings": shape.n_ctx,
        "type_vocab_size": TYPE_VOCAB_SIZE,
        "layer_norm_eps": 1e-12,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "tie_word_embeddings": shape.tied_embeddings,
        "pad_token_id": 0,
        "torch_dtype": "float32",
    }
    if num_labels is not None:
        config["num_labels"] = num_labels
    return config


def shape_from_hf_config(config: Mapping[str, Any]) -> ShapeSpec:
    return ShapeSpec(
        family="bert",
        n_layer=config["num_hidden_layers"],
        d_model=config["hidden_size"],
        n_head=config["num_attention_heads"],
        d_ff=config["intermediate_size"],
        vocab_size=config["vocab_size"],
        n_ctx=config["max_position_embeddings"],
        tied_embeddings=config.get("tie_word_embeddings", True),
        nsp="BertForPreTraining" in config.get("architectures", []),
    )


def to_hf_state(state: dict[str, Any], shape: ShapeSpec) -> dict[str, Any]:
    """HF stores the vocabulary bias twice (``cls.predictions.bias`` and the decoder's)."""
    if "cls.predictions.bias" in state:
        state = {**state, "cls.predictions.decoder.bias": state["cls.predictions.bias"].clone()}
    return state


FAMILY = register(
    ModelFamily(
        name="bert",
        summary="encoder, masked LM with optional NSP, BERT layout",
        objective="mlm",
        tokenizer="wordpiece",
        inference="encoder",
        count_params=count_params,
        forward_flops_per_token=forward_flops_per_token,
        build=build,
        hf=HFExchange(
            model_type="bert",
            config=hf_config,
            shape_from_config=shape_from_hf_config,
            to_hf=to_hf_state,
            tied_keys=("cls.predictions.decoder.weight",),
            optional_prefixes=("bert.pooler.", "classifier."),
        ),
        default_vocab=8192,
        default_ctx=128,
        supports_nsp=True,
        classifier=True,
    )
)
