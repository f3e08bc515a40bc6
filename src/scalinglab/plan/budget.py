"""Turn the user's budget (FLOPs, GPU time, money or a target loss) into FLOPs.

The budget is the one a :class:`~scalinglab.plan.request.PlanRequest` holds (it checks
that there is exactly one): ``flops``; ``hours`` or ``days`` on ``gpus`` x ``gpu``;
``dollars`` at ``price_per_gpu_hour`` on ``gpu``; ``target_loss`` (the least compute
reaching it). GPU time converts with ``C = GPUs x hours x 3600 x MFU x peak`` (the laws'
``6ND`` convention; see :mod:`scalinglab.plan.training_cost`).
"""

from __future__ import annotations

from dataclasses import dataclass

from scalinglab.laws.forms import LawForm
from scalinglab.plan.allocation import compute_for_loss
from scalinglab.plan.figure import Figure
from scalinglab.plan.hardware import Gpu
from scalinglab.plan.request import PlanRequest
from scalinglab.plan.training_cost import flops_in_gpu_hours


@dataclass(frozen=True)
class Budget:
    """Training compute ``flops`` and how it followed from the user's budget.

    ``kind`` is flops, gpu_time, dollars or target_loss. ``gpu_hours`` is what a time or
    money budget buys; ``wall_hours`` and ``days`` are a time budget as given (hours of
    wall-clock time on all GPUs; ``days`` only when it was given in days).
    """

    flops: float
    kind: str
    how: str
    gpu_hours: float | None = None
    wall_hours: float | None = None
    days: float | None = None

    def figures(self, law_source: str) -> list[Figure]:
        """The budget's compute; a target loss's compute comes from the law (``law_source``)."""
        source = {"flops": "user", "target_loss": law_source}.get(self.kind, "derived")
        return [Figure("budget", "training compute C", self.flops, "FLOPs", source, self.how)]


def resolve_budget(
    law: LawForm, request: PlanRequest, gpu: Gpu | None, peak_flops: float | None, mfu: float
) -> Budget:
    """The compute budget of ``request`` in FLOPs, on ``gpu`` (peak FLOP/s, MFU 0-1)."""
    if request.flops is not None:
        return Budget(flops=float(request.flops), kind="flops", how="given with --flops")
    if request.target_loss is not None:
        found = compute_for_loss(law, request.target_loss)
        return Budget(flops=found.flops, kind="target_loss", how=found.how)
    if gpu is None or peak_flops is None:
        raise ValueError("a time or money budget needs a GPU (PlanRequest checks it)")
    if request.dollars is not None:
        price = request.price_per_gpu_hour
        gpu_hours = request.dollars / price
        how = f"${request.dollars:,.0f} / ${price}/GPU-hour = {gpu_hours:,.0f} GPU-hours"
        kind = "dollars"
    else:
        hours = request.wall_hours
        gpu_hours = hours * request.gpus
        given = f"{request.days:,.4g} days ({hours:,.4g} h)" if request.days else f"{hours:,.4g} h"
        how = f"{request.gpus} x {gpu.key} for {given} = {gpu_hours:,.0f} GPU-hours"
        kind = "gpu_time"
    return Budget(
        flops=flops_in_gpu_hours(gpu_hours, peak_flops, mfu),
        kind=kind,
        how=f"{how} x 3600 x MFU {mfu:.3f} x peak {peak_flops:.3g} FLOP/s",
        gpu_hours=gpu_hours,
        wall_hours=request.wall_hours,
        days=request.days,
    )
