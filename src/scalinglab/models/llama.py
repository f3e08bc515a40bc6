"""Llama: a decoder-only causal language model in the Llama layout, built from a ShapeSpec.

Pre-RMSNorm blocks (``x + attn(norm(x))``, ``x + mlp(norm(x))``), rotary position
embeddings (RoPE, base :data:`ROPE_THETA`, rotating the two halves of each head as
Hugging Face's ``rotate_half`` does), a SwiGLU MLP ``down(silu(gate(x)) * up(x))`` of width
``d_ff``, no biases anywhere, a final RMSNorm and an unembedding tied to the token
embedding unless ``shape.tied_embeddings`` is false. With ``shape.n_kv_head < n_head`` the
attention is grouped-query (Ainslie et al. 2023): key/value head ``j`` serves query heads
``j * g ... (j + 1) * g - 1`` with ``g = n_head / n_kv_head``, as in HF's ``repeat_kv``.

Module names equal Hugging Face's ``LlamaForCausalLM`` (``model.layers.0.self_attn.q_proj``,
``model.layers.0.mlp.gate_proj``, ``model.norm``, ``lm_head``), and every weight has HF's
layout, so the state_dict is an HF checkpoint as it is. ``labels`` are the aligned
next-token targets, as for :class:`scalinglab.models.gpt.GPT` (no shift here).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import nn

from scalinglab.models.attention import causal_attention
from scalinglab.models.causal_lm import CausalLM
from scalinglab.models.family.llama import RMS_NORM_EPS, ROPE_THETA
from scalinglab.models.shape import ShapeSpec


def rope_tables(n_ctx: int, head_dim: int, theta: float = ROPE_THETA) -> torch.Tensor:
    """``(2, n_ctx, head_dim)`` fp32 cosines and sines of the rotary angles
    ``position / theta**(2i / head_dim)``, each frequency written twice (both halves)."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(n_ctx, dtype=torch.float32), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return torch.stack([angles.cos(), angles.sin()])


def apply_rope(x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` ``(B, heads, T, head_dim)`` by the angles of positions ``0 .. T-1``."""
    cos, sin = rope[0, : x.shape[-2]].to(x.dtype), rope[1, : x.shape[-2]].to(x.dtype)
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-second, first], dim=-1) * sin


class LlamaAttention(nn.Module):
    def __init__(self, shape: ShapeSpec, dropout: float) -> None:
        super().__init__()
        self.n_head, self.n_kv_head, self.head_dim = shape.n_head, shape.n_kv_head, shape.head_dim
        d_kv = shape.n_kv_head * shape.head_dim  # type: ignore[operator]
        self.q_proj = nn.Linear(shape.d_model, shape.d_model, bias=False)
        self.k_proj = nn.Linear(shape.d_model, d_kv, bias=False)
        self.v_proj = nn.Linear(shape.d_model, d_kv, bias=False)
        self.o_proj = nn.Linear(shape.d_model, shape.d_model, bias=False)
        self.dropout = dropout
        self.resid_dropout = nn.Dropout(dropout)
        #: Extra factor on queries (1: scores scaled by 1/sqrt(d_head); muP sets
        #: 1/sqrt(d_head), so 1/d_head in all: :mod:`scalinglab.models.mup`).
        self.query_multiplier = 1.0

    @torch.no_grad()
    def fold_query_multiplier(self) -> None:
        """Multiply ``query_multiplier`` into ``q_proj`` (RoPE is linear: same outputs)."""
        self.q_proj.weight.mul_(self.query_multiplier)
        self.query_multiplier = 1.0

    def forward(
        self, x: torch.Tensor, rope: torch.Tensor, attn_mask: torch.Tensor | None
    ) -> torch.Tensor:
        B, T, C = x.shape
        q = self.q_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, rope), apply_rope(k, rope)
        if self.query_multiplier != 1.0:
            q = q * self.query_multiplier
        if self.n_kv_head != self.n_head:
            group = self.n_head // self.n_kv_head
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        y = causal_attention(q, k, v, attn_mask, self.dropout if self.training else 0.0)
        return self.resid_dropout(self.o_proj(y.transpose(1, 2).reshape(B, T, C)))


class LlamaMLP(nn.Module):
    """SwiGLU (Shazeer 2020): ``down(silu(gate(x)) * up(x))``."""

    def __init__(self, shape: ShapeSpec, dropout: float) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(shape.d_model, shape.d_ff, bias=False)
        self.up_proj = nn.Linear(shape.d_model, shape.d_ff, bias=False)
        self.down_proj = nn.Linear(shape.d_ff, shape.d_model, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x)))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, shape: ShapeSpec, dropout: float) -> None:
        super().__init__()
        self.input_layernorm = nn.RMSNorm(shape.d_model, eps=RMS_NORM_EPS)
        self.self_attn = LlamaAttention(shape, dropout)
        self.post_attention_layernorm = nn.RMSNorm(shape.d_model, eps=RMS_NORM_EPS)
        self.mlp = LlamaMLP(shape, dropout)

    def forward(
        self, x: torch.Tensor, rope: torch.Tensor, attn_mask: torch.Tensor | None
    ) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), rope, attn_mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    """The body, named ``model`` as in ``LlamaForCausalLM``; the RoPE tables are a
    non-persistent buffer (recomputed, never saved)."""

    def __init__(self, shape: ShapeSpec, dropout: float) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(shape.vocab_size, shape.d_model)
        self.drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList(LlamaDecoderLayer(shape, dropout) for _ in range(shape.n_layer))
        self.norm = nn.RMSNorm(shape.d_model, eps=RMS_NORM_EPS)
        self.register_buffer("rope", rope_tables(shape.n_ctx, shape.head_dim), persistent=False)

    def forward(self, input_ids: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        if input_ids.shape[1] > self.rope.shape[1]:
            raise ValueError(
                f"sequence of {input_ids.shape[1]} tokens is longer than the context "
                f"n_ctx = {self.rope.shape[1]} of this shape"
            )
        x = self.drop(self.embed_tokens(input_ids))
        for layer in self.layers:
            x = layer(x, self.rope, attn_mask)
        return self.norm(x)


class Llama(CausalLM):
    """Causal LM; ``forward`` returns :class:`ModelOutput` (logits ``(B, T, vocab)``)."""

    def __init__(self, shape: ShapeSpec, dropout: float = 0.0) -> None:
        super().__init__()
        if shape.family != "llama":
            raise ValueError(f"Llama needs a llama shape, got family {shape.family!r}")
        self.shape = shape
        self.model = LlamaModel(shape, dropout)
        self.add_head(shape, self.model.embed_tokens)

    def hidden_states(
        self, input_ids: torch.Tensor, attn_mask: torch.Tensor | None
    ) -> torch.Tensor:
        return self.model(input_ids, attn_mask)
