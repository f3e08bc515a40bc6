"""AdamW with decoupled weight decay (Loshchilov & Hutter 2019) on the right parameters.

Weight decay applies to the weight matrices of linear layers only. Biases, LayerNorm
gains and biases, and embedding tables (token, position, token type; and so the tied
unembedding) are not decayed: decaying gains and biases pulls them toward zero for no
regularization benefit, and decaying embeddings shrinks rare tokens' vectors. This is
the grouping of nanoGPT and of Hugging Face's Trainer (which excludes biases and
LayerNorm weights).

The update runs as one fused kernel per step where every parameter sits on a CUDA GPU
(``fused=True``, as nanoGPT does there), and as torch's ``foreach`` (multi-tensor)
implementation elsewhere, which on CPU is the deterministic path the resume and
data-parallel tests rely on.
"""

from __future__ import annotations

import torch
from torch import nn


def parameter_groups(
    model: nn.Module, weight_decay: float, lr_scales: dict[int, float] | None = None
) -> list[dict[str, object]]:
    """AdamW groups: linear weight matrices (decayed) and everything else, each split
    further by learning-rate factor when ``lr_scales`` (``{id(param): factor}``, e.g.
    muP's :func:`~scalinglab.models.mup.lr_multipliers`) gives some parameters their own.
    Every group carries ``lr_scale``; the training loop sets ``lr = scale x schedule``."""
    embedding_ids = {
        id(module.weight) for module in model.modules() if isinstance(module, nn.Embedding)
    }
    scales = lr_scales or {}
    groups: dict[tuple[bool, float], list[nn.Parameter]] = {}
    for param in model.parameters():
        if not param.requires_grad:
            continue
        decayed = param.ndim >= 2 and id(param) not in embedding_ids
        groups.setdefault((decayed, scales.get(id(param), 1.0)), []).append(param)
    return [
        {"params": params, "weight_decay": weight_decay if decayed else 0.0, "lr_scale": scale}
        for (decayed, scale), params in sorted(
            groups.items(), key=lambda item: (not item[0][0], -item[0][1])
        )
    ]


def build_optimizer(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
    lr_scales: dict[int, float] | None = None,
) -> torch.optim.AdamW:
    """AdamW over :func:`parameter_groups` with the implementation of
    :func:`implementation_kwargs`. Each group starts at ``lr x lr_scale``."""
    groups = parameter_groups(model, weight_decay, lr_scales)
    for group in groups:
        group["lr"] = lr * float(group["lr_scale"])  # type: ignore[arg-type]
    device_types = {param.device.type for param in model.parameters()}
    return torch.optim.AdamW(
        groups, lr=lr, betas=betas, eps=eps, **implementation_kwargs(device_types)
    )


def implementation_kwargs(device_types: set[str]) -> dict[str, bool]:
    """AdamW's implementation for parameters on ``device_types`` (``{"cuda"}``, ...):
    ``fused`` when all of them are on CUDA (one kernel for the whole update), else
    ``foreach`` (the CPU path, unchanged)."""
    if device_types == {"cuda"}:
        return {"fused": True, "foreach": False}
    return {"fused": False, "foreach": True}
