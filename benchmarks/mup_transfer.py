"""Does the best learning rate transfer across width under muP, and drift under SP?

Trains short runs of 2-layer GPTs at several widths over one geometric learning-rate
grid, once in the standard parametrization (SP) and once in muP (base width the
narrowest), finds each width's best rate by the parabola in log lr of
``scalinglab recipe`` (:func:`scalinglab.laws.hyperparams.optimal_settings`), and writes
``best_lr_ratio_sp`` and ``best_lr_ratio_mup``: the widest width's best rate over the
narrowest's (muP's goal: within [1/1.5, 1.5]; SP's moves more).

    python benchmarks/mup_transfer.py --json mup.json
    python benchmarks/mup_transfer.py --widths 64 128 256 --tokens 5e4 --json mup.json

Every run of a width trains the same tokens with the same data order and batch (8
sequences of 64 tokens), so only the rate and the parametrization differ. A best rate at
the edge of the grid is reported as such (no ratio is claimed from it). Re-running with
the same ``--out`` reuses finished runs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from scalinglab.io import dumps_strict
from scalinglab.laws.hyperparams import optimal_settings
from scalinglab.models.ladder import width_ladder
from scalinglab.registry import Registry
from scalinglab.sweep import explicit_runs, run_sweep, runs_dataframe
from scalinglab.sweep.design import with_grid

VOCAB, N_CTX, HEAD_DIM, N_LAYER = 384, 64, 32, 2
TRAIN = {"batch_size": 8, "val_tokens": 16_384, "eval_every": 10**9, "export_hf": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--lrs", type=float, nargs="+", default=[2.5e-4 * 2**i for i in range(8)])
    parser.add_argument("--tokens", type=float, default=1e5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="Registry folder (kept).")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="mup-transfer-"))
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    shapes = width_ladder(
        tuple(args.widths), vocab_size=VOCAB, n_ctx=N_CTX, head_dim=HEAD_DIM, n_layer=N_LAYER
    )
    entries = [
        {"n_layer": s.n_layer, "d_model": s.d_model, "n_head": s.n_head, "tokens": int(args.tokens)}
        for s in shapes
    ]
    train = {**TRAIN, "mup_base_width": min(args.widths)}
    design = with_grid(
        explicit_runs("mup-transfer", entries, vocab_size=VOCAB, n_ctx=N_CTX, seed=args.seed,
                      train=train),
        {"parametrization": ["sp", "mup"], "lr": args.lrs},
    )  # fmt: skip
    registry = out / "registry.db"
    run_sweep(design, registry, workers=args.workers, progress=False)
    with Registry(registry) as store:
        frame, left_out = runs_dataframe(store, design.name)
        params = {r.run_id: r.config.get("parametrization", "sp") for r in store.runs(design.name)}
    if left_out:
        raise SystemExit(f"runs without a final loss: {left_out}")
    frame["parametrization"] = frame["run_id"].map(params)
    result: dict[str, Any] = {"widths": args.widths, "lrs": args.lrs, "tokens": args.tokens}
    for kind in ("sp", "mup"):
        optima = optimal_settings(frame[frame["parametrization"] == kind], "lr", ("N", "D"))
        rows = [
            {"d_model": shape.d_model, "N": o.keys["N"], "best_lr": o.value, "lower": o.lower,
             "upper": o.upper, "at_edge": o.at_edge, "note": o.note}
            for shape, o in zip(shapes, sorted(optima, key=lambda o: o.keys["N"]), strict=True)
        ]  # fmt: skip
        result[kind] = rows
        ends = (rows[0], rows[-1])
        usable = not any(row["at_edge"] for row in ends)
        ratio = ends[1]["best_lr"] / ends[0]["best_lr"] if usable else None
        result[f"best_lr_ratio_{kind}"] = ratio
        for row in rows:
            print(f"{kind:>3} d{row['d_model']:>4}: best lr {row['best_lr']:.4g} "
                  f"[{row['lower']:.3g}, {row['upper']:.3g}] {row['note']}")  # fmt: skip
        shown = f"{ratio:.2f}" if ratio is not None else "n/a (a best rate at the grid edge)"
        print(f"{kind}: best lr at d{ends[1]['d_model']} / d{ends[0]['d_model']} = {shown}")
    mup_ratio = result["best_lr_ratio_mup"]
    result["mup_within_1_5x"] = mup_ratio is not None and 1 / 1.5 <= mup_ratio <= 1.5
    result["wall_seconds"] = time.perf_counter() - start
    if args.json:
        args.json.write_text(dumps_strict(result, indent=1))


if __name__ == "__main__":
    main()
