"""``make_plan``: from a law and a budget to model size, tokens, loss, time, memory, cost.

This is the one public call behind ``scalinglab plan``. It loads the law
(:mod:`~scalinglab.plan.law_source`), turns the budget into FLOPs
(:mod:`~scalinglab.plan.budget`), allocates them (:mod:`~scalinglab.plan.allocation`),
picks a shape for ``N*`` (:mod:`~scalinglab.plan.shapes`), and prices training
(:mod:`~scalinglab.plan.training_cost`), memory (:mod:`~scalinglab.plan.memory`) and
inference (:mod:`~scalinglab.plan.inference`) on the chosen hardware
(:mod:`~scalinglab.plan.hardware`), then tabulates candidates
(:mod:`~scalinglab.plan.candidates`). Every reported number is a
:class:`~scalinglab.plan.figures.Figure` saying how it was obtained.

>>> plan = make_plan("epoch2024", flops=5.76e23)
>>> round(plan.compute_optimal.n / 1e9), round(plan.compute_optimal.tokens_per_param)
(72, 18)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.models.counting import count_params, flops_per_token
from scalinglab.models.shape import ShapeSpec
from scalinglab.plan.allocation import (
    Allocation,
    compute_optimal,
    data_constrained,
    inference_aware,
)
from scalinglab.plan.budget import Budget, resolve_budget
from scalinglab.plan.candidates import Candidate, build_candidates, parse_sizes, recommend
from scalinglab.plan.figures import Figure, plan_figures
from scalinglab.plan.hardware import Gpu, find_gpu, load_catalogue
from scalinglab.plan.inference import BYTES_PER_VALUE, InferenceCost, inference_cost
from scalinglab.plan.intervals import allocation_intervals
from scalinglab.plan.law_source import LoadedLaw, load_law
from scalinglab.plan.loss import loss_interval
from scalinglab.plan.memory import (
    DEFAULT_HEADROOM,
    TrainingMemory,
    choose_strategy,
    training_memory,
)
from scalinglab.plan.shapes import estimated_depth_and_width, shape_for_law_n
from scalinglab.plan.training_cost import Calibration, gpu_hours, resolve_mfu


@dataclass(frozen=True)
class Hardware:
    """The device, how many, the precision, the MFU and the price (dollars/GPU-hour)."""

    gpu: Gpu | None
    gpus: int
    precision: str
    calibration: Calibration
    price_per_gpu_hour: float | None

    @property
    def peak(self) -> float | None:
        return None if self.gpu is None else self.gpu.peak_flops(self.precision)

    def training(self, flops: float) -> dict[str, float | None]:
        """GPU-hours, wall hours on ``gpus`` devices and dollars for ``flops`` (6ND)."""
        if self.gpu is None:
            return {"train_gpu_hours": None, "wall_hours": None, "train_cost_dollars": None}
        hours = gpu_hours(flops, self.gpu.peak_flops(self.precision), self.calibration.mfu)
        cost = None if self.price_per_gpu_hour is None else hours * self.price_per_gpu_hour
        return {
            "train_gpu_hours": hours,
            "wall_hours": hours / self.gpus,
            "train_cost_dollars": cost,
        }


@dataclass(frozen=True)
class Plan:
    """The answer: allocations, shape, training, memory, inference and candidates.

    ``compute_optimal`` is the least-loss allocation of ``budget.flops`` (all tokens
    unique); training, memory and inference figures are for its ``shape``.
    """

    law: LoadedLaw
    budget: Budget
    hardware: Hardware
    compute_optimal: Allocation
    loss_interval: tuple[float, float] | None
    inference_aware: Allocation | None
    data_constrained: Allocation | None
    shape: ShapeSpec
    shape_flops_exact: float
    training: dict[str, float | None]
    memory: list[TrainingMemory]
    memory_choice: tuple[TrainingMemory, bool]
    inference: InferenceCost | None
    candidates: list[Candidate]
    recommended: int
    reason: str
    unique_tokens: float | None
    family: str
    flash_attention: bool
    allocation_interval: dict[str, tuple[float, float]] | None = None
    warnings: tuple[str, ...] = ()

    @property
    def figures(self) -> list[Figure]:
        """Every headline number with its source (see :func:`plan_figures`)."""
        return plan_figures(self)

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON: headline keys first, then every section and every figure."""
        optimum = self.compute_optimal
        chosen, checkpointed = self.memory_choice
        has_gpu = self.hardware.gpu is not None
        return {
            "n_opt": optimum.n,
            "d_opt": optimum.d,
            "tokens_per_param": optimum.tokens_per_param,
            "flops": optimum.flops,
            "flops_exact": self.shape_flops_exact,
            "predicted_loss": optimum.loss,
            "predicted_loss_interval": self.loss_interval,
            **{
                f"{key}_interval": (self.allocation_interval or {}).get(key)
                for key in ("n_opt", "d_opt", "tokens_per_param")
            },
            "interval_note": self.law.interval_note,
            "warnings": list(self.warnings),
            "gpu_hours": self.training["train_gpu_hours"],
            "wall_hours": self.training["wall_hours"],
            "cost_dollars": self.training["train_cost_dollars"],
            "memory_per_gpu_bytes": (chosen.total_checkpointed if checkpointed else chosen.total)
            if has_gpu
            else None,
            "memory_strategy": chosen.strategy if has_gpu else None,
            "activation_checkpointing": checkpointed if has_gpu else None,
            "flash_attention": self.flash_attention,
            "law": {
                "name": self.law.name,
                "source": self.law.source,
                "form": self.law.law.form,
                "params": self.law.law.params,
                "citation": self.law.citation,
                "provenance": self.law.provenance,
                "model_kind": self.law.model_kind,
                "n_kind": self.law.n_kind,
                "notes": self.law.notes,
            },
            "budget": {
                "flops": self.budget.flops,
                "kind": self.budget.kind,
                "how": self.budget.how,
                "gpu_hours": self.budget.gpu_hours,
            },
            "hardware": {
                "gpu": None if self.hardware.gpu is None else self.hardware.gpu.to_dict(),
                "gpus": self.hardware.gpus,
                "precision": self.hardware.precision,
                "mfu": self.hardware.calibration.to_dict(),
                "price_per_gpu_hour": self.hardware.price_per_gpu_hour,
            },
            "compute_optimal": optimum.to_dict(),
            "inference_aware": _maybe(self.inference_aware),
            "data_constrained": _maybe(self.data_constrained),
            "shape": {**self.shape.to_dict(), **count_params(self.shape).to_dict()},
            "memory": [row.to_dict() for row in self.memory],
            "inference": None if self.inference is None else self.inference.to_dict(),
            "candidates": [row.to_dict() for row in self.candidates],
            "recommended": {"index": self.recommended, "reason": self.reason},
            "figures": [figure.to_dict() for figure in self.figures],
        }


