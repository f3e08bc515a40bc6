"""One optimizer step of a run, and the summed loss it and the evaluation are built on.

The loss of a step is summed over target tokens and divided by the global count of
target tokens (over all micro-batches and ranks), so gradient accumulation and data
parallelism give the gradient of the single-process batch: each rank scales its sum by
``world_size / global_count`` because the data-parallel gradient reduction averages over
ranks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from scalinglab.data.pipeline import PreparedData
from scalinglab.models.loss import cross_entropy
from scalinglab.train.distributed import DistContext
from scalinglab.train.precision import bf16_autocast


def loss_sum(
    model: nn.Module, batch: dict[str, torch.Tensor], *, bf16: bool, nsp: bool = True
) -> torch.Tensor:
    """Summed cross-entropy over target tokens (nats; + summed NSP loss when present and
    ``nsp``), under bf16 autocast when ``bf16``."""
    inputs = {"input_ids": batch["input_ids"]}
    if "token_type_ids" in batch:
        inputs["token_type_ids"] = batch["token_type_ids"]
    with bf16_autocast(batch["input_ids"].device.type, bf16):
        out = model(**inputs)
    loss = cross_entropy(out.logits, batch["labels"], reduction="sum")
    if nsp and "next_sentence_label" in batch and out.seq_relationship_logits is not None:
        loss = loss + F.cross_entropy(
            out.seq_relationship_logits.float(), batch["next_sentence_label"], reduction="sum"
        )
    return loss


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, torch.Tensor]:
    """Numpy arrays or host tensors (pinned ones copy asynchronously) on ``device``."""
    return {k: torch.as_tensor(v).to(device, non_blocking=True) for k, v in batch.items()}


def host_micro_batches(
    data: PreparedData, step: int, *, batch_size: int, micro_batch_size: int, ctx: DistContext
) -> Iterator[dict[str, np.ndarray]]:
    """This rank's micro-batches of global step ``step`` (disjoint slices of the same
    global sample indices for every world size), as host arrays."""
    per_rank = batch_size // ctx.world_size
    first = step * batch_size + ctx.rank * per_rank
    for offset in range(0, per_rank, micro_batch_size):
        yield data.train.batch(range(first + offset, first + offset + micro_batch_size))


def optimizer_step(
    runner: nn.Module,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: list[dict[str, torch.Tensor]],
    ctx: DistContext,
    *,
    grad_clip: float,
    bf16: bool,
    defer_sync: bool = False,
) -> float:
    """Forward and backward over ``batches`` through ``runner`` (the model as wrapped for
    compilation or data parallelism), clip the gradient norm of ``model`` at
    ``grad_clip`` (none when 0), step and zero the gradients; returns the global mean
    training loss (nats/token). ``defer_sync``: ``runner`` is DDP, whose gradients are
    accumulated locally (``no_sync``) and all-reduced on the last micro-batch only."""
    local_count = sum(int((b["labels"] != -100).sum()) for b in batches)
    counts = torch.tensor([float(local_count)], dtype=torch.float64)
    global_count = max(1.0, float(ctx.all_sum(counts)[0]))
    total = torch.zeros((), dtype=torch.float64)
    for index, batch in enumerate(batches):
        last = index == len(batches) - 1
        sync = contextlib.nullcontext()
        if defer_sync and not last:
            sync = runner.no_sync()  # type: ignore[operator]
        with sync:
            summed = loss_sum(runner, batch, bf16=bf16)
            (summed * (ctx.world_size / global_count)).backward()
        total += summed.detach().double().cpu()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(ctx.all_sum(total.reshape(1))[0]) / global_count


@torch.no_grad()
def validation_sums(
    model: nn.Module,
    data: PreparedData,
    ctx: DistContext,
    *,
    micro_batch_size: int,
    device: torch.device,
    bf16: bool,
    lockstep: bool = False,
) -> tuple[float, int]:
    """The summed validation loss (nats) and the number of target tokens over the whole
    validation set, each rank evaluating every ``world_size``-th sample; ``model`` is
    left in training mode. ``lockstep``: every rank runs as many forward passes as rank 0
    (which has the most samples), as a sharded model's collectives need; a rank out of
    samples evaluates sample 0 again and discards it."""
    model.eval()
    total = torch.zeros(2, dtype=torch.float64)
    indices = list(range(ctx.rank, data.n_val_samples, ctx.world_size))
    most = len(range(0, data.n_val_samples, ctx.world_size)) if lockstep else len(indices)
    for offset in range(0, most, micro_batch_size):
        chunk = indices[offset : offset + micro_batch_size]
        batch = to_device(data.val.batch(chunk or [0]), device)
        summed = float(loss_sum(model, batch, bf16=bf16, nsp=False))
        if chunk:
            total[0] += summed
            total[1] += int((batch["labels"] != -100).sum())
    ctx.all_sum(total)
    model.train()
    return float(total[0]), int(total[1])
