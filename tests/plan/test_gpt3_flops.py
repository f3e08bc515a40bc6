"""GPT-3 175B training compute: 6ND against the exact count for its shape."""

from __future__ import annotations

import pytest

from scalinglab.models.counting import count_params, training_flops
from scalinglab.models.shape import ShapeSpec


def test_gpt3_175b_on_300b_tokens():
    # Brown et al. 2020, Table 2.1: 96 layers, d_model 12288, 96 heads of 128, context 2048,
    # BPE vocabulary 50257; trained on 300B tokens. 6ND = 6 x 175e9 x 300e9 = 3.15e23 FLOPs
    # (their Table D.1 gives 3.14e23).
    gpt3 = ShapeSpec.create(
        "gpt", n_layer=96, d_model=12288, n_head=96, vocab_size=50257, n_ctx=2048
    )
    assert count_params(gpt3).total == pytest.approx(175e9, rel=0.01)
    six_nd = 6 * 175e9 * 300e9
    assert six_nd == pytest.approx(3.15e23)
    # exact: 3 x (96 x (24 d^2 + 4 n_ctx d) + 2 d V) per token = 1.077e12 FLOPs/token,
    # x 300e9 = 3.23e23, 2.5% above 6ND (attention over the context and the unembedding).
    exact = training_flops(gpt3, 300e9)
    assert exact == pytest.approx(six_nd, rel=0.05)
    assert exact == pytest.approx(3.23e23, rel=0.005)
