"""Inference roofline figures."""

from __future__ import annotations

import pytest

from scalinglab.plan.inference import (
    decode_step_seconds,
    encoder_forward_flops,
    inference_cost,
    kv_cache_bytes,
    prefill_flops,
)

A100_80GB_BANDWIDTH = 2.039e12  # NVIDIA A100 80GB SXM datasheet, bytes/s
A100_BF16 = 312e12


def test_7b_fp16_decode_batch1_on_a100_is_about_7_ms():
    # Reading 7e9 fp16 weights (14e9 bytes) at 2.039e12 B/s takes 6.87 ms per token; the
    # 2N = 1.4e10 FLOPs take 0.045 ms at 312 TFLOP/s, so bandwidth bounds it.
    seconds = decode_step_seconds(7e9, 32, 4096, 1, 1, A100_80GB_BANDWIDTH, A100_BF16)
    assert seconds == pytest.approx(7e-3, rel=0.05)
    assert seconds == pytest.approx(14e9 / A100_80GB_BANDWIDTH, rel=1e-3)


def test_kv_cache_of_llama2_7b_shape():
    # 2 (K, V) x 32 layers x 4096 x 4096 tokens x 2 bytes = 2 GiB per sequence.
    assert kv_cache_bytes(32, 4096, 4096, 1) == 2 * 1024**3


def test_large_batches_become_compute_bound_and_throughput_saturates():
    small = inference_cost(
        7e9, 32, 4096, prompt_tokens=128, context=128, batch=1,
        bandwidth=A100_80GB_BANDWIDTH, peak_flops=A100_BF16,
    )  # fmt: skip
    large = inference_cost(
        7e9, 32, 4096, prompt_tokens=128, context=128, batch=512,
        bandwidth=A100_80GB_BANDWIDTH, peak_flops=A100_BF16, lifetime_tokens=1e9,
    )  # fmt: skip
    assert large.throughput_tokens_per_s > 50 * small.throughput_tokens_per_s
    flops_bound = A100_BF16 / (2 * 7e9 + 4 * 32 * 4096 * 128)
    assert large.throughput_tokens_per_s <= flops_bound * (1 + 1e-9)
    assert large.lifetime_gpu_hours == pytest.approx(1e9 / large.throughput_tokens_per_s / 3600)


def test_prefill_and_encoder_flops():
    assert prefill_flops(1e9, 24, 2048, 1000) == pytest.approx(2e12 + 2 * 24 * 2048 * 1e6)
    # BERT-base-like: 110M params, 12 layers, 768 wide, 128 tokens
    assert encoder_forward_flops(110e6, 12, 768, 128) == pytest.approx(
        2 * 110e6 * 128 + 4 * 12 * 768 * 128**2
    )


def test_encoder_lifetime_uses_batched_forward_passes():
    # 110M encoder, 512-token sequences, batch 64 on an A100: FLOP-bound at
    # 64 x (2 x 110e6 x 512 + 4 x 12 x 768 x 512^2) / 312e12 per pass.
    cost = inference_cost(
        110e6, 12, 768, prompt_tokens=512, context=512, batch=64,
        bandwidth=A100_80GB_BANDWIDTH, peak_flops=A100_BF16, lifetime_tokens=1e9, encoder=True,
    )  # fmt: skip
    forward = 64 * encoder_forward_flops(110e6, 12, 768, 512) / A100_BF16
    assert cost.throughput_tokens_per_s == pytest.approx(64 * 512 / forward)
    assert cost.lifetime_gpu_hours == pytest.approx(1e9 / cost.throughput_tokens_per_s / 3600)
