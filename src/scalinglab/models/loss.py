"""Mean token cross-entropy in nats, computed in fp32, fast on CPU.

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

import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)

IGNORE_INDEX = -100
#: Elements per block: 256 Ki fp32 values = 1 MiB, about one core's L2 cache.
BLOCK_ELEMENTS = 1 << 18


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats) of ``logits`` ``(..., vocab)`` against ``labels`` ``(...)``
    over the positions whose label is not -100, in fp32 whatever the logits' dtype.
    With no labelled position the loss is 0 (and so is its gradient)."""
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_labels = labels.reshape(-1)
    if flat_logits.device.type != "cpu" or torch.compiler.is_compiling():
        return F.cross_entropy(flat_logits.float(), flat_labels, ignore_index=IGNORE_INDEX)
    return _BlockwiseCrossEntropy.apply(flat_logits, flat_labels)


class _BlockwiseCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        rows = max(1, BLOCK_ELEMENTS // logits.shape[1])
        lse = torch.empty(logits.shape[0], dtype=torch.float32, device=logits.device)
        for start in range(0, logits.shape[0], rows):
            block = logits[start : start + rows].float()
            lse[start : start + rows] = torch.logsumexp(block, dim=-1)
        keep = labels != IGNORE_INDEX
        target = logits.gather(1, labels.clamp(min=0)[:, None]).squeeze(1).float()
        count = keep.sum().clamp(min=1)
        ctx.save_for_backward(logits, labels, lse)
        ctx.rows = rows
        return ((lse - target) * keep).sum() / count

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        logits, labels, lse = ctx.saved_tensors
        keep = labels != IGNORE_INDEX
        scale = (grad / keep.sum().clamp(min=1)) * keep
        targets = labels.clamp(min=0)[:, None]
        grad_logits = torch.empty_like(logits)
        for start in range(0, logits.shape[0], ctx.rows):
            rows = slice(start, start + ctx.rows)
            probs = torch.exp(logits[rows].float() - lse[rows, None])
            probs.scatter_add_(
                1, targets[rows], torch.full_like(targets[rows], -1.0, dtype=probs.dtype)
            )
            grad_logits[rows] = probs * scale[rows, None]
        return grad_logits, None
