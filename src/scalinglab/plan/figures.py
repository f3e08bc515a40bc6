"""A plan's figures, in the order the CLI prints them: each component makes its own.

Budget (:meth:`Budget.figures <scalinglab.plan.budget.Budget.figures>`), allocation and
the inference-aware and data-constrained optima (:mod:`scalinglab.plan.allocation`), the
shape (:func:`~scalinglab.plan.shapes.shape_figures`), hardware and training cost
(:meth:`Hardware.figures <scalinglab.plan.training_cost.Hardware.figures>` and
``training_figures``), memory
(:func:`~scalinglab.plan.memory.memory_figures`), inference
(:meth:`InferenceCost.figures <scalinglab.plan.inference.InferenceCost.figures>`) and
the total cost (:func:`~scalinglab.plan.costs.total_cost_figures`), and with a
``finetune-sweep`` law the downstream score
(:meth:`Downstream.figures <scalinglab.plan.downstream.Downstream.figures>`). Each is a
:class:`~scalinglab.plan.figure.Figure` with its source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scalinglab.plan.allocation import (
    allocation_figures,
    data_constrained_figures,
    inference_aware_figures,
)
from scalinglab.plan.costs import total_cost_figures
from scalinglab.plan.figure import Figure
from scalinglab.plan.memory import memory_figures
from scalinglab.plan.shapes import shape_figures

if TYPE_CHECKING:
    from scalinglab.plan.planner import Plan


def plan_figures(plan: Plan) -> list[Figure]:
    """Every headline number of ``plan`` with its source; the CLI prints these as tables."""
    request, optimum = plan.request, plan.compute_optimal
    figures = [
        *plan.budget.figures(plan.law.source),
        *allocation_figures(
            plan.law, plan.budget.flops, optimum, plan.loss_interval, plan.allocation_interval
        ),
    ]
    if plan.inference_aware is not None:
        figures += inference_aware_figures(plan.inference_aware, optimum)
    if plan.data_constrained is not None and request.unique_tokens is not None:
        figures += data_constrained_figures(
            plan.law, plan.data_constrained, optimum, request.unique_tokens
        )
    figures += shape_figures(plan.shape, optimum.flops, plan.shape_flops_exact)
    figures += plan.hardware.figures() + plan.hardware.training_figures(plan.training)
    figures += memory_figures(*plan.memory_choice, request.flash_attention)
    if plan.inference is not None:
        figures += plan.inference.figures(request.encoder, request.price_per_gpu_hour)
    figures += total_cost_figures(plan.training["train_cost_dollars"], plan.inference_cost_dollars)
    if plan.downstream is not None:
        figures += plan.downstream.figures(plan.candidates)
    return figures
