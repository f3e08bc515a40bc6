"""Turn the user's budget (FLOPs, GPU time, money or a target loss) into FLOPs.

Exactly one of: ``flops``; ``hours`` on ``gpus`` x ``gpu``; ``dollars`` at
``price_per_gpu_hour`` on ``gpu``; ``target_loss`` (the least compute reaching it).
GPU time converts with ``C = GPUs x hours x 3600 x MFU x peak`` (the laws' ``6ND``
convention; see :mod:`scalinglab.plan.training_cost`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scalinglab.errors import ScalingLabError
from scalinglab.laws.forms import LawForm
from scalinglab.plan.allocation import compute_for_loss
from scalinglab.plan.hardware import Gpu
from scalinglab.plan.training_cost import flops_in_gpu_hours


@dataclass(frozen=True)
class Budget:
    """Training compute ``flops`` and how it followed from the user's budget."""

    flops: float
    kind: str
    how: str
    gpu_hours: float | None = None


def resolve_budget(
    law: LawForm,
    *,
    flops: float | None,
    hours: float | None,
    dollars: float | None,
    target_loss: float | None,
    price_per_gpu_hour: float | None,
    gpu: Gpu | None,
    gpus: int,
    peak_flops: float | None,
    mfu: float,
) -> Budget:
    """The compute budget in FLOPs; errors name what is missing or conflicting."""
    given = {
        "--flops": flops,
        "--hours/--days": hours,
        "--dollars": dollars,
        "--target-loss": target_loss,
    }
    chosen = [name for name, value in given.items() if value is not None]
    if len(chosen) != 1:
        what = "none" if not chosen else " and ".join(chosen)
        raise ScalingLabError(
            f"give exactly one budget: --flops, --hours/--days (with --gpu), --dollars (with "
            f"--gpu and --price-per-gpu-hour) or --target-loss; got {what}"
        )
    for name, value in given.items():
        if value is not None and (not math.isfinite(value) or value <= 0):
            raise ScalingLabError(f"{name} must be a positive number, got {value}")
    if gpus < 1:
        raise ScalingLabError(f"--gpus must be at least 1, got {gpus}")
    if flops is not None:
        return Budget(flops=float(flops), kind="flops", how="given with --flops")
    if target_loss is not None:
        found = compute_for_loss(law, target_loss)
        return Budget(flops=found.flops, kind="target_loss", how=found.how)
    if gpu is None or peak_flops is None:
        raise ScalingLabError(f"{chosen[0]} needs --gpu NAME to convert time into FLOPs")
    if dollars is not None:
        if price_per_gpu_hour is None or price_per_gpu_hour <= 0:
            raise ScalingLabError("--dollars needs --price-per-gpu-hour (dollars per GPU-hour)")
        gpu_hours = dollars / price_per_gpu_hour
        how = f"${dollars:,.0f} / ${price_per_gpu_hour}/GPU-hour = {gpu_hours:,.0f} GPU-hours"
    else:
        gpu_hours = float(hours) * gpus
        how = f"{gpus} x {gpu.key} for {hours:,.4g} h = {gpu_hours:,.0f} GPU-hours"
    flops_total = flops_in_gpu_hours(gpu_hours, peak_flops, mfu)
    return Budget(
        flops=flops_total,
        kind="dollars" if dollars is not None else "gpu_time",
        how=f"{how} x 3600 x MFU {mfu:.3f} x peak {peak_flops:.3g} FLOP/s",
        gpu_hours=gpu_hours,
    )
