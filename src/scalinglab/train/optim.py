"""AdamW with decoupled weight decay (Loshchilov & Hutter 2019) on the right parameters.

Weight decay applies to the weight matrices of linear layers only. Biases, LayerNorm
gains and biases, and embedding tables (token, position, token type; and so the tied
unembedding) are not decayed: decaying gains and biases pulls them toward zero for no
regularization benefit, and decaying embeddings shrinks rare tokens' vectors. This is
the grouping of nanoGPT and of Hugging Face's Trainer (which excludes biases and
LayerNorm weights).
"""

from __future__ import annotations

import torch
from torch import nn


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """Two AdamW groups: linear weight matrices (decayed) and everything else."""
    embedding_ids = {
        id(module.weight) for module in model.modules() if isinstance(module, nn.Embedding)
    }
    decay, no_decay = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        if param.ndim >= 2 and id(param) not in embedding_ids:
            decay.append(param)
        else:
            no_decay.append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
) -> torch.optim.AdamW:
    """AdamW over :func:`parameter_groups`; ``foreach`` for speed, deterministic on CPU."""
    return torch.optim.AdamW(
        parameter_groups(model, weight_decay), lr=lr, betas=betas, eps=eps, foreach=True
    )
