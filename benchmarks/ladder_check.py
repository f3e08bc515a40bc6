"""Does validation loss fall with N at equal tokens, and with D along WSD cooldowns?

Trains, on the embedded corpus (KJV), a ladder of gpt shapes from about 1e5 to about 3e6
non-embedding parameters (``scalinglab.models.ladder.ladder``) on the same number of
tokens with the default (scale-aware) settings, then one shape's WSD stable run with
cooldown branches at several token budgets. Prints both tables, writes
``OUT/ladder_check.json``, and exits 1 if either curve is not strictly decreasing.

    python benchmarks/ladder_check.py [--tokens 1e5] [--out runs/ladder_check]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import torch

from scalinglab.models.ladder import ladder
from scalinglab.train import TrainConfig, run_training
from scalinglab.train.wsd import run_wsd_branches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=float, default=1e5, help="tokens per ladder run")
    parser.add_argument("--sizes", type=int, default=5, help="ladder rungs")
    parser.add_argument("--cooldowns", default="5e4,1e5,2e5", help="WSD budgets (tokens)")
    parser.add_argument("--wsd-rung", type=int, default=2, help="ladder index for WSD")
    parser.add_argument("--ctx", type=int, default=128)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--val-tokens", type=int, default=16384, help="validation tokens")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/ladder_check")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    shapes = ladder(1e5, 3e6, args.sizes, "gpt", vocab_size=args.vocab, n_ctx=args.ctx)
    started = time.perf_counter()
    rows = []
    print(f"{'shape':>8} {'N nonembed':>11} {'D':>9} {'val loss':>9} {'tok/s':>7} {'s':>6}")
    for shape in shapes:
        cfg = TrainConfig(
            out_dir=str(out / f"ladder-{shape.n_layer}x{shape.d_model}"),
            n_layer=shape.n_layer, d_model=shape.d_model, n_head=shape.n_head,
            n_ctx=args.ctx, vocab_size=args.vocab, tokens=int(args.tokens), export_hf=False,
            val_tokens=args.val_tokens,
        )  # fmt: skip
        s = run_training(cfg, progress=False)
        rows.append(s.to_dict())
        name = f"{shape.n_layer}x{shape.d_model}"
        print(
            f"{name:>8} {s.n_params_nonembed:>11,} {s.tokens:>9,} {s.final_val_loss:>9.4f} "
            f"{s.tokens_per_second:>7,.0f} {s.wall_seconds:>6.0f}"
        )
    shape = shapes[args.wsd_rung]
    budgets = [int(float(b)) for b in args.cooldowns.split(",")]
    base = TrainConfig(
        out_dir=str(out / f"wsd-{shape.n_layer}x{shape.d_model}"),
        n_layer=shape.n_layer, d_model=shape.d_model, n_head=shape.n_head, n_ctx=args.ctx,
        vocab_size=args.vocab, schedule="wsd", export_hf=False, val_tokens=args.val_tokens,
    )  # fmt: skip
    branches = run_wsd_branches(base, budgets, progress=False)
    print(f"\nWSD cooldown branches of {shape.n_layer}x{shape.d_model}:")
    print(f"{'D':>9} {'val loss':>9}")
    for b in branches:
        print(f"{b.tokens:>9,} {b.final_val_loss:>9.4f}")
    by_n = [r["final_val_loss"] for r in rows]
    by_d = [b.final_val_loss for b in branches]
    ok_n = all(b < a for a, b in itertools.pairwise(by_n))
    ok_d = all(b < a for a, b in itertools.pairwise(by_d))
    wall = time.perf_counter() - started
    print(f"\nloss falls with N: {ok_n}; loss falls with D: {ok_d}; wall {wall:.0f} s")
    out.mkdir(parents=True, exist_ok=True)
    (out / "ladder_check.json").write_text(json.dumps(
        {"ladder": rows, "wsd": [b.to_dict() for b in branches], "falls_with_n": ok_n,
         "falls_with_d": ok_d, "wall_seconds": wall}, indent=1))  # fmt: skip
    return 0 if ok_n and ok_d else 1


if __name__ == "__main__":
    raise SystemExit(main())
