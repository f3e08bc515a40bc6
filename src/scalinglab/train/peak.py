"""The peak FLOP/s that model FLOPs utilization (MFU) is measured against.

GPUs: the vendor's dense bf16 tensor-core peak from the data sheet, read from the
planner's hardware catalogue (``scalinglab/resources/hardware.toml``), the
convention of Chowdhery et al. 2022 (PaLM, appendix B), who defined MFU. CPUs have no
such data-sheet figure we can trust across virtual machines, so the peak is measured:
the best of several square matmuls (n = 1024, in the training dtype, with the current
number of torch threads), cached in ``CACHE/peak_flops.json`` per CPU model, thread count
and dtype. A measured peak is an achievable peak, so CPU MFU reads higher than a
data-sheet MFU would; ``--peak-flops`` overrides both.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from scalinglab.data.tokenizer import cache_root
from scalinglab.io import atomic_write_json
from scalinglab.plan.hardware import match_device_name


def peak_flops(
    device: torch.device, dtype: torch.dtype, cache_dir: str | Path | None = None
) -> tuple[float, str]:
    """Peak FLOP/s for ``device`` and ``dtype`` and how it was obtained."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        gpu = match_device_name(name)
        if gpu is not None and "bf16" in gpu.peak:
            return gpu.peak["bf16"], f"data sheet ({gpu.name}, dense bf16; {gpu.source})"
        return measure_matmul_flops(device, torch.bfloat16), f"measured matmul ({name})"
    key = f"{_cpu_name()}|threads={torch.get_num_threads()}|{dtype}"
    path = cache_root(cache_dir) / "peak_flops.json"
    cached = json.loads(path.read_text()) if path.exists() else {}
    if key not in cached:
        cached[key] = measure_matmul_flops(device, dtype)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, cached)
    return cached[key], f"measured matmul ({key}), cached in {path}"


def measure_matmul_flops(device: torch.device, dtype: torch.dtype, n: int = 1024) -> float:
    """Best FLOP/s of ``n x n`` matmuls over a few repeats (2 n^3 FLOPs each)."""
    if device.type == "cuda":
        n = 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(5):
        _sync(device)
        start = time.perf_counter()
        for _ in range(3):
            a @ b
        _sync(device)
        best = min(best, (time.perf_counter() - start) / 3)
    return 2.0 * n**3 / best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
