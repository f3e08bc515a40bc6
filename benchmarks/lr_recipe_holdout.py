"""Does a learning-rate law fitted on small models predict the best rate of a larger one?

Trains, on this machine, a learning-rate sweep (a geometric grid) of one-layer GPTs at
several small widths, fits ``lr*(N)`` with ``scalinglab recipe``'s machinery (a parabola
in log lr per width, a power law over the optima, bootstrap intervals), then sweeps the
same grid at a held-out width 2-4x larger in ``N`` and compares the law's prediction with
the best rate measured there (goal: within a factor 1.5). Every run trains the same
number of tokens (``--tokens``), so the law is ``lr*(N)`` at that ``D``; or, with
``--tokens-per-param R``, every run trains ``R`` tokens per non-embedding parameter, so
the held-out model is trained as long relative to its size as the fitted ones (``D``
then moves in lockstep with ``N`` and the law is of ``N`` alone). The settings are
chosen on the sweep's own validation losses only.

    python benchmarks/lr_recipe_holdout.py --workers 2 --json lr_holdout.json
    python benchmarks/lr_recipe_holdout.py --tokens-per-param 10 --json lr_holdout_tpp.json
    python benchmarks/lr_recipe_holdout.py --n-layer 2 --widths 64 128 256 --holdout-width 512 \
        --tokens 1e5 --lrs 2.5e-4 5e-4 1e-3 2e-3 4e-3 8e-3 1.6e-2 3.2e-2 \
        --parametrization mup --seed 1 --json lr_holdout_mup.json

Defaults: widths 32, 48, 64, 96 (1.2e4 to 1.1e5 non-embedding parameters), held-out
width 160 (3.1e5, 2.8x the largest), 1e6 tokens per run, batches of 8 sequences of 64
tokens, seven rates from 5e-4 to 3.2e-2, the standard parametrization (``--parametrization
mup`` trains in muP with the narrowest width as the base, the setting in which a rate found
on a small model is meant to carry to a wide one). Re-running with the same ``--out`` refits
without training (the registry skips finished runs).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from scalinglab.io import dumps_strict
from scalinglab.laws.hyperparams import fit_power_law, optimal_settings
from scalinglab.models.counting import count_params
from scalinglab.models.ladder import width_ladder
from scalinglab.registry import Registry
from scalinglab.sweep import explicit_runs, run_sweep, runs_dataframe
from scalinglab.sweep.design import with_grid

VOCAB, N_CTX, HEAD_DIM = 384, 64, 32
TRAIN = {"batch_size": 8, "val_tokens": 16_384, "eval_every": 10**9, "export_hf": False}


def lr_sweep(
    name: str,
    widths: list[int],
    tokens: int,
    lrs: list[float],
    seed: int,
    tokens_per_param: float | None = None,
    *,
    n_layer: int = 1,
    train: dict[str, Any] = TRAIN,
):
    """GPTs of ``n_layer`` layers and ``widths``, each at every rate of ``lrs``, on
    ``tokens`` tokens (or ``tokens_per_param`` x its non-embedding parameters when given)."""
    shapes = width_ladder(
        tuple(widths), n_layer=n_layer, vocab_size=VOCAB, n_ctx=N_CTX, head_dim=HEAD_DIM
    )
    entries = [
        {
            "n_layer": s.n_layer,
            "d_model": s.d_model,
            "n_head": s.n_head,
            "tokens": tokens
            if tokens_per_param is None
            else round(tokens_per_param * count_params(s).nonembed),
        }
        for s in shapes
    ]
    design = explicit_runs(name, entries, vocab_size=VOCAB, n_ctx=N_CTX, seed=seed, train=train)
    return with_grid(design, {"lr": lrs})


def train_and_read(design, registry_path: Path, workers: int):
    run_sweep(design, registry_path, workers=workers, progress=False)
    with Registry(registry_path) as registry:
        frame, left_out = runs_dataframe(registry, design.name)
    if left_out:
        raise SystemExit(f"runs without a final loss in {design.name}: {left_out}")
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 48, 64, 96])
    parser.add_argument("--holdout-width", type=int, default=160)
    parser.add_argument("--tokens", type=float, default=1e6)
    parser.add_argument(
        "--tokens-per-param",
        type=float,
        default=None,
        help="Train each run on this many tokens per non-embedding parameter instead.",
    )
    parser.add_argument("--lrs", type=float, nargs="+", default=[5e-4 * 2**i for i in range(7)])
    parser.add_argument("--n-layer", type=int, default=1, help="Depth of every model.")
    parser.add_argument(
        "--parametrization",
        choices=["sp", "mup"],
        default="sp",
        help="sp, or muP with the narrowest width as its base width.",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="Registry folder (kept).")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="lr-holdout-"))
    out.mkdir(parents=True, exist_ok=True)
    registry = out / "registry.db"
    tokens = int(args.tokens)
    start = time.perf_counter()
    train = dict(TRAIN)
    if args.parametrization == "mup":
        train |= {"parametrization": "mup", "mup_base_width": min(args.widths)}
    options = {"n_layer": args.n_layer, "train": train}

    small = train_and_read(
        lr_sweep(
            "lr-fit", args.widths, tokens, args.lrs, args.seed, args.tokens_per_param, **options
        ),
        registry,
        args.workers,
    )
    optima = optimal_settings(small, "lr", ("N", "D"))
    for o in map(_optimum_row, optima):
        print(f"N = {o['N']:>9,.0f}: best lr {o['lr']:.4g} [{o['lower']:.3g}, {o['upper']:.3g}]"
              + (f"  ({o['note']})" if o["note"] else ""))  # fmt: skip
    law, warnings = fit_power_law(optima, "lr", ("N", "D"))
    held = train_and_read(
        lr_sweep(
            "lr-holdout",
            [args.holdout_width],
            tokens,
            args.lrs,
            args.seed,
            args.tokens_per_param,
            **options,
        ),
        registry,
        args.workers,
    )
    (measured,) = optimal_settings(held, "lr", ("N", "D"))
    n_held = measured.keys["N"]
    predicted = law.predict(N=n_held)
    low, high = law.interval(N=n_held)
    ratio = predicted / measured.value
    result: dict[str, Any] = {
        "widths": args.widths,
        "holdout_width": args.holdout_width,
        "n_layer": args.n_layer,
        "parametrization": args.parametrization,
        "seed": args.seed,
        "tokens": tokens if args.tokens_per_param is None else None,
        "tokens_per_param": args.tokens_per_param,
        "lrs": args.lrs,
        "optima": [_optimum_row(o) for o in optima],
        "law": law.formula(),
        "law_warnings": warnings,
        "holdout_N": n_held,
        "holdout_N_over_largest": n_held / max(o.keys["N"] for o in optima),
        "predicted_lr": predicted,
        "predicted_interval": [low, high],
        "measured_lr": measured.value,
        "measured_interval": [measured.lower, measured.upper],
        "measured_at_edge": measured.at_edge,
        "ratio_predicted_over_measured": ratio,
        "within_1_5x": (not measured.at_edge) and 1 / 1.5 <= ratio <= 1.5,
        "wall_seconds": time.perf_counter() - start,
        "registry": str(registry),
    }
    print(f"law: {result['law']}" + (f"; {'; '.join(warnings)}" if warnings else ""))
    print(
        f"held out N = {n_held:,.0f} ({result['holdout_N_over_largest']:.1f}x the largest): "
        f"predicted {predicted:.4g} [{low:.4g}, {high:.4g}], measured {measured.value:.4g} "
        f"[{measured.lower:.3g}, {measured.upper:.3g}]: ratio {ratio:.2f} "
        f"({'within' if result['within_1_5x'] else 'NOT within'} 1.5x); "
        f"{result['wall_seconds']:.0f} s"
    )
    if args.json:
        args.json.write_text(dumps_strict(result, indent=1))


def _optimum_row(optimum) -> dict[str, Any]:
    return {
        "N": optimum.keys["N"],
        "lr": optimum.value,
        "lower": optimum.lower,
        "upper": optimum.upper,
        "at_edge": optimum.at_edge,
        "note": optimum.note,
    }


if __name__ == "__main__":
    main()
