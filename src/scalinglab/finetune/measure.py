"""Measured costs of a classifier: latency, throughput, peak memory, size on disk.

All figures are wall-clock measurements on the machine running them (noisy on a shared
machine): latency in milliseconds for one example (p50/p95 over ``repeats`` calls after a
warm-up), throughput in examples per second at a batch of 64, memory as the process's
peak resident set size in bytes, sizes in bytes.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scalinglab.finetune.evaluation import collate, encode_texts, logits_of, model_device
from scalinglab.train.precision import bf16_autocast


def latency_of(
    score: Callable[[list[str]], Any], texts: list[str], repeats: int = 30
) -> tuple[float, float]:
    """``(p50, p95)`` milliseconds of ``score([text])`` over ``repeats`` calls (cycling texts).

    Three unmeasured calls warm up allocators and kernels first.
    """
    timings = []
    with torch.inference_mode():
        for i in range(repeats + 3):
            text = texts[i % len(texts)]
            start = time.perf_counter()
            score([text])
            if i >= 3:
                timings.append((time.perf_counter() - start) * 1e3)
    return float(np.percentile(timings, 50)), float(np.percentile(timings, 95))


def throughput_of(
    score: Callable[[list[str]], Any], texts: list[str], batch_size: int = 64, batches: int = 3
) -> float:
    """Examples per second of ``score`` called on batches of ``batch_size`` texts."""
    pool = (texts * (batch_size * batches // max(1, len(texts)) + 1))[: batch_size * batches]
    with torch.inference_mode():
        score(pool[:batch_size])
        start = time.perf_counter()
        for first in range(0, len(pool), batch_size):
            score(pool[first : first + batch_size])
    return len(pool) / (time.perf_counter() - start)


def classifier_scorer(
    model: Any, tokenizer: Any, max_length: int, bf16: bool = False
) -> Callable[[list[str]], torch.Tensor]:
    """``texts -> logits`` for a sequence classifier on its device, tokenising included.

    On CUDA each call waits for the GPU to finish, so that timings are whole.
    """
    model.eval()
    device = model_device(model)

    def score(texts: list[str]) -> torch.Tensor:
        batch = collate(tokenizer, encode_texts(tokenizer, texts, max_length), device)
        with bf16_autocast(device.type, bf16):
            logits = logits_of(model, batch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return logits

    return score


def peak_memory_bytes() -> int:
    """Peak resident set size of this process so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def directory_size_bytes(path: str | Path) -> int:
    """Total size of the files under ``path``, in bytes."""
    return sum(file.stat().st_size for file in Path(path).rglob("*") if file.is_file())
