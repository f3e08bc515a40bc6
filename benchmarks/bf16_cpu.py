"""Does bf16 autocast pay on this CPU? Training-step throughput, fp32 vs bf16, side by side.

Runs the training step of ``scalinglab.train`` (forward, summed cross-entropy, backward,
AdamW) on random tokens for a few gpt shapes, alternating fp32 and bf16 repeats so that
load from other processes hits both alike, and prints tokens/s and the bf16/fp32 ratio.
The ``bf16`` default of ``scalinglab train`` on CPU follows this measurement.

    python benchmarks/bf16_cpu.py [--threads 1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)

from scalinglab.models.build import build_model
from scalinglab.models.shape import ShapeSpec

SHAPES = [(2, 128), (4, 256), (6, 384)]


def step_seconds(model: torch.nn.Module, ids: torch.Tensor, bf16: bool) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(ids[:, :-1]).logits
    loss = F.cross_entropy(logits.float().flatten(0, 1), ids[:, 1:].flatten(), reduction="sum")
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--ctx", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"threads={args.threads} batch={args.batch} ctx={args.ctx} torch={torch.__version__}")
    print(f"{'shape':>10} {'fp32 tok/s':>11} {'bf16 tok/s':>11} {'bf16/fp32':>9}")
    for n_layer, d_model in SHAPES:
        shape = ShapeSpec.create("gpt", n_layer=n_layer, d_model=d_model, vocab_size=4096,
                                 n_ctx=args.ctx)  # fmt: skip
        model = build_model(shape)
        ids = torch.randint(0, 4096, (args.batch, args.ctx + 1))
        best = {False: float("inf"), True: float("inf")}
        for bf16 in (False, True):
            step_seconds(model, ids, bf16)  # warm-up
        for _ in range(args.repeats):
            for bf16 in (False, True):
                best[bf16] = min(best[bf16], step_seconds(model, ids, bf16))
        tokens = args.batch * args.ctx
        fp32, bf16 = tokens / best[False], tokens / best[True]
        print(f"{n_layer}x{d_model:>5} {fp32:>11,.0f} {bf16:>11,.0f} {bf16 / fp32:>9.2f}")


if __name__ == "__main__":
    main()
