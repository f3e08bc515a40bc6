"""WSD cooldown branches versus one run per (N, D) point: same law, fewer FLOPs?

Trains, side by side on this machine, (a) a WSD design: one warmup-stable-decay run per
size with a cooldown branch at each token budget, and (b) the same (N, D) points as
separate cosine runs. Fits the Chinchilla law (approach 3) to each and prints the fitted
alpha and beta of both, their differences (goal: within 0.03), and the FLOPs each design
executed (goal: WSD >= 2x cheaper). FLOPs are counted exactly: for WSD, the stable run
to its last branch point plus each branch's cooldown.

    python benchmarks/sweep_cost.py --widths 64 96 128 --lr 0.005 0.0035 0.003 --workers 2

The sizes are one-layer GPTs of the given widths, so that only N changes between them.
``--lr`` sets each width's peak learning rate (default: the library's rule, Kaplan et al.
2020), the same for both designs: Hägele et al. compare schedules at tuned learning
rates, and at a learning rate far from the optimum the two schedules part ways (a WSD run
spends longer at the peak, which helps below the optimum and hurts above it). Runs need
a few thousand steps for the schedules to agree; the defaults take about half an hour on
2 CPU cores. Both fits come with 95% bootstrap intervals: the separate design's own
interval says how finely a sweep of this size resolves the exponents at all. Run again
with the same ``--out`` to refit without training (the registry skips finished runs; the
wall times then cover only that check).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from scalinglab.laws.orchestrate import fit_runs
from scalinglab.laws.runs_table import runs_table_from_frame
from scalinglab.models.ladder import width_ladder
from scalinglab.registry import Registry
from scalinglab.sweep import SweepDesign, explicit_runs, run_sweep, runs_dataframe, wsd_design
from scalinglab.train.config import TrainConfig
from scalinglab.train.defaults import resolve
from scalinglab.train.wsd import branch_points

#: Five budgets a factor sqrt(2) apart, from 20 tokens per parameter (about 2,000 steps of
#: 512 tokens for the smallest width): with cooldowns of 10%, the WSD design costs about
#: 0.9 x the largest budget + 0.1 x their sum, 2.4x less than training each budget.
RATIOS = (20.0, 28.0, 40.0, 57.0, 80.0)
WIDTHS = (64, 96, 128)


def with_learning_rates(design: SweepDesign, lr_by_width: dict[int, float]) -> SweepDesign:
    """The design with each run's peak learning rate set by its width (none: unchanged)."""
    if not lr_by_width:
        return design
    runs = tuple(
        replace(run, train={**run.train, "lr": lr_by_width[run.shape.d_model]})
        for run in design.runs
    )
    return replace(design, runs=runs)


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


def fit(registry: Registry, sweep: str, bootstrap: int) -> dict[str, Any]:
    """Approach 3 on the sweep's runs: E, alpha, beta and their 95% bootstrap intervals."""
    frame, _ = runs_dataframe(registry, sweep)
    table = runs_table_from_frame(frame, source=sweep).df
    report = fit_runs(table, method="approach3", bootstrap=bootstrap)
    law = report.results["approach3"].fits["chinchilla"].law
    intervals = report.methods["approach3"].intervals()
    return {
        "E": law.E,
        "alpha": law.alpha,
        "beta": law.beta,
        "points": len(table),
        "intervals": {k: list(intervals[k]) for k in ("alpha", "beta") if k in intervals},
    }


def describe(name: str, fitted: dict[str, Any], flops: float, seconds: float) -> str:
    bands = (
        " ".join(
            f"{k} {fitted[k]:.3f} [{low:.3f}, {high:.3f}]"
            for k, (low, high) in fitted["intervals"].items()
        )
        or f"alpha {fitted['alpha']:.3f} beta {fitted['beta']:.3f}"
    )
    return f"{name:14s} E {fitted['E']:.3f} {bands} FLOPs {flops:.3g} wall {seconds:.0f} s"


