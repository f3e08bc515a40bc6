"""What a model of ``N`` parameters costs on the plan's hardware, trained and served.

Training: GPU-hours, wall hours and dollars of its ``6ND`` FLOPs
(:class:`~scalinglab.plan.training_cost.Hardware`). Inference: latency, lifetime
GPU-hours and dollars (:mod:`scalinglab.plan.inference`). The planned ``N*`` is priced on
its ladder shape; other sizes (the candidate rows) on the aspect-64 depth and width
estimate (:func:`~scalinglab.plan.shapes.estimated_depth_and_width`), as only ``L d``
enters there (the KV cache, attention FLOPs) and a ladder search per row would cost a
second. The total cost is training plus lifetime inference; without lifetime inference
tokens it is the training cost alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from scalinglab.models.counting import count_params
from scalinglab.models.shape import ShapeSpec
from scalinglab.plan.allocation import Allocation
from scalinglab.plan.figure import Figure
from scalinglab.plan.inference import BYTES_PER_VALUE, InferenceCost, inference_cost
from scalinglab.plan.shapes import estimated_depth_and_width
from scalinglab.plan.training_cost import Hardware


@dataclass(frozen=True)
class CostModel:
    """Prices models on ``hardware``: ``context`` tokens per sequence, decode ``batch``
    (sequences), ``inference_tokens`` served in a lifetime (tokens; ``None``: not
    given), an ``encoder`` served one pass per sequence, ``shape`` planned for
    ``shape_n`` parameters (the law's count of ``N*``)."""

    hardware: Hardware
    encoder: bool
    context: int
    batch: int
    inference_tokens: float | None
    shape: ShapeSpec
    shape_n: float

    def inference(self, n: float) -> InferenceCost | None:
        """Inference figures of a model of ``n`` parameters; ``None`` without a GPU."""
        gpu = self.hardware.gpu
        if gpu is None:
            return None
        if n == self.shape_n:
            n_params, n_layer, d_model = (
                count_params(self.shape).total,
                self.shape.n_layer,
                self.shape.d_model,
            )
        else:
            n_params, (n_layer, d_model) = n, estimated_depth_and_width(n)
        return inference_cost(
            n_params,
            n_layer,
            d_model,
            prompt_tokens=self.context,
            context=self.context,
            batch=self.batch,
            bandwidth=gpu.bandwidth_bytes_per_s,
            peak_flops=gpu.peak_flops(self.hardware.precision),
            bytes_per_value=BYTES_PER_VALUE[self.hardware.precision],
            lifetime_tokens=self.inference_tokens,
            encoder=self.encoder,
        )

    def costs(self, allocation: Allocation) -> dict[str, float | None]:
        """A candidate row's hardware figures: training GPU-hours, wall hours and
        dollars, latency (ms), lifetime inference GPU-hours and dollars, total dollars."""
        row = self.hardware.training(allocation.flops)
        inference = self.inference(allocation.n)
        if inference is None:
            return {**row, "inference_gpu_hours": None}
        if self.encoder:
            row["encoder_ms_per_sequence"] = inference.encoder_seconds_per_sequence * 1e3
        else:
            row["decode_ms_per_token"] = inference.decode_seconds_per_token_batch1 * 1e3
        row["inference_gpu_hours"] = inference.lifetime_gpu_hours
        inference_dollars = self.hardware.dollars(inference.lifetime_gpu_hours)
        if inference_dollars is not None:
            row["inference_cost_dollars"] = inference_dollars
        if row["train_cost_dollars"] is not None:
            row["total_cost_dollars"] = total_cost(row["train_cost_dollars"], inference_dollars)
        return row


def total_cost(train_dollars: float | None, inference_dollars: float | None) -> float | None:
    """Training plus lifetime inference dollars (inference 0 when not given); ``None``
    without a training cost (no GPU or no price)."""
    if train_dollars is None:
        return None
    return train_dollars + (inference_dollars or 0.0)


def total_cost_figures(
    train_dollars: float | None, inference_dollars: float | None
) -> list[Figure]:
    """The total cost, saying whether lifetime inference is in it; none without a price."""
    total = total_cost(train_dollars, inference_dollars)
    if total is None:
        return []
    how = (
        "training cost + lifetime inference cost"
        if inference_dollars is not None
        else "training cost only (no --inference-tokens: no lifetime inference counted)"
    )
    return [Figure("total cost", "training + lifetime inference", total, "$", "derived", how)]
