"""Do 95% prediction intervals for held-out larger models cover what is measured?

Part 1, synthetic truth with size-level misspecification: runs from a known Chinchilla
law (Epoch's fit) on a ladder of ``--sizes`` model sizes from 20M to 2B parameters,
each trained at 5, 10, 20, 40 and 80 tokens per parameter, with ``--noise`` run noise
and a systematic factor per size, ``exp(--size-noise · u)`` (``u`` standard normal,
shared by every run of that size). Approach 3 is fitted on all sizes but the largest
``--held-sizes``, and each held-out run's 95% prediction interval (bootstrap refits
plus out-of-bag residuals, :func:`scalinglab.laws.holdout.holdout_fit`) is checked
against its measured loss, over ``--replicates`` seeded data sets, once resampling whole
sizes and once resampling runs.

Part 2, Epoch AI's 240 points (tests/data/chinchilla_epoch_2024.csv less the 5 highest
losses): the ``k`` runs of largest compute are held out, for several ``k``; coverage and
mean half width of the intervals are reported.

    python benchmarks/interval_coverage.py [--replicates 100] [--resamples 200]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.laws import ChinchillaLaw
from scalinglab.laws.holdout import holdout_fit
from scalinglab.laws.synthetic import size_token_grid

TRUTH = ChinchillaLaw(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)
TOKENS_PER_PARAM = (5.0, 10.0, 20.0, 40.0, 80.0)
EPOCH_CSV = Path(__file__).resolve().parent.parent / "tests" / "data" / "chinchilla_epoch_2024.csv"
EPOCH_HELD_OUT = (10, 20, 40)


def score(rows: list[dict[str, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Per held-out run: covered (bool) and relative half width of its interval."""
    covered = np.array([r["lower"] <= r["loss"] <= r["upper"] for r in rows])
    half = np.array([(r["upper"] - r["lower"]) / (2 * r["loss"]) for r in rows])
    return covered, half


def synthetic(options: argparse.Namespace) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Coverage and half widths over the replicates, by bootstrap kind."""
    sizes = np.geomspace(2e7, 2e9, options.sizes)
    out: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"size": [], "run": []}
    for seed in range(options.replicates):
        runs = size_token_grid(
            TRUTH,
            sizes,
            TOKENS_PER_PARAM,
            noise=options.noise,
            size_noise=options.size_noise,
            seed=seed,
        )
        for by in out:
            rows = holdout_fit(
                runs,
                options.held_sizes,
                by="N",
                bootstrap=options.resamples,
                bootstrap_by=by,
                seed=seed,
            )
            out[by].append(score(rows))
    return {by: tuple(np.concatenate(p) for p in zip(*v, strict=True)) for by, v in out.items()}


def epoch(options: argparse.Namespace) -> list[tuple[int, str, float, float, float]]:
    """``(k, by, coverage, mean half width, mean |rel error|)`` for each hold-out."""
    table = pd.read_csv(EPOCH_CSV)
    table = table[table["loss"] < np.sort(table["loss"].to_numpy())[-5]]
    out = []
    for k in EPOCH_HELD_OUT:
        for by in ("size", "run"):
            rows = holdout_fit(table, k, by="C", bootstrap=options.resamples, bootstrap_by=by)
            covered, half = score(rows)
            error = np.mean([abs(r["rel_error"]) for r in rows])
            out.append((k, by, float(covered.mean()), float(half.mean()), float(error)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, default=100, help="seeded data sets")
    parser.add_argument("--resamples", type=int, default=200, help="bootstrap resamples each")
    parser.add_argument("--sizes", type=int, default=10, help="model sizes in the ladder")
    parser.add_argument("--held-sizes", type=int, default=2, help="largest sizes held out")
    parser.add_argument("--noise", type=float, default=0.005, help="relative run noise")
    parser.add_argument("--size-noise", type=float, default=0.02, help="log sd of size offsets")
    options = parser.parse_args()
    start = time.perf_counter()
    results = synthetic(options)
    print(
        f"synthetic: {options.replicates} data sets x {options.sizes} sizes x "
        f"{len(TOKENS_PER_PARAM)} runs, {options.held_sizes} largest sizes held out, run "
        f"noise {options.noise:.1%}, size offsets sd {options.size_noise:.1%}, "
        f"{options.resamples} resamples; {time.perf_counter() - start:.0f} s wall, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "| bootstrap by | held-out runs | 95% PI coverage | mean half width | median half width |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for by, (covered, half) in results.items():
        print(
            f"| {by} | {covered.size} | {covered.mean():.1%} | {half.mean():.2%} | "
            f"{np.median(half):.2%} |"
        )
    start = time.perf_counter()
    print(f"\nEpoch 240 points, k runs of largest C held out ({options.resamples} resamples)")
    print("| k | bootstrap by | 95% PI coverage | mean half width | mean abs error |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for k, by, coverage, half, error in epoch(options):
        print(f"| {k} | {by} | {coverage:.0%} | {half:.2%} | {error:.2%} |")
    print(f"({time.perf_counter() - start:.0f} s wall)")
    passed = results["size"][0].mean() >= 0.90
    print(f"\nsize bootstrap coverage >= 90%: {'PASS' if passed else 'FAIL'}")


if __name__ == "__main__":
    main()
