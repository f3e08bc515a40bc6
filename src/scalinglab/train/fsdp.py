"""FSDP2: shard one run's parameters, gradients and optimizer state over the ranks.

``fully_shard`` is applied to each transformer block, then to the whole model (the root
holds the embeddings, the final norm and the head), so that a step gathers one block's
parameters at a time: forward gathers a block's shards just before it runs and frees
them after (backward gathers them again), gradients are reduce-scattered to their
shards, and AdamW steps on the shards only (its state is sharded with them). Each rank
then holds about ``1/world_size`` of the parameters, gradients and optimizer state.

Gradient reduction averages over ranks, as DDP's does, so the training loop's loss
normalisation gives the same gradient as one process. Every micro-batch is reduced
(gradients accumulate in their shards), which keeps the memory saving under gradient
accumulation.

Precision: on CUDA with bf16, ``MixedPrecisionPolicy(param_dtype=bf16,
reduce_dtype=fp32)``: parameters are gathered and computed in bf16 from fp32 shards,
gradients reduced in fp32 (the run's bf16 autocast stays on, so the operations autocast
keeps in fp32 stay there). Elsewhere (CPU) the run's own precision decision
(:mod:`scalinglab.train.precision`) applies unchanged: fp32 parameters, gathers and
reductions, with bf16 autocast where the CPU computes bf16 natively.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

from scalinglab.train.activation_checkpointing import transformer_blocks


def mixed_precision(device: torch.device, bf16: bool) -> MixedPrecisionPolicy:
    """The ``MixedPrecisionPolicy`` of a sharded run on ``device`` (see the module doc)."""
    if device.type == "cuda" and bf16:
        return MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    return MixedPrecisionPolicy()


def shard_model(model: nn.Module, n_layer: int, device: torch.device, bf16: bool) -> None:
    """Apply ``fully_shard`` to each of the model's ``n_layer`` blocks, then to the model,
    over a one-dimensional mesh of all ranks of the default process group (in place)."""
    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    policy = mixed_precision(device, bf16)
    for block in transformer_blocks(model, n_layer):
        fully_shard(block, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The unsharded state dict of a sharded ``model``, on the CPU of rank 0 (an empty
    dict on the other ranks). Every rank must call it: it gathers the shards."""
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=options)
