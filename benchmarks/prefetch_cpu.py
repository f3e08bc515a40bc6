"""Training step time with the background batch prefetch on and off, side by side.

The same tiny run (same seed, data and steps) is trained with ``prefetch=True`` and
``prefetch=False`` in alternation, ``--repeats`` times each, so that load from other jobs
on a shared machine hits both alike; each run's training seconds per step (evaluation
excluded) are compared by their medians, and the final losses must be equal (the
prefetch changes no number).

    python benchmarks/prefetch_cpu.py --repeats 5 --json prefetch.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

from scalinglab.train import TrainConfig, run_training


def one_run(base: TrainConfig, prefetch: bool, folder: Path) -> tuple[float, float]:
    """Training seconds per step and final validation loss of one fresh run."""
    summary = run_training(base.replace(out_dir=str(folder), prefetch=prefetch), progress=False)
    return summary.train_seconds / summary.steps, float(summary.final_val_loss or 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--family", default="gpt")
    parser.add_argument("--n-layer", type=int, default=1)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--ctx", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        base = TrainConfig(
            family=args.family, n_layer=args.n_layer, d_model=args.d_model, n_ctx=args.ctx,
            vocab_size=2048, batch_size=args.batch_size,
            tokens=args.batch_size * args.ctx * args.steps, eval_every=args.steps,
            val_tokens=4096, threads=args.threads, export_hf=False, device="cpu",
            cache_dir=str(Path(tmp) / "cache"),
        )  # fmt: skip
        one_run(base, True, Path(tmp) / "warm")  # tokenizer, shards, peak FLOP/s cached
        seconds: dict[bool, list[float]] = {True: [], False: []}
        losses: dict[bool, set[float]] = {True: set(), False: set()}
        for repeat in range(args.repeats):
            for prefetch in (True, False):
                step, loss = one_run(base, prefetch, Path(tmp) / f"r{repeat}-{prefetch}")
                seconds[prefetch].append(step)
                losses[prefetch].add(loss)
    on, off = statistics.median(seconds[True]), statistics.median(seconds[False])
    result = {
        "shape": f"{args.family} L{args.n_layer} d{args.d_model} T{args.ctx}",
        "batch_size": args.batch_size,
        "steps": args.steps,
        "threads": args.threads,
        "repeats": args.repeats,
        "ms_per_step_prefetch": on * 1000,
        "ms_per_step_sync": off * 1000,
        "speedup": off / on,
        "seconds_prefetch": seconds[True],
        "seconds_sync": seconds[False],
        "same_losses": losses[True] == losses[False] and len(losses[True]) == 1,
    }
    print(
        f"{result['shape']} batch {args.batch_size}, {args.threads} thread(s), "
        f"{args.repeats} runs each: {on * 1000:.1f} ms/step with prefetch, {off * 1000:.1f} "
        f"without ({off / on:.2f}x); same losses: {result['same_losses']}",
        flush=True,
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