def _maybe(allocation: Allocation | None) -> dict[str, Any] | None:
    return None if allocation is None else allocation.to_dict()


def make_plan(
    law: str | Path | dict[str, Any] = "chinchilla",
    *,
    flops: float | None = None,
    gpu: str | None = None,
    gpus: int = 1,
    hours: float | None = None,
    dollars: float | None = None,
    price_per_gpu_hour: float | None = None,
    target_loss: float | None = None,
    mfu: float | None = None,
    calibrate_from: str | Path | None = None,
    precision: str = "bf16",
    hardware_file: str | Path | None = None,
    inference_tokens: float | None = None,
    unique_tokens: float | None = None,
    family: str = "gpt",
    vocab_size: int = 32000,
    seq_len: int = 2048,
    micro_batch: int = 1,
    batch: int = 16,
    loss_tolerance: float = 0.0,
    sizes: str | Sequence[float] | None = None,
    flash_attention: bool = False,
    memory_headroom: float = DEFAULT_HEADROOM,
) -> Plan:
    """Plan a training run (see the module docstring and docs/plan.md).

    ``law``: a preset name (chinchilla, epoch2024, kaplan2020, muennighoff2023), a path to
    a ``scalinglab fit --json`` file or its parsed dict. Budget: exactly one of ``flops``
    (FLOPs), ``hours`` (wall hours on ``gpus`` x ``gpu``), ``dollars`` (with
    ``price_per_gpu_hour``, dollars per GPU-hour) or ``target_loss`` (nats/token).
    ``mfu`` (0-1) or ``calibrate_from`` (``llama2-70b`` or a run's ``summary.json``);
    default 0.4. ``inference_tokens``: lifetime tokens generated (Sardana et al. 2023).
    ``unique_tokens``: distinct tokens available (Muennighoff et al. 2023). ``seq_len``
    (tokens) and ``micro_batch`` (sequences per GPU) size activations; ``batch`` is the
    decode batch; ``loss_tolerance`` (nats) lets a smaller candidate win; ``sizes``
    (counts, or text such as ``"100M,1.3B"``) replaces the candidate sizes around ``N*``;
    ``flash_attention`` drops the stored attention matrices from activation memory;
    ``memory_headroom`` (a fraction, default 0.1) is the device memory a strategy must
    leave free to "fit". With a fit's bootstrap samples, ``N*``, ``D*``, tokens per
    parameter and the loss get intervals. ``Plan.warnings`` says when the law was fitted
    to another kind of model than ``family`` (a decoder law for ``bert``).
    """
    loaded = load_law(law)
    candidate_sizes = parse_sizes(sizes) if isinstance(sizes, str) else sizes
    for value, what in ((seq_len, "seq_len"), (micro_batch, "micro_batch"), (batch, "batch")):
        if value < 1:
            raise ScalingLabError(f"{what} must be at least 1, got {value}")
    if loss_tolerance < 0:
        raise ScalingLabError(f"loss tolerance must be >= 0 nats, got {loss_tolerance}")
    catalogue = load_catalogue(hardware_file)
    device = find_gpu(gpu, catalogue) if gpu is not None else None
    calibration = resolve_mfu(mfu, calibrate_from, catalogue)
    hardware = Hardware(device, gpus, precision, calibration, price_per_gpu_hour)
    budget = resolve_budget(
        loaded.law,
        flops=flops,
        hours=hours,
        dollars=dollars,
        target_loss=target_loss,
        price_per_gpu_hour=price_per_gpu_hour,
        gpu=device,
        gpus=gpus,
        peak_flops=hardware.peak,
        mfu=calibration.mfu,
    )
    optimum = compute_optimal(loaded.law, budget.flops)
    aware = (
        inference_aware(loaded.law, budget.flops, inference_tokens)
        if inference_tokens is not None
        else None
    )
    constrained = (
        data_constrained(loaded.law, budget.flops, unique_tokens)
        if unique_tokens is not None
        else None
    )
    shape = shape_for_law_n(optimum.n, loaded.n_kind, family, vocab_size, seq_len)
    counts = count_params(shape)
    exact = flops_per_token(shape).exact * optimum.d
    training = hardware.training(optimum.flops)
    memory = training_memory(
        counts.total,
        shape.n_layer,
        shape.d_model,
        shape.n_head,
        seq_len,
        micro_batch,
        gpus,
        None if device is None else device.memory_bytes,
        flash_attention,
        memory_headroom,
    )
    choice = choose_strategy(memory)
    inference = _inference(
        family,
        hardware,
        shape.n_layer,
        shape.d_model,
        counts.total,
        seq_len,
        batch,
        inference_tokens,
    )

    def costs(allocation: Allocation) -> dict[str, float | None]:
        row = hardware.training(allocation.flops)
        if device is None:
            return {**row, "inference_gpu_hours": None}
        if allocation is optimum:
            cost = inference
        else:
            n_layer, d_model = estimated_depth_and_width(allocation.n)
            cost = _inference(
                family, hardware, n_layer, d_model, allocation.n, seq_len, batch, inference_tokens
            )
        if _is_encoder(family):
            row["encoder_ms_per_sequence"] = cost.encoder_seconds_per_sequence * 1e3
        else:
            row["decode_ms_per_token"] = cost.decode_seconds_per_token_batch1 * 1e3
        row["inference_gpu_hours"] = cost.lifetime_gpu_hours
        if hardware.price_per_gpu_hour is not None and cost.lifetime_gpu_hours is not None:
            row["inference_cost_dollars"] = cost.lifetime_gpu_hours * hardware.price_per_gpu_hour
        return row

    rows = build_candidates(
        loaded,
        budget.flops,
        optimum,
        inference_aware=aware,
        data_constrained=constrained,
        unique_tokens=unique_tokens,
        inference_tokens=inference_tokens,
        costs=costs,
        sizes=candidate_sizes,
    )
    index, reason = recommend(rows, loss_tolerance)
    interval = loss_interval(loaded, optimum.n, optimum.d)
    plan = Plan(
        law=loaded,
        budget=budget,
        hardware=hardware,
        compute_optimal=optimum,
        loss_interval=interval,
        inference_aware=aware,
        data_constrained=constrained,
        shape=shape,
        shape_flops_exact=exact,
        training=training,
        memory=memory,
        memory_choice=choice,
        inference=inference,
        candidates=rows,
        recommended=index,
        reason=reason,
        unique_tokens=unique_tokens,
        family=family,
        flash_attention=flash_attention,
        allocation_interval=allocation_intervals(loaded, optimum.flops),
        warnings=_family_warnings(loaded, family),
    )
    return plan


