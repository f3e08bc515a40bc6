"""The candidate table: model sizes around ``N*``, each with cost and predicted loss.

Like the seed case study (BERT-family sizes against training and inference time), but
from the law: each row is trained compute-optimally for its own size (the tokens at
which it is the compute-optimal model), so cost grows with size while the loss gains
shrink. The sizes are ``k N*`` for ``k`` in :data:`SIZE_FACTORS`, or the user's own
(:func:`scalinglab.plan.request.parse_sizes`), with the ``N*`` row always included. Rows
for the inference-aware and data-constrained optima are added when asked for.

Hardware figures of a row come from the planner's ``costs`` function
(:meth:`scalinglab.plan.costs.CostModel.costs`).

The recommended row: among rows inside the training budget whose predicted loss is
within ``tolerance`` nats of the best in-budget loss, the one with the least lifetime
compute (training ``6ND`` plus inference ``2N`` per lifetime token). It is always in
budget; an out-of-budget row that would save lifetime compute (the inference-aware
optimum trains longer than the budget buys) is named in the reason instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scalinglab.plan.allocation import (
    INFERENCE_FLOPS_PER_PARAM_TOKEN,
    Allocation,
    optimal_compute_for_n,
)
from scalinglab.plan.figure import size_label
from scalinglab.plan.law_source import LoadedLaw
from scalinglab.plan.loss import loss_interval, predict_loss

if TYPE_CHECKING:
    from scalinglab.plan.downstream import DownstreamRow

SIZE_FACTORS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
_SLACK = 1e-9


@dataclass(frozen=True)
class Candidate:
    """One row: an allocation, its predicted loss (with interval) and its costs.

    ``costs`` holds hardware figures when a GPU is given: ``train_gpu_hours``,
    ``wall_hours``, ``inference_gpu_hours``, ``decode_ms_per_token`` (or
    ``encoder_ms_per_sequence``), and with a price ``train_cost_dollars``,
    ``inference_cost_dollars`` (with lifetime inference tokens) and
    ``total_cost_dollars`` (see :mod:`scalinglab.plan.costs`). ``downstream`` is the
    fine-tuned score a ``finetune-sweep`` law predicts for the row
    (:mod:`scalinglab.plan.downstream`), when the plan was given one.
    """

    label: str
    allocation: Allocation
    loss: float
    loss_interval: tuple[float, float] | None
    lifetime_flops: float
    within_budget: bool
    costs: dict[str, float | None]
    downstream: DownstreamRow | None = None

    def to_dict(self) -> dict[str, Any]:
        extra = {} if self.downstream is None else {"downstream": self.downstream.to_dict()}
        return {
            "label": self.label,
            **self.allocation.to_dict(),
            "loss": self.loss,
            "loss_interval": self.loss_interval,
            "lifetime_flops": self.lifetime_flops,
            "within_budget": self.within_budget,
            **self.costs,
            **extra,
        }


def build_candidates(
    loaded: LoadedLaw,
    budget_flops: float,
    optimum: Allocation,
    *,
    inference_aware: Allocation | None,
    data_constrained: Allocation | None,
    unique_tokens: float | None,
    inference_tokens: float | None,
    costs: Callable[[Allocation], dict[str, float | None]],
    sizes: Sequence[float] | None = None,
) -> list[Candidate]:
    """Rows for ``N*`` and ``SIZE_FACTORS x N*`` (or ``sizes``) and the optional optima,
    smallest ``N`` first."""
    allocations: list[tuple[str, Allocation]] = [("N* (compute-optimal)", optimum)]
    if sizes is None:
        for factor in SIZE_FACTORS:
            if factor != 1.0:
                n = factor * optimum.n
                allocations.append((f"{factor:g} x N*", optimal_compute_for_n(loaded.law, n)))
    else:
        for n in sizes:
            allocations.append((size_label(n), optimal_compute_for_n(loaded.law, n)))
    if inference_aware is not None:
        allocations.append(("inference-aware", inference_aware))
    if data_constrained is not None:
        allocations.append(("data-constrained", data_constrained))
    rows = []
    for label, allocation in allocations:
        loss = float(predict_loss(loaded.law, allocation.n, allocation.d, unique_tokens))
        inference = (
            INFERENCE_FLOPS_PER_PARAM_TOKEN * allocation.n * inference_tokens
            if inference_tokens
            else 0.0
        )
        rows.append(
            Candidate(
                label=label,
                allocation=allocation,
                loss=loss,
                loss_interval=loss_interval(loaded, allocation.n, allocation.d, unique_tokens),
                lifetime_flops=allocation.flops + inference,
                within_budget=allocation.flops <= budget_flops * (1.0 + 1e-6),
                costs=costs(allocation),
            )
        )
    return sorted(rows, key=lambda row: row.allocation.n)


def recommend(rows: list[Candidate], tolerance: float = 0.0) -> tuple[int, str]:
    """Index of the recommended row and why (see the module docstring).

    Only rows inside the training budget are recommended. A row outside it that would
    save lifetime compute at an eligible loss (the inference-aware optimum, which trains
    longer than the budget buys) is named in the reason, with the compute it needs.
    """
    in_budget = [i for i, row in enumerate(rows) if row.within_budget]
    best = min(rows[i].loss for i in in_budget)
    eligible = [i for i in in_budget if rows[i].loss <= best + tolerance + _SLACK]
    chosen = min(eligible, key=lambda i: (rows[i].lifetime_flops, rows[i].loss))
    row = rows[chosen]
    best_row = min((rows[i] for i in in_budget), key=lambda r: r.loss)
    if row is best_row:
        reason = f"lowest predicted loss ({row.loss:.4f} nats/token) that the training budget buys"
    else:
        saving = 1.0 - row.lifetime_flops / best_row.lifetime_flops
        reason = (
            f"{saving:.0%} less lifetime compute than {best_row.label} at a predicted loss "
            f"{row.loss - best_row.loss:+.4f} nats/token from the best in-budget loss"
        )
    return chosen, reason + _over_budget_note(rows, row, best + tolerance)


def _over_budget_note(rows: list[Candidate], chosen: Candidate, max_loss: float) -> str:
    """A note on the out-of-budget row that would save the most lifetime compute, if any."""
    cheaper = [
        r
        for r in rows
        if not r.within_budget
        and r.loss <= max_loss + _SLACK
        and r.lifetime_flops < chosen.lifetime_flops
    ]
    if not cheaper:
        return ""
    row = min(cheaper, key=lambda r: r.lifetime_flops)
    saving = 1.0 - row.lifetime_flops / chosen.lifetime_flops
    over = row.allocation.flops / chosen.allocation.flops - 1.0
    return (
        f"; not recommended: {row.label} ({size_label(row.allocation.n)} parameters) would "
        f"save {saving:.0%} of lifetime compute but its training needs {over:.0%} more "
        "compute than the budget"
    )
