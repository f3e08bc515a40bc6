"""Causal self-attention, with a faster path for bf16 training on CPU.

``F.scaled_dot_product_attention`` picks PyTorch's flash kernel on CPU. In fp32 that
kernel is the fastest choice; in bf16 it is not at the contexts a CPU trains: two batched
bf16 matmuls and a softmax over the full ``(T, T)`` score matrix, with the hand-written
backward of :class:`_ExplicitCausalAttention`, run forward and backward in about half the
time (batch 4, 4 heads of 64, 2 threads, torch 2.13: 1.2 vs 3.6 ms at T = 128, 3.8 vs 8.0
at 256, 15.6 vs 26.4 at 512; parity at 1024, and slower at 2048, hence
:data:`EXPLICIT_MAX_CONTEXT`). The backward keeps the bf16 probabilities, and the softmax
backward leaves the masked (future) positions at zero by itself, so no mask pass runs on
the way back. ``benchmarks/train_throughput.py`` measures the whole training step.

Precision: scores are rounded to bf16 before the softmax (which accumulates in fp32), as
in the eager attention of Hugging Face's GPT-2 under bf16 autocast; the flash kernel keeps
fp32 scores. Everything else (fp32, GPUs, dropout, padding masks) uses SDPA.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)

#: Longest context (tokens) for which the explicit bf16 path was measured faster.
EXPLICIT_MAX_CONTEXT = 512


def causal_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
) -> torch.Tensor:
    """Attention of ``q``, ``k``, ``v`` ``(B, heads, T, head_dim)``: causal when
    ``attn_mask`` is ``None``, else as the boolean ``attn_mask`` (True = may attend) says.
    Scale ``1 / sqrt(head_dim)``; returns ``(B, heads, T, head_dim)``."""
    if _explicit_path_applies(q, attn_mask, dropout_p):
        return _ExplicitCausalAttention.apply(q, k, v)
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=attn_mask is None
    )


def causal_padding_mask(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """Boolean ``(B, 1, T, T)`` mask: causal and not padding (each token always sees
    itself, so no row is empty); ``None`` lets attention use its fast causal path."""
    if attention_mask is None:
        return None
    T = attention_mask.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool, device=attention_mask.device).tril()
    keys = attention_mask.bool()[:, None, None, :]
    eye = torch.eye(T, dtype=torch.bool, device=attention_mask.device)
    return (causal & keys) | eye


def _explicit_path_applies(
    q: torch.Tensor, attn_mask: torch.Tensor | None, dropout_p: float
) -> bool:
    return (
        q.device.type == "cpu"
        and q.dtype == torch.bfloat16
        and q.shape[-2] <= EXPLICIT_MAX_CONTEXT
        and attn_mask is None
        and dropout_p == 0.0
        and not torch.compiler.is_compiling()
    )


class _ExplicitCausalAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        scale = q.shape[-1] ** -0.5
        length = q.shape[-2]
        scores = torch.matmul(q * scale, k.transpose(-1, -2))
        future = torch.ones(length, length, dtype=torch.bool, device=q.device).triu_(1)
        probs = torch.softmax(scores.masked_fill_(future, float("-inf")), dim=-1)
        ctx.save_for_backward(q, k, v, probs)
        ctx.scale = scale
        return torch.matmul(probs, v)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        q, k, v, probs = ctx.saved_tensors
        grad_out = grad_out.to(v.dtype)
        grad_v = torch.matmul(probs.transpose(-1, -2), grad_out)
        grad_probs = torch.matmul(grad_out, v.transpose(-1, -2))
        grad_scores = torch._softmax_backward_data(grad_probs, probs, -1, probs.dtype)
        grad_scores.mul_(ctx.scale)
        grad_q = torch.matmul(grad_scores, k)
        grad_k = torch.matmul(grad_scores.transpose(-1, -2), q)
        return grad_q, grad_k, grad_v
