"""Exact parameter and FLOP counts of a shape, by pure arithmetic (no torch).

Each family declares its counts in its module (:mod:`scalinglab.models.family`);
parameters are counted tensor by tensor in the family's layout (the same tensors as
Hugging Face's GPT2LMHeadModel, BertForMaskedLM and LlamaForCausalLM), so the total
equals ``sum(p.numel() for p in model.parameters())`` of the built model.

FLOPs count matrix multiplications at 2 FLOPs per multiply-add, the convention of
Kaplan et al. 2020 and Hoffmann et al. 2022 and of ``torch.utils.flop_counter``.
Per token and layer, a forward pass costs ``2 * 3 d^2`` (Q, K, V), ``2 * n_ctx * d``
(attention logits over the full context) plus ``2 * n_ctx * d`` (attention-weighted
values), ``2 d^2`` (attention output), ``4 d d_ff`` (MLP; ``6 d d_ff`` for llama's
SwiGLU, and K, V cost ``2 * 2 d d_kv`` with ``d_kv = n_kv_head * head_dim`` under
grouped-query attention); the unembedding adds ``2 d V``. An embedding lookup does no
multiplication and counts zero. Training costs three forward passes (the backward pass
computes gradients with respect to both inputs and weights). Element-wise work
(LayerNorm, RMSNorm, RoPE, softmax, GELU, SiLU gating) is not counted, as in the papers.
Causal masking is not discounted: the attention kernels compute the full ``n_ctx x
n_ctx`` score matrix.

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

from scalinglab.models.families import get_family
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


def linear_params(n_in: int, n_out: int, bias: bool = True) -> int:
    """Parameters of a linear map ``n_in -> n_out`` (weight, and bias when ``bias``)."""
    return n_in * n_out + (n_out if bias else 0)


def layer_norm_params(d: int) -> int:
    """Parameters of a LayerNorm over ``d`` features (gain and bias)."""
    return 2 * d


def block_params(shape: ShapeSpec) -> int:
    """One GPT-2/BERT block (gpt and bert share it): attention (Q, K, V, output) and MLP
    with biases, two LayerNorms."""
    d, f = shape.d_model, shape.d_ff
    attention = 3 * linear_params(d, d) + linear_params(d, d)
    mlp = linear_params(d, f) + linear_params(f, d)
    return attention + mlp + 2 * layer_norm_params(d)


def block_forward_flops(shape: ShapeSpec) -> int:
    """Forward FLOPs per token of one such block at full context: Q, K, V, logits,
    weighted values, output projection, the two MLP matmuls."""
    d, f, T = shape.d_model, shape.d_ff, shape.n_ctx
    return 2 * 3 * d * d + 2 * T * d + 2 * T * d + 2 * d * d + 2 * 2 * d * f


def count_params(shape: ShapeSpec) -> ParamCounts:
    """Exact parameter counts of the model built from ``shape`` (as its family declares)."""
    return get_family(shape.family).count_params(shape)


def forward_flops_per_token(shape: ShapeSpec) -> float:
    """Forward-pass FLOPs per token at full context ``n_ctx`` (see module docstring)."""
    return float(get_family(shape.family).forward_flops_per_token(shape))


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
