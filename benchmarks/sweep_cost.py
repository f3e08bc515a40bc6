"""WSD cooldown branches versus one run per (N, D) point: same law, fewer FLOPs?

Trains, side by side on this machine, (a) a WSD design: one warmup-stable-decay run per
size with a cooldown branch at each token budget, and (b) the same (N, D) points as
separate cosine runs. Fits the Chinchilla law (approach 3) to each and prints the fitted
alpha and beta of both, their differences (goal: within 0.03), and the FLOPs each design
executed (goal: WSD >= 2x cheaper). FLOPs are counted exactly: for WSD, the stable run
to its last branch point plus each branch's cooldown.

    python benchmarks/sweep_cost.py --n-min 1.3e4 --n-max 1e5 --sizes 3 --workers 2

Sizes and ratios are options so the benchmark can be made as small or large as time
allows; the defaults take tens of minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from scalinglab.laws.report import fit_runs
from scalinglab.laws.runs_table import runs_table_from_frame
from scalinglab.registry import Registry
from scalinglab.sweep import explicit_runs, run_sweep, runs_dataframe, wsd_design
from scalinglab.train.config import TrainConfig
from scalinglab.train.defaults import resolve
from scalinglab.train.wsd import branch_points

#: Seven budgets a factor sqrt(2) apart: with cooldowns of 10%, the WSD design costs about
#: 0.9 x the largest budget + 0.1 x their sum, 2.5x less than training each budget.
RATIOS = (5.0, 7.0, 10.0, 14.0, 20.0, 28.0, 40.0)


def executed_flops_wsd(registry: Registry, sweep: str) -> float:
    """FLOPs the WSD runs executed: stable run plus each branch's own cooldown steps."""
    total = 0.0
    for record in registry.runs(sweep):
        branches = record.summary["branches"]
        stable = json.loads((Path(record.out_dir) / "stable" / "summary.json").read_text())
        total += stable["flops"]
        config = TrainConfig.from_dict({**branches[-1]["config"]})
        base = resolve(config)
        points = branch_points(base, [b["config"]["tokens"] for b in branches])
        per_token_step = base.batch_size * base.shape().n_ctx
        for branch in branches:
            _, start = points[branch["config"]["tokens"]]
            per_token = branch["flops"] / branch["tokens"]
            total += branch["flops"] - start * per_token_step * per_token
    return total


def executed_flops(registry: Registry, sweep: str) -> float:
    return sum(r.summary["flops"] for r in registry.runs(sweep))


def fit(registry: Registry, sweep: str) -> dict[str, float]:
    frame, _ = runs_dataframe(registry, sweep)
    table = runs_table_from_frame(frame, source=sweep).df
    law = fit_runs(table, method="approach3").results["approach3"].fits["chinchilla"].law
    return {"alpha": law.alpha, "beta": law.beta, "points": len(table)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-min", type=float, default=1.3e4, help="smallest non-embedding N")
    parser.add_argument("--n-max", type=float, default=1e5, help="largest non-embedding N")
    parser.add_argument("--sizes", type=int, default=3, help="model sizes (count)")
    parser.add_argument("--ratios", type=float, nargs="+", default=list(RATIOS),
                        help="token budgets as tokens per parameter")  # fmt: skip
    parser.add_argument("--cooldown", type=float, default=0.1, help="cooldown fraction")
    parser.add_argument("--vocab", type=int, default=384, help="vocabulary size")
    parser.add_argument("--ctx", type=int, default=64, help="context length, tokens")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="sequences per step, as the quickstart (0: the default)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=None, help="parallel runs")
    parser.add_argument("--out", type=Path, default=None, help="folder (default: a temp one)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="sweep-cost-"))
    train = {"val_tokens": 16_384, "export_hf": False, "eval_every": 1_000_000_000}
    if args.batch_size:
        train["batch_size"] = args.batch_size
    common = {"vocab_size": args.vocab, "n_ctx": args.ctx}
    wsd = wsd_design("cost-wsd", args.n_min, args.n_max, args.sizes,
                     tokens_per_param=args.ratios, cooldown_fraction=args.cooldown,
                     train={**train, "checkpoint_every": 1_000_000_000}, **common)  # fmt: skip
    points = [
        {"n_layer": run.shape.n_layer, "d_model": run.shape.d_model,
         "n_head": run.shape.n_head, "tokens": tokens}
        for run in wsd.runs for tokens in run.branches
    ]  # fmt: skip
    separate = explicit_runs("cost-separate", points, train=train, **common)
    db = out / "registry.db"
    seconds = {}
    for design in (wsd, separate):
        start = time.perf_counter()
        run_sweep(design, db, workers=args.workers)
        seconds[design.name] = time.perf_counter() - start
    with Registry(db) as registry:
        flops = {"cost-wsd": executed_flops_wsd(registry, "cost-wsd"),
                 "cost-separate": executed_flops(registry, "cost-separate")}  # fmt: skip
        fits = {name: fit(registry, name) for name in flops}
    result = {
        "fits": fits,
        "flops": flops,
        "flops_ratio": flops["cost-separate"] / flops["cost-wsd"],
        "d_alpha": abs(fits["cost-wsd"]["alpha"] - fits["cost-separate"]["alpha"]),
        "d_beta": abs(fits["cost-wsd"]["beta"] - fits["cost-separate"]["beta"]),
        "seconds": seconds,
        "points": len(points),
    }
    for name in flops:
        print(f"{name:14s} alpha {fits[name]['alpha']:.3f} beta {fits[name]['beta']:.3f} "
              f"FLOPs {flops[name]:.3g} wall {seconds[name]:.0f} s")  # fmt: skip
    print(f"WSD needs {result['flops_ratio']:.2f}x fewer FLOPs; |d alpha| {result['d_alpha']:.3f}, "
          f"|d beta| {result['d_beta']:.3f} (goal: >= 2x, <= 0.03)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
