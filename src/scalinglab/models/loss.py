"""Token cross-entropy in nats, computed in fp32, fast on CPU.

``F.cross_entropy(logits.float(), labels)`` over a ``(tokens, vocab)`` matrix makes an fp32
copy of the logits, writes fp32 log-probabilities and reads both back in the backward
pass: on CPU, for a vocabulary of 8192, that memory traffic costs as much time as the
unembedding matmul itself. :class:`_BlockwiseCrossEntropy` computes the same quantity one
block of rows at a time (each block's fp32 values fit in the L2 cache) and keeps only the
per-row log-sum-exp for the backward pass. Loss and gradient equal the fp32 reference to
rounding (tested). On other devices, and under ``torch.compile`` (whose generated kernels
fuse the fp32 loss themselves), the library's ``F.cross_entropy`` is used.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)

IGNORE_INDEX = -100
#: Elements per block: 256 Ki fp32 values = 1 MiB, about one core's L2 cache.
BLOCK_ELEMENTS = 1 << 18


def cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, reduction: Literal["mean", "sum"] = "mean"
) -> torch.Tensor:
    """Cross-entropy (nats) of ``logits`` ``(..., vocab)`` against ``labels`` ``(...)`` over
    the positions whose label is not -100, in fp32 whatever the logits' dtype: the mean
    per labelled token, or with ``reduction="sum"`` the sum (for gradient accumulation).
    With no labelled position the loss is 0 (and so is its gradient)."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_labels = labels.reshape(-1)
    if flat_logits.device.type != "cpu" or torch.compiler.is_compiling():
        return F.cross_entropy(
            flat_logits.float(), flat_labels, ignore_index=IGNORE_INDEX, reduction=reduction
        )
    return _BlockwiseCrossEntropy.apply(flat_logits, flat_labels, reduction == "mean")


class _BlockwiseCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, labels: torch.Tensor, mean: bool) -> torch.Tensor:  # type: ignore[override]
        rows = max(1, BLOCK_ELEMENTS // logits.shape[1])
        lse = torch.empty(logits.shape[0], dtype=torch.float32, device=logits.device)
        for start in range(0, logits.shape[0], rows):
            lse[start : start + rows] = torch.logsumexp(logits[start : start + rows].float(), -1)
        keep = labels != IGNORE_INDEX
        target = logits.gather(1, labels.clamp(min=0)[:, None]).squeeze(1).float()
        divisor = keep.sum().clamp(min=1) if mean else torch.ones((), device=logits.device)
        ctx.save_for_backward(logits, labels, lse, divisor)
        ctx.rows = rows
        return ((lse - target) * keep).sum() / divisor

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        logits, labels, lse, divisor = ctx.saved_tensors
        scale = (grad / divisor) * (labels != IGNORE_INDEX)
        targets = labels.clamp(min=0)[:, None]
        grad_logits = torch.empty_like(logits)
        for start in range(0, logits.shape[0], ctx.rows):
            rows = slice(start, start + ctx.rows)
            probs = torch.exp(logits[rows].float() - lse[rows, None])
            probs.scatter_add_(
                1, targets[rows], torch.full_like(targets[rows], -1.0, dtype=probs.dtype)
            )
            grad_logits[rows] = probs * scale[rows, None]
        return grad_logits, None, None
