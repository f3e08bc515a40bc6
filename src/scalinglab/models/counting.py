"""Exact parameter and FLOP counts of a shape, by pure arithmetic (no torch).

Parameters are counted tensor by tensor in the layout of :mod:`scalinglab.models.shape`
(the same tensors as Hugging Face's GPT2LMHeadModel and BertForMaskedLM), so the total
equals ``sum(p.numel() for p in model.parameters())`` of the built model.

FLOPs count matrix multiplications at 2 FLOPs per multiply-add, the convention of
Kaplan et al. 2020 and Hoffmann et al. 2022 and of ``torch.utils.flop_counter``.
Per token and layer, a forward pass costs ``2 * 3 d^2`` (Q, K, V), ``2 * n_ctx * d``
(attention logits over the full context) plus ``2 * n_ctx * d`` (attention-weighted
values), ``2 d^2`` (attention output), ``4 d d_ff`` (MLP); the unembedding adds
``2 d V``. An embedding lookup does no multiplication and counts zero. Training costs
three forward passes (the backward pass computes gradients with respect to both inputs
and weights). Element-wise work (LayerNorm, softmax, GELU) is not counted, as in the
papers. Causal masking is not discounted: the attention kernels compute the full
``n_ctx x n_ctx`` score matrix.

Beside the exact count, ``six_n`` is Chinchilla's ``6 N`` (all parameters) and
``kaplan`` is Kaplan's ``6 N_nonembed + 6 n_layer n_ctx d_model``.

>>> from scalinglab.models.shape import ShapeSpec
>>> gpt3 = ShapeSpec.create("gpt", n_layer=96, d_model=12288, n_head=96, vocab_size=50257,
...                         n_ctx=2048)
>>> round(count_params(gpt3).total / 1e9, 1)
174.6
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scalinglab.models.shape import ShapeSpec


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts: ``total``; ``nonembed`` excludes the token and position
    embedding matrices (and an untied unembedding), Kaplan's ``N``; ``embedding`` is the
    difference."""

    total: int
    nonembed: int
    embedding: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class FlopCounts:
    """Training FLOPs per token (forward + backward): exact, ``6N``, Kaplan's."""

    exact: float
    six_n: float
    kaplan: float
    forward: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def _layer_norm(d: int) -> int:
    return 2 * d


def _block_params(shape: ShapeSpec) -> int:
    """One transformer block: attention (Q, K, V, output), MLP, two LayerNorms."""
    d, f = shape.d_model, shape.d_ff
    attention = 3 * _linear(d, d) + _linear(d, d)
    mlp = _linear(d, f) + _linear(f, d)
    return attention + mlp + 2 * _layer_norm(d)


def count_params(shape: ShapeSpec) -> ParamCounts:
    """Exact parameter counts of the model built from ``shape``."""
    d, V, T = shape.d_model, shape.vocab_size, shape.n_ctx
    blocks = shape.n_layer * _block_params(shape)
    if shape.family == "gpt":
        embedding = V * d + T * d
        unembedding = 0 if shape.tied_embeddings else V * d
        nonembed = blocks + _layer_norm(d)
        return ParamCounts(
            total=embedding + unembedding + nonembed,
            nonembed=nonembed,
            embedding=embedding + unembedding,
        )
    type_vocab = 2
    embedding = V * d + T * d + type_vocab * d
    embedding_norm = _layer_norm(d)
    mlm_head = _linear(d, d) + _layer_norm(d) + V  # transform, LayerNorm, decoder bias
    unembedding = 0 if shape.tied_embeddings else V * d
    nsp_head = (_linear(d, d) + _linear(d, 2)) if shape.nsp else 0
    nonembed = embedding_norm + blocks + mlm_head + nsp_head
    return ParamCounts(
        total=embedding + unembedding + nonembed,
        nonembed=nonembed,
        embedding=embedding + unembedding,
    )


def forward_flops_per_token(shape: ShapeSpec) -> float:
    """Forward-pass FLOPs per token at full context ``n_ctx`` (see module docstring)."""
    d, f, T, V = shape.d_model, shape.d_ff, shape.n_ctx, shape.vocab_size
    per_layer = 2 * 3 * d * d + 2 * T * d + 2 * T * d + 2 * d * d + 2 * 2 * d * f
    head = 2 * d * V
    if shape.family == "bert":
        head += 2 * d * d  # masked-LM transform before the tied decoder
        if shape.nsp:
            head += (2 * d * d + 2 * d * 2) / T  # pooler and NSP logits once per sequence
    return float(shape.n_layer * per_layer + head)


def flops_per_token(shape: ShapeSpec) -> FlopCounts:
    """Training FLOPs per token (forward + backward = 3 forward), with the usual estimates."""
    forward = forward_flops_per_token(shape)
    params = count_params(shape)
    return FlopCounts(
        exact=3.0 * forward,
        six_n=6.0 * params.total,
        kaplan=6.0 * params.nonembed + 6.0 * shape.n_layer * shape.n_ctx * shape.d_model,
        forward=forward,
    )


def training_flops(shape: ShapeSpec, tokens: float) -> float:
    """Exact training FLOPs to train ``shape`` on ``tokens`` tokens."""
    return flops_per_token(shape).exact * float(tokens)


def tokens_for_budget(shape: ShapeSpec, flops: float) -> int:
    """The token count whose training spends ``flops`` FLOPs (exact count) on ``shape``."""
    return int(float(flops) // flops_per_token(shape).exact)


def describe(shape: ShapeSpec) -> dict[str, Any]:
    """What ``scalinglab model describe --json`` prints: parameter counts, training FLOPs
    per token (exact, ``6N``, Kaplan's) and the shape as a dict."""
    params = count_params(shape)
    flops = flops_per_token(shape)
    return {
        "n_params": params.total,
        "n_params_nonembed": params.nonembed,
        "flops_per_token": flops.exact,
        "flops_per_token_6n": flops.six_n,
        "flops_per_token_kaplan": flops.kaplan,
        "shape": shape.to_dict(),
    }
