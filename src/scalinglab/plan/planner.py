"""``make_plan``: from a law and a budget to model size, tokens, loss, time, memory, cost.

This is the one public call behind ``scalinglab plan``: it takes a
:class:`~scalinglab.plan.request.PlanRequest` (the options, checked), loads the law
(:mod:`~scalinglab.plan.law_source`), turns the budget into FLOPs
(:mod:`~scalinglab.plan.budget`), allocates them (:mod:`~scalinglab.plan.allocation`),
picks a shape for ``N*`` (:mod:`~scalinglab.plan.shapes`), and prices training
(:mod:`~scalinglab.plan.training_cost`), memory (:mod:`~scalinglab.plan.memory`) and
inference (:mod:`~scalinglab.plan.inference`, :mod:`~scalinglab.plan.costs`) on the
chosen hardware (:mod:`~scalinglab.plan.hardware`), then tabulates candidates
(:mod:`~scalinglab.plan.candidates`), each with the fine-tuned score a
``finetune-sweep`` law predicts when one is given (:mod:`~scalinglab.plan.downstream`).
Every reported number is a :class:`~scalinglab.plan.figure.Figure` saying how it was
obtained.

>>> plan = make_plan(PlanRequest(law="epoch2024", flops=5.76e23))
>>> round(plan.compute_optimal.n / 1e9), round(plan.compute_optimal.tokens_per_param)
(72, 18)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from scalinglab.models.counting import count_params, flops_per_token
from scalinglab.models.shape import ShapeSpec
from scalinglab.plan.allocation import (
    Allocation,
    compute_optimal,
    data_constrained,
    inference_aware,
)
from scalinglab.plan.budget import Budget, resolve_budget
from scalinglab.plan.candidates import Candidate, build_candidates, recommend
from scalinglab.plan.costs import CostModel, total_cost
from scalinglab.plan.downstream import (
    Downstream,
    downstream_rows,
    load_sweep_law,
    recommend_by_score,
)
from scalinglab.plan.figure import Figure
from scalinglab.plan.figures import plan_figures
from scalinglab.plan.hardware import find_gpu, load_catalogue
from scalinglab.plan.inference import InferenceCost
from scalinglab.plan.intervals import allocation_intervals
from scalinglab.plan.law_source import LoadedLaw, load_law
from scalinglab.plan.loss import loss_interval
from scalinglab.plan.memory import TrainingMemory, choose_strategy, training_memory
from scalinglab.plan.request import PlanRequest
from scalinglab.plan.shapes import shape_for_law_n
from scalinglab.plan.training_cost import Hardware, resolve_mfu


@dataclass(frozen=True)
class Plan:
    """The answer to ``request``: allocations, shape, training, memory, inference and
    candidates.

    ``compute_optimal`` is the least-loss allocation of ``budget.flops`` (all tokens
    unique); training, memory and inference figures are for its ``shape``.
    """

    request: PlanRequest
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
    allocation_interval: dict[str, tuple[float, float]] | None = None
    warnings: tuple[str, ...] = ()
    downstream: Downstream | None = None

    @property
    def inference_cost_dollars(self) -> float | None:
        """Dollars of ``N*``'s lifetime inference (needs a GPU, a price and inference
        tokens)."""
        if self.inference is None:
            return None
        return self.hardware.dollars(self.inference.lifetime_gpu_hours)

    @property
    def total_cost_dollars(self) -> float | None:
        """Training plus lifetime inference dollars of ``N*`` (:func:`costs.total_cost`)."""
        return total_cost(self.training["train_cost_dollars"], self.inference_cost_dollars)

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
            "inference_cost_dollars": self.inference_cost_dollars,
            "total_cost_dollars": self.total_cost_dollars,
            "memory_per_gpu_bytes": (chosen.total_checkpointed if checkpointed else chosen.total)
            if has_gpu
            else None,
            "memory_strategy": chosen.strategy if has_gpu else None,
            "activation_checkpointing": checkpointed if has_gpu else None,
            "flash_attention": self.request.flash_attention,
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
                "wall_hours": self.budget.wall_hours,
                "days": self.budget.days,
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
            "downstream": None if self.downstream is None else self.downstream.to_dict(),
            "figures": [figure.to_dict() for figure in self.figures],
        }


def _maybe(allocation: Allocation | None) -> dict[str, Any] | None:
    return None if allocation is None else allocation.to_dict()


def make_plan(request: PlanRequest) -> Plan:
    """Plan a training run for ``request`` (see :class:`PlanRequest` for the options and
    their units, and docs/plan.md).

    With a fit's bootstrap samples, ``N*``, ``D*``, tokens per parameter and the loss get
    intervals. ``Plan.warnings`` says when the law was fitted to another kind of model
    than ``request.family`` (a decoder law for ``bert``). Errors of a law, GPU or
    calibration file that cannot be used are one-line :class:`ScalingLabError`.
    """
    loaded = load_law(request.law)
    hardware = _hardware(request)
    budget = resolve_budget(
        loaded.law, request, hardware.gpu, hardware.peak, hardware.calibration.mfu
    )
    optimum = compute_optimal(loaded.law, budget.flops)
    aware, constrained = _other_optima(loaded, budget.flops, request)
    shape = shape_for_law_n(
        optimum.n, loaded.n_kind, request.family, request.vocab_size, request.seq_len
    )
    costs = CostModel(
        hardware,
        request.encoder,
        request.seq_len,
        request.batch,
        request.inference_tokens,
        shape,
        optimum.n,
    )
    memory = _memory(request, shape, hardware)
    rows = build_candidates(
        loaded,
        budget.flops,
        optimum,
        inference_aware=aware,
        data_constrained=constrained,
        unique_tokens=request.unique_tokens,
        inference_tokens=request.inference_tokens,
        costs=costs.costs,
        sizes=request.candidate_sizes,
    )
    index, reason = recommend(rows, request.loss_tolerance)
    downstream = _downstream(request, loaded, rows)
    if downstream is not None:
        rows = [replace(row, downstream=d) for row, d in zip(rows, downstream.rows, strict=True)]
    return Plan(
        request=request,
        law=loaded,
        budget=budget,
        hardware=hardware,
        compute_optimal=optimum,
        loss_interval=loss_interval(loaded, optimum.n, optimum.d),
        inference_aware=aware,
        data_constrained=constrained,
        shape=shape,
        shape_flops_exact=flops_per_token(shape).exact * optimum.d,
        training=hardware.training(optimum.flops),
        memory=memory,
        memory_choice=choose_strategy(memory),
        inference=costs.inference(optimum.n),
        candidates=rows,
        recommended=index,
        reason=reason,
        allocation_interval=allocation_intervals(loaded, optimum.flops),
        warnings=_family_warnings(loaded, request) + (downstream.warnings if downstream else ()),
        downstream=downstream,
    )


def _downstream(
    request: PlanRequest, loaded: LoadedLaw, rows: list[Candidate]
) -> Downstream | None:
    """The ``finetune-sweep`` law's score on each candidate's planned shape, and the
    score-aware pick (:mod:`scalinglab.plan.downstream`), when the request has a sweep."""
    if request.finetune_sweep is None:
        return None
    law = load_sweep_law(request.finetune_sweep, request.finetune_method)
    shapes = [
        shape_for_law_n(
            row.allocation.n, loaded.n_kind, request.family, request.vocab_size, request.seq_len
        )
        for row in rows
    ]
    scored = downstream_rows(law, shapes)
    index, reason = recommend_by_score(law, scored, rows, request.f1_tolerance)
    return Downstream(law, scored, index, reason, request.f1_tolerance)


def _hardware(request: PlanRequest) -> Hardware:
    """The catalogue device (with the user's hardware file), its MFU and price."""
    catalogue = load_catalogue(request.hardware_file)
    device = find_gpu(request.gpu, catalogue) if request.gpu is not None else None
    return Hardware(
        device,
        request.gpus,
        request.precision,
        resolve_mfu(request.mfu, request.calibrate_from, catalogue),
        request.price_per_gpu_hour,
    )


def _other_optima(
    loaded: LoadedLaw, flops: float, request: PlanRequest
) -> tuple[Allocation | None, Allocation | None]:
    """The inference-aware and data-constrained optima, each when the request asks."""
    aware = (
        inference_aware(loaded.law, flops, request.inference_tokens)
        if request.inference_tokens is not None
        else None
    )
    constrained = (
        data_constrained(loaded.law, flops, request.unique_tokens)
        if request.unique_tokens is not None
        else None
    )
    return aware, constrained


def _memory(request: PlanRequest, shape: ShapeSpec, hardware: Hardware) -> list[TrainingMemory]:
    """Training memory per GPU of ``shape`` under each sharding strategy."""
    return training_memory(
        count_params(shape).total,
        shape.n_layer,
        shape.d_model,
        shape.n_head,
        request.seq_len,
        request.micro_batch,
        request.gpus,
        None if hardware.gpu is None else hardware.gpu.memory_bytes,
        request.flash_attention,
        request.memory_headroom,
    )


def _family_warnings(loaded: LoadedLaw, request: PlanRequest) -> tuple[str, ...]:
    """A warning when a law fitted to decoder language models plans an encoder family."""
    family = request.family
    if not request.encoder or loaded.model_kind != "decoder":
        return ()
    return (
        f"the law {loaded.name} was fitted to decoder-only language models (next-token "
        f"loss); a {family}-family encoder trained by masked-language modelling has another "
        "loss and another compute-optimal allocation, so N*, D* and the loss are a "
        f"decoder's. Fit a law to your own {family} runs (`scalinglab fit --json`) and pass "
        "it with --law",
    )
