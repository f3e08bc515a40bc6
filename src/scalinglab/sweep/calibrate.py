"""Throughput calibration: how many training FLOP/s this machine reaches on a shape, so
that ``scalinglab sweep design`` can put a wall time on a plan.

A calibration times optimizer steps (forward, backward, AdamW, in the precision a run
uses by default on this CPU; two warm-up steps are not timed, then about a second of
steps) of the smallest and the largest shape of a design on random tokens, with the
thread count a worker will use. Results are cached in ``<cache>/throughput.json`` keyed
by shape, batch, threads, precision, torch version and host, so a second ``sweep
design`` answers at once. Other shapes interpolate FLOP/s linearly in
``log N`` between the calibrated ones (clamped outside). Start-up is calibrated too:
:func:`startup_seconds` times a fresh Python process importing torch and the trainer
(cached in ``<cache>/startup.json``), the unit in which :mod:`scalinglab.sweep.estimate`
counts a sweep's start-up costs.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from scalinglab.io import atomic_write_json
from scalinglab.models.counting import count_params, flops_per_token
from scalinglab.models.shape import ShapeSpec

WARMUP_STEPS = 2
MAX_STEPS = 50
CALIBRATION_SECONDS = 1.0
CALIBRATION_BATCH = 8


@dataclass(frozen=True)
class Throughput:
    """Measured training FLOP/s (exact FLOP count) of one shape; ``cached`` if read back."""

    shape: ShapeSpec
    flops_per_second: float
    tokens_per_second: float
    threads: int
    cached: bool


def cache_file(cache_dir: str | Path | None = None) -> Path:
    """``$SCALINGLAB_CACHE/throughput.json`` (default ``~/.cache/scalinglab``)."""
    root = cache_dir or os.environ.get("SCALINGLAB_CACHE") or Path.home() / ".cache/scalinglab"
    return Path(root).expanduser() / "throughput.json"


def _key(shape: ShapeSpec, threads: int, batch: int, bf16: bool) -> str:
    import torch

    dims = f"{shape.family}-L{shape.n_layer}-d{shape.d_model}-h{shape.n_head}-f{shape.d_ff}"
    dims += f"-V{shape.vocab_size}-T{shape.n_ctx}"
    precision = "bf16" if bf16 else "fp32"
    return f"{dims}|b{batch}|t{threads}|{precision}|torch{torch.__version__}|{platform.node()}"


def measure(
    shape: ShapeSpec,
    *,
    threads: int = 1,
    batch: int = CALIBRATION_BATCH,
    min_seconds: float = CALIBRATION_SECONDS,
    cache_dir: str | Path | None = None,
    bf16: bool | None = None,
) -> Throughput:
    """Time training steps of ``shape`` after two warm-up steps, until ``min_seconds``
    have been timed or 50 steps (cached; see the module docstring), in bf16 autocast or
    fp32 as ``bf16`` says (None: this CPU's default, as a run without the option)."""
    import torch

    from scalinglab.train.precision import bf16_autocast, default_bf16

    if bf16 is None:
        bf16 = default_bf16(torch.device("cpu"))
    path = cache_file(cache_dir)
    key = _key(shape, threads, batch, bf16)
    cache = json.loads(path.read_text()) if path.exists() else {}
    if key in cache:
        flops = float(cache[key])
        per_token = flops_per_token(shape).exact
        return Throughput(shape, flops, flops / per_token, threads, cached=True)
    from scalinglab.models.build import build_model
    from scalinglab.models.loss import cross_entropy

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(0)
        model = build_model(shape)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        tokens = torch.randint(0, shape.vocab_size, (batch, shape.n_ctx + 1), generator=generator)
        elapsed, timed = 0.0, 0
        for step in range(WARMUP_STEPS + MAX_STEPS):
            start = time.perf_counter()
            with bf16_autocast("cpu", bf16):
                logits = model(input_ids=tokens[:, :-1]).logits
            cross_entropy(logits, tokens[:, 1:]).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step >= WARMUP_STEPS:
                elapsed += time.perf_counter() - start
                timed += 1
                if elapsed >= min_seconds:
                    break
    finally:
        torch.set_num_threads(previous)
    tokens_per_second = timed * batch * shape.n_ctx / elapsed
    flops = tokens_per_second * flops_per_token(shape).exact
    cache[key] = flops
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, cache, sort_keys=True)
    return Throughput(shape, flops, tokens_per_second, threads, cached=False)


def calibrate(
    shapes: list[ShapeSpec],
    *,
    threads: int = 1,
    cache_dir: str | Path | None = None,
    bf16: bool | None = None,
) -> list[Throughput]:
    """Measure the smallest and the largest of ``shapes`` (by non-embedding N), in the
    precision ``bf16`` names (None: this CPU's default)."""
    ordered = sorted(set(shapes), key=lambda s: count_params(s).nonembed)
    picks = [ordered[0]] if len(ordered) == 1 else [ordered[0], ordered[-1]]
    return [measure(shape, threads=threads, cache_dir=cache_dir, bf16=bf16) for shape in picks]


def flops_per_second(shape: ShapeSpec, measured: list[Throughput]) -> float:
    """FLOP/s for ``shape``: linear in ``log N`` between the measured shapes, clamped."""
    points = sorted(
        (math.log(count_params(t.shape).nonembed), t.flops_per_second) for t in measured
    )
    x = math.log(count_params(shape).nonembed)
    if x <= points[0][0] or len(points) == 1:
        return points[0][1]
    if x >= points[-1][0]:
        return points[-1][1]
    (x0, y0), (x1, y1) = points[0], points[-1]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def startup_seconds(cache_dir: str | Path | None = None) -> float:
    """Wall seconds a fresh Python process takes to import torch and ``scalinglab.train``
    on this machine (as loaded now), cached per host and torch version."""
    import torch

    path = cache_file(cache_dir).with_name("startup.json")
    key = f"torch{torch.__version__}|{platform.node()}"
    cache = json.loads(path.read_text()) if path.exists() else {}
    if key not in cache:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch, scalinglab.train"], check=True)
        cache[key] = time.perf_counter() - start
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, cache, sort_keys=True)
    return float(cache[key])