def loss_gaps(registry: Registry) -> list[dict[str, float]]:
    """Per (N, D) point: the WSD branch's final loss minus the separate run's, nats."""
    frames = [runs_dataframe(registry, sweep)[0] for sweep in ("cost-wsd", "cost-separate")]
    both = frames[0].merge(frames[1], on=["N", "D"], suffixes=("_wsd", "_separate"))
    return [
        {"N": int(row.N), "D": int(row.D), "gap": float(row.loss_wsd - row.loss_separate)}
        for row in both.itertuples()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=list(WIDTHS),
                        help="widths of the one-layer GPTs (at least 3)")  # fmt: skip
    parser.add_argument("--lr", type=float, nargs="+", default=None,
                        help="peak learning rate per width (default: library rule)")  # fmt: skip
    parser.add_argument("--ratios", type=float, nargs="+", default=list(RATIOS),
                        help="token budgets as tokens per parameter")  # fmt: skip
    parser.add_argument("--cooldown", type=float, default=0.1, help="cooldown fraction")
    parser.add_argument("--vocab", type=int, default=384, help="vocabulary size")
    parser.add_argument("--ctx", type=int, default=64, help="context length, tokens")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="sequences per step, as the quickstart (0: the default)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=None, help="parallel runs")
    parser.add_argument("--bootstrap", type=int, default=200,
                        help="resamples for the exponents' 95%% intervals (0: none)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="folder (default: a temp one)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    if len(set(args.widths)) < 3:
        parser.error(f"--widths needs at least 3 distinct widths to fit alpha, got {args.widths}")
    if args.lr is not None and len(args.lr) != len(args.widths):
        parser.error(f"--lr needs one rate per width ({len(args.widths)}), got {len(args.lr)}")
    lr_by_width = dict(zip(args.widths, args.lr, strict=True)) if args.lr else {}
    out = args.out or Path(tempfile.mkdtemp(prefix="sweep-cost-"))
    train = {"val_tokens": 16_384, "export_hf": False, "eval_every": 1_000_000_000}
    if args.batch_size:
        train["batch_size"] = args.batch_size
    common = {"vocab_size": args.vocab, "n_ctx": args.ctx}
    shapes = width_ladder(args.widths, vocab_size=args.vocab, n_ctx=args.ctx)
    wsd = wsd_design("cost-wsd", 0, 0, 0, shapes=shapes,
                     tokens_per_param=args.ratios, cooldown_fraction=args.cooldown,
                     train={**train, "checkpoint_every": 1_000_000_000}, **common)  # fmt: skip
    wsd = with_learning_rates(wsd, lr_by_width)
    points = [
        {"n_layer": run.shape.n_layer, "d_model": run.shape.d_model,
         "n_head": run.shape.n_head, "tokens": tokens}
        for run in wsd.runs for tokens in run.branches
    ]  # fmt: skip
    separate = with_learning_rates(
        explicit_runs("cost-separate", points, train=train, **common), lr_by_width
    )
    db = out / "registry.db"
    seconds = {}
    for design in (wsd, separate):
        start = time.perf_counter()
        run_sweep(design, db, workers=args.workers)
        seconds[design.name] = time.perf_counter() - start
    with Registry(db) as registry:
        flops = {"cost-wsd": executed_flops_wsd(registry, "cost-wsd"),
                 "cost-separate": executed_flops(registry, "cost-separate")}  # fmt: skip
        fits = {name: fit(registry, name, args.bootstrap) for name in flops}
        gaps = loss_gaps(registry)
    result = {
        "fits": fits,
        "flops": flops,
        "flops_ratio": flops["cost-separate"] / flops["cost-wsd"],
        "d_alpha": abs(fits["cost-wsd"]["alpha"] - fits["cost-separate"]["alpha"]),
        "d_beta": abs(fits["cost-wsd"]["beta"] - fits["cost-separate"]["beta"]),
        "seconds": seconds,
        "points": len(points),
        "loss_gaps": gaps,
    }
    for gap in gaps:
        print(f"N {gap['N']:>8,} D {gap['D']:>11,}  WSD - separate {gap['gap']:+.3f} nats")
    for name in flops:
        print(describe(name, fits[name], flops[name], seconds[name]))
    print(f"WSD needs {result['flops_ratio']:.2f}x fewer FLOPs; |d alpha| {result['d_alpha']:.3f}, "
          f"|d beta| {result['d_beta']:.3f} (goal: >= 2x, <= 0.03)")  # fmt: skip
    reference = fits["cost-separate"]["intervals"]
    if reference:
        halves = {k: (high - low) / 2 for k, (low, high) in reference.items()}
        result["separate_half_widths"] = halves
        print("the separate design's own 95% intervals are +-"
              + ", +-".join(f"{v:.3f} ({k})" for k, v in halves.items())
              + ": differences below that are not resolved by this sweep")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
