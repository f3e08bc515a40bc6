"""Data-parallel context: one process, or one rank of a ``torchrun`` job (DDP).

Under ``torchrun --nproc-per-node K`` the environment holds ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``; the run joins the process group (gloo on CPU, nccl on CUDA), wraps the
model in ``DistributedDataParallel``, and each rank takes ``1/K`` of every global batch.
Sums (loss, token counts) are all-reduced so that every rank sees global values. A
sharded run (FSDP, :mod:`scalinglab.train.fsdp`) needs a process group even in one
process: it gets a group of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_sum(self, value: torch.Tensor) -> torch.Tensor:
        """Sum of ``value`` over ranks (``value`` itself in a single process)."""
        if self.world_size > 1:
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device_type: str, *, group_of_one: bool = False) -> DistContext:
    """Join the torchrun process group if the environment names one. Without torchrun,
    ``group_of_one`` makes a process group of this process alone (what FSDP's device
    mesh needs to shard over one rank); otherwise one process needs no group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        if not group_of_one or dist.is_initialized():
            return DistContext()
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
        return DistContext(owns_group=True)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)  # before nccl, so collectives use this GPU
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
        owns = True
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, owns_group=owns)
