"""Training memory per GPU: model state under sharding, activations."""

from __future__ import annotations

import pytest

from scalinglab.plan.memory import (
    STATE_BYTES_PER_PARAM,
    activation_bytes,
    choose_strategy,
    model_state_bytes,
    training_memory,
)


def test_adamw_mixed_precision_state_of_7b_is_112_gb():
    # 2 (bf16 weights) + 2 (bf16 grads) + 4 (fp32 master) + 4 + 4 (Adam m, v) = 16 B/param
    # (Rajbhandari et al. 2020, ZeRO, Section 3.1): 7e9 x 16 = 112e9 bytes.
    assert STATE_BYTES_PER_PARAM == 16
    assert sum(model_state_bytes(7e9, "ddp", 8)) == pytest.approx(112e9)


def test_zero3_over_8_gpus_divides_by_8():
    assert sum(model_state_bytes(7e9, "zero3", 8)) == pytest.approx(112e9 / 8)


def test_zero1_and_zero2_shard_what_they_should():
    n, k = 7e9, 8
    weights, grads, optimizer = model_state_bytes(n, "zero1", k)
    assert (weights, grads, optimizer) == pytest.approx((2 * n, 2 * n, 12 * n / k))
    weights, grads, optimizer = model_state_bytes(n, "zero2", k)
    assert (weights, grads, optimizer) == pytest.approx((2 * n, 2 * n / k, 12 * n / k))


def test_activation_formula_korthikanti():
    # Korthikanti et al. 2022, eq. 1: s b h (34 + 5 a s / h) bytes per layer. GPT-3 175B
    # (h = 12288, a = 96, L = 96) at s = 2048, b = 1: 34 s h = 0.856e9 and 5 a s^2 = 2.01e9
    # bytes per layer; 96 layers = 275 GB without recomputation.
    without, checkpointed = activation_bytes(96, 12288, 96, 2048, 1)
    per_layer = 2048 * 12288 * (34 + 5 * 96 * 2048 / 12288)
    assert without == pytest.approx(96 * per_layer)
    assert without == pytest.approx(275e9, rel=0.01)
    # checkpointing keeps each layer's input (2 s b h bytes) plus one layer recomputed
    assert checkpointed == pytest.approx(2 * 2048 * 12288 * 96 + per_layer)
    assert checkpointed < without / 10


def test_fits_and_the_chosen_strategy():
    rows = training_memory(7e9, 32, 4096, 32, 2048, 1, 8, device_bytes=80e9)
    by = {row.strategy: row for row in rows}
    assert by["ddp"].fits is False  # 112 GB of state alone
    assert by["zero3"].fits_checkpointed is True
    chosen, checkpointed = choose_strategy(rows)
    assert chosen.total <= 80e9 or checkpointed
    no_device = training_memory(7e9, 32, 4096, 32, 2048, 1, 8)
    assert no_device[0].fits is None


def test_flash_attention_drops_the_attention_matrices():
    # GPT-3 layer at s = 2048: 34 s h = 0.856e9 bytes; the 5 a s^2 = 2.01e9 bytes of scores,
    # softmax and dropout masks are not stored by a fused attention kernel.
    without, _ = activation_bytes(96, 12288, 96, 2048, 1, flash_attention=True)
    assert without == pytest.approx(96 * 34 * 2048 * 12288)
    plain, _ = activation_bytes(96, 12288, 96, 2048, 1)
    assert without < plain / 3
