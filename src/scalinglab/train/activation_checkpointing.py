"""Activation checkpointing: recompute each transformer block's activations in backward.

A block under checkpointing keeps only its input during the forward pass and runs its
forward again when backward reaches it (``torch.utils.checkpoint``, non-reentrant), so
the activation memory of a step is about one block's worth plus one tensor per block,
for roughly one extra forward pass of compute. The gradients are those of the plain
model: the recomputation runs the same operations on the same inputs (and restores the
RNG state, so dropout draws the same masks).

The block's ``forward`` is replaced on the instance, so parameter names, state dicts,
checkpoints and Hugging Face exports are unchanged, and FSDP's hooks (registered on the
block by ``fully_shard``) stay outside the recomputation, as they must: the parameters
are gathered before the block's backward begins, and the recomputation finds them
gathered.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def transformer_blocks(model: nn.Module, n_layer: int) -> list[nn.Module]:
    """The model's repeated blocks: the one ``nn.ModuleList`` of ``n_layer`` modules of
    one class (``transformer.h`` of GPT, ``model.layers`` of llama, ``encoder.layer`` of
    BERT). A family built otherwise is an error, since FSDP and activation checkpointing
    are applied per block."""
    lists = [
        list(module)
        for module in model.modules()
        if isinstance(module, nn.ModuleList)
        and len(module) == n_layer
        and len({type(block) for block in module}) == 1
    ]
    if len(lists) != 1:
        raise ValueError(
            f"{type(model).__name__} has {len(lists)} lists of {n_layer} like blocks; "
            "FSDP and activation checkpointing need exactly one"
        )
    return lists[0]


def apply_activation_checkpointing(blocks: list[nn.Module]) -> None:
    """Make each of ``blocks`` recompute its activations in backward (in place)."""
    for block in blocks:
        block.forward = functools.partial(_recomputed, block.forward)  # type: ignore[method-assign]


def _recomputed(forward: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``forward(*args, **kwargs)`` keeping only its inputs when gradients are recorded."""
    if not torch.is_grad_enabled():
        return forward(*args, **kwargs)
    return checkpoint(forward, *args, use_reentrant=False, **kwargs)