def _family_warnings(loaded: LoadedLaw, family: str) -> tuple[str, ...]:
    """A warning when a law fitted to decoder language models plans an encoder family."""
    if not _is_encoder(family) or loaded.model_kind != "decoder":
        return ()
    return (
        f"the law {loaded.name} was fitted to decoder-only language models (next-token "
        f"loss); a {family}-family encoder trained by masked-language modelling has another "
        "loss and another compute-optimal allocation, so N*, D* and the loss are a "
        f"decoder's. Fit a law to your own {family} runs (`scalinglab fit --json`) and pass "
        "it with --law",
    )


def _inference(
    family: str,
    hardware: Hardware,
    n_layer: int,
    d_model: int,
    n_params: float,
    context: int,
    batch: int,
    lifetime_tokens: float | None,
) -> InferenceCost | None:
    if hardware.gpu is None:
        return None
    return inference_cost(
        n_params,
        n_layer,
        d_model,
        prompt_tokens=context,
        context=context,
        batch=batch,
        bandwidth=hardware.gpu.bandwidth_bytes_per_s,
        peak_flops=hardware.gpu.peak_flops(hardware.precision),
        bytes_per_value=BYTES_PER_VALUE[hardware.precision],
        lifetime_tokens=lifetime_tokens,
        encoder=_is_encoder(family),
    )


def _is_encoder(family: str) -> bool:
    """Whether the family is served as an encoder (one pass per sequence), not decoded."""
    from scalinglab.models.families import get_family

    return get_family(family).inference == "encoder"
