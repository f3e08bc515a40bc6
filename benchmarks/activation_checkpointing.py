"""What activation checkpointing costs and saves: training-step time and the activation
bytes kept for backward, with and without it, side by side.

The step is the training loop's own (:func:`scalinglab.train.step.optimizer_step`:
forward under the run's bf16 autocast decision, summed loss, backward, clipping at 1.0,
AdamW of :func:`scalinglab.train.optim.build_optimizer`) on random tokens, for one gpt
shape; the two models start from the same weights. Repeats alternate between the two so
that load from other processes hits both alike; the median and the best step time of
each are printed with their ratio, and the bytes autograd saved for backward in one
forward pass (``torch.autograd.graph.saved_tensors_hooks``).

    python benchmarks/activation_checkpointing.py [--n-layer 4 --d-model 128 --ctx 256]
        [--batch 3] [--repeats 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from scalinglab.models.build import build_model
from scalinglab.models.shape import ShapeSpec
from scalinglab.train.activation_checkpointing import (
    apply_activation_checkpointing,
    transformer_blocks,
)
from scalinglab.train.distributed import DistContext
from scalinglab.train.optim import build_optimizer
from scalinglab.train.precision import default_bf16
from scalinglab.train.step import loss_sum, optimizer_step


def saved_bytes(model: torch.nn.Module, batch: dict[str, torch.Tensor], bf16: bool) -> int:
    """Bytes of the tensors autograd keeps for backward in one forward pass."""
    total = [0]

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        total[0] += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss_sum(model, batch, bf16=bf16)
    return total[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--ctx", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = ShapeSpec.create(
        "gpt", n_layer=args.n_layer, d_model=args.d_model, vocab_size=args.vocab, n_ctx=args.ctx
    )
    bf16 = default_bf16(torch.device("cpu"))
    torch.manual_seed(0)
    plain = build_model(shape)
    recomputed = copy.deepcopy(plain)
    apply_activation_checkpointing(transformer_blocks(recomputed, shape.n_layer))
    variants = {"plain": plain, "checkpointed": recomputed}
    optimizers = {
        name: build_optimizer(model, lr=1e-4, weight_decay=0.1, betas=(0.9, 0.95), eps=1e-8)
        for name, model in variants.items()
    }
    ids = torch.randint(0, args.vocab, (args.batch, args.ctx + 1))
    batch = {"input_ids": ids[:, :-1], "labels": ids[:, 1:]}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(args.repeats + 1):
        for name, model in variants.items():
            began = time.perf_counter()
            optimizer_step(
                model, model, optimizers[name], [batch], DistContext(), grad_clip=1.0, bf16=bf16
            )
            if repeat:  # the first step of each warms up
                times[name].append(time.perf_counter() - began)
    print(f"gpt {args.n_layer}x{args.d_model}, ctx {args.ctx}, batch {args.batch}, bf16 {bf16}, "
          f"threads {torch.get_num_threads()}, {args.repeats} steps each, alternating")  # fmt: skip
    for name, model in variants.items():
        median, best = statistics.median(times[name]), min(times[name])
        kept = saved_bytes(model, batch, bf16) / 2**20
        print(f"{name:>12}: step median {median * 1e3:.1f} ms, best {best * 1e3:.1f} ms, "
              f"activations kept {kept:.1f} MiB")  # fmt: skip
    ratio = statistics.median(times["checkpointed"]) / statistics.median(times["plain"])
    best_ratio = min(times["checkpointed"]) / min(times["plain"])
    print(f"checkpointed / plain step time: median {ratio:.2f}x, best {best_ratio:.2f}x")


if __name__ == "__main__":
    main()
