"""Training precision: where bf16 autocast is the default, and the autocast context.

One decision for every trainer (pretraining, fine-tuning, throughput calibration):
bf16 autocast where the hardware computes bf16 natively, fp32 elsewhere; TF32 for the
fp32 matmuls that remain on a CUDA GPU.
"""

from __future__ import annotations

import contextlib

import torch


def default_bf16(device: torch.device) -> bool:
    """bf16 autocast by default where the hardware computes bf16 natively: CUDA GPUs that
    support it, and CPUs with AVX512-BF16 or AMX. On this project's CPU (AMD EPYC with
    AVX512-BF16) it was measured 1.3-1.8x faster than fp32 with the same loss
    (BENCHMARKS.md); CPUs without those instructions emulate bf16 and stay in fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def bf16_autocast(device_type: str, enabled: bool) -> torch.autocast | contextlib.nullcontext[None]:
    """bf16 autocast on ``device_type`` when ``enabled``; a no-op context otherwise."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=torch.bfloat16)


def enable_tf32(device: torch.device) -> bool:
    """Let fp32 matmuls and convolutions on a CUDA ``device`` use TF32 tensor cores (10-bit
    mantissa inputs, fp32 accumulation: the parts of a bf16-autocast step that stay in
    fp32, and whole fp32 runs, go several times faster on Ampere and later GPUs).
    Returns whether TF32 is on for this run; CPUs have no TF32 and are left unchanged."""
    if device.type != "cuda":
        return False
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return True
