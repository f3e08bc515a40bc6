"""GPT-3 175B training compute: the exact count for its shape against the published
figures (Brown et al. 2020) and against the per-token formula written out here."""

from __future__ import annotations

import pytest

from scalinglab.models.counting import count_params, flops_per_token, training_flops
from scalinglab.models.shape import ShapeSpec

#: Brown et al. 2020, Table 2.1: 96 layers, d_model 12288, 96 heads of 128, context
#: 2048, BPE vocabulary 50257, 300B training tokens.
LAYERS, WIDTH, CONTEXT, VOCAB, TOKENS = 96, 12288, 2048, 50257, 300e9


@pytest.fixture(scope="module")
def gpt3() -> ShapeSpec:
    return ShapeSpec.create(
        "gpt", n_layer=LAYERS, d_model=WIDTH, n_head=96, vocab_size=VOCAB, n_ctx=CONTEXT
    )


def test_parameter_count_is_the_published_175b(gpt3: ShapeSpec) -> None:
    assert count_params(gpt3).total == pytest.approx(175e9, rel=0.01)


def test_six_nd_of_the_counted_parameters_is_table_d1(gpt3: ShapeSpec) -> None:
    # Brown et al. 2020, Table D.1: 3.14e23 training FLOPs for GPT-3 175B (6ND).
    assert flops_per_token(gpt3).six_n * TOKENS == pytest.approx(3.14e23, rel=0.01)


def test_exact_count_follows_the_per_token_formula(gpt3: ShapeSpec) -> None:
    # Forward FLOPs per token (Kaplan et al. 2020, Table 1, with attention over the whole
    # context counted both for scores and values): per layer 2 x 12 d^2 for the weight
    # matmuls and 2 x 2 x n_ctx x d for QK^T and AV; plus 2 d V for the unembedding.
    # Training = 3 x forward (backward is twice the forward).
    forward = LAYERS * (24 * WIDTH**2 + 4 * CONTEXT * WIDTH) + 2 * WIDTH * VOCAB
    exact = training_flops(gpt3, TOKENS)
    assert exact == pytest.approx(3 * forward * TOKENS, rel=0.005)
    assert exact > flops_per_token(gpt3).six_n * TOKENS  # attention adds to 6N
