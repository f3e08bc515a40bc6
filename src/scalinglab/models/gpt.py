"""GPT: a decoder-only causal language model in the GPT-2 layout, built from a ShapeSpec.

Pre-LayerNorm blocks (``x + attn(ln_1(x))``, ``x + mlp(ln_2(x))``), learned positions,
tanh-GELU MLP of width ``d_ff``, a final LayerNorm, and an unembedding tied to the token
embedding unless ``shape.tied_embeddings`` is false. Attention is one fused Q/K/V linear
causal attention (:mod:`scalinglab.models.attention`: SDPA, or an explicit path for
bf16 training on CPU).

Module names equal Hugging Face's ``GPT2LMHeadModel`` (``transformer.h.0.attn.c_attn``,
...), so state_dict keys match one to one; HF stores ``c_attn``, ``c_proj`` and ``c_fc``
weights as ``Conv1D`` (transposed), which :mod:`scalinglab.models.hf_export` handles.

Unlike ``GPT2LMHeadModel``, ``labels`` are the next-token targets already aligned with
``input_ids`` (``labels[:, t]`` is the token after ``input_ids[:, t]``; -100 is ignored):
the data pipeline cuts ``tokens[:-1]`` / ``tokens[1:]`` windows, so no shift happens here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import nn

from scalinglab.models.attention import causal_attention
from scalinglab.models.causal_lm import CausalLM
from scalinglab.models.shape import ShapeSpec

LAYER_NORM_EPS = 1e-5


class CausalSelfAttention(nn.Module):
    def __init__(self, shape: ShapeSpec, dropout: float) -> None:
        super().__init__()
        self.n_head = shape.n_head
        self.c_attn = nn.Linear(shape.d_model, 3 * shape.d_model)
        self.c_proj = nn.Linear(shape.d_model, shape.d_model)
        self.dropout = dropout
        self.resid_dropout = nn.Dropout(dropout)
        #: Extra factor on queries (1: scores scaled by 1/sqrt(d_head); muP sets
        #: 1/sqrt(d_head), so 1/d_head in all: :mod:`scalinglab.models.mup`).
        self.query_multiplier = 1.0

    @torch.no_grad()
    def fold_query_multiplier(self) -> None:
        """Multiply ``query_multiplier`` into the query rows of ``c_attn`` (same outputs)."""
        d = self.c_attn.out_features // 3
        self.c_attn.weight[:d].mul_(self.query_multiplier)
        self.c_attn.bias[:d].mul_(self.query_multiplier)
        self.query_multiplier = 1.0

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).view(B, T, 3, self.n_head, C // self.n_head).unbind(2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if self.query_multiplier != 1.0:
            q = q * self.query_multiplier
        y = causal_attention(q, k, v, attn_mask, self.dropout if self.training else 0.0)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(B, T, C)))


class MLP(nn.Module):
    def __init__(self, shape: ShapeSpec, dropout: float) -> None:
        super().__init__()
        self.c_fc = nn.Linear(shape.d_model, shape.d_ff)
        self.c_proj = nn.Linear(shape.d_ff, shape.d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    def __init__(self, shape: ShapeSpec, dropout: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(shape.d_model, eps=LAYER_NORM_EPS)
        self.attn = CausalSelfAttention(shape, dropout)
        self.ln_2 = nn.LayerNorm(shape.d_model, eps=LAYER_NORM_EPS)
        self.mlp = MLP(shape, dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), attn_mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """The body, named ``transformer`` as in ``GPT2LMHeadModel``."""

    def __init__(self, shape: ShapeSpec, dropout: float) -> None:
        super().__init__()
        self.wte = nn.Embedding(shape.vocab_size, shape.d_model)
        self.wpe = nn.Embedding(shape.n_ctx, shape.d_model)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList(Block(shape, dropout) for _ in range(shape.n_layer))
        self.ln_f = nn.LayerNorm(shape.d_model, eps=LAYER_NORM_EPS)

    def forward(self, input_ids: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        if input_ids.shape[1] > self.wpe.num_embeddings:
            raise ValueError(
                f"sequence of {input_ids.shape[1]} tokens is longer than the context "
                f"n_ctx = {self.wpe.num_embeddings} of this shape"
            )
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.drop(self.wte(input_ids) + self.wpe(positions))
        for block in self.h:
            x = block(x, attn_mask)
        return self.ln_f(x)


class GPT(CausalLM):
    """Causal LM; ``forward`` returns :class:`ModelOutput` (logits ``(B, T, vocab)``)."""

    def __init__(self, shape: ShapeSpec, dropout: float = 0.0) -> None:
        super().__init__()
        if shape.family != "gpt":
            raise ValueError(f"GPT needs a gpt shape, got family {shape.family!r}")
        self.shape = shape
        self.transformer = Transformer(shape, dropout)
        self.add_head(shape, self.transformer.wte)

    def hidden_states(
        self, input_ids: torch.Tensor, attn_mask: torch.Tensor | None
    ) -> torch.Tensor:
        return self.transformer(input_ids, attn_mask)
