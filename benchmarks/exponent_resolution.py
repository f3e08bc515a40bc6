"""How finely does a sweep of a given size pin down the fitted exponents alpha and beta?

Draws noisy runs from a known Chinchilla law on grids of ``sizes`` model sizes x
``budgets`` token budgets (geometric, each axis spanning the given factor, from ``N0``
non-embedding parameters at ``R0`` tokens per parameter), fits approach 3 to each draw
and prints the 95% range of the fitted alpha and beta over the draws (half widths), with
the tokens that training every point as a separate run would take. Two designs whose
exponents differ by less than that range cannot be told apart by a sweep of that size.

The default law and noise are the separate-run fit of ``benchmarks/sweep_cost.py`` on
this machine (one-layer GPTs of 5e4 to 2e5 parameters, see BENCHMARKS.md) and the
relative scatter of its runs around that fit.

    python benchmarks/exponent_resolution.py [--draws 50] [--noise 0.006]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from scalinglab.laws import ChinchillaLaw, fit_law
from scalinglab.laws.synthetic import size_token_grid

MEASURED = ChinchillaLaw(E=1.490, A=24.737, B=2005.786, alpha=0.3385, beta=0.5894)
#: (sizes, budgets, N span, D span): the sweep_cost grid, more points on it, then wider.
GRIDS = ((3, 5, 4, 4), (5, 7, 4, 4), (5, 7, 16, 16), (5, 7, 64, 64), (7, 9, 100, 100))


def exponent_ranges(
    law: ChinchillaLaw, grid: tuple[int, int, float, float], args: argparse.Namespace
) -> tuple[float, float, float]:
    """Half widths of the 95% ranges of fitted alpha and beta over noisy draws on ``grid``
    (sizes, budgets, N span, D span), and the grid's total tokens."""
    sizes, budgets, n_span, d_span = grid
    n = args.n0 * np.geomspace(1.0, n_span, sizes)
    ratios = args.r0 * np.geomspace(1.0, d_span, budgets)
    fitted = []
    for draw in range(args.draws):
        runs = size_token_grid(law, n, ratios, noise=args.noise, seed=args.seed + draw)
        result = fit_law("chinchilla", runs)
        fitted.append((result.law.alpha, result.law.beta))
    low, high = np.percentile(np.array(fitted), [2.5, 97.5], axis=0)
    tokens = float(runs["D"].sum())
    return float(high[0] - low[0]) / 2, float(high[1] - low[1]) / 2, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=50, help="noisy data sets per grid")
    parser.add_argument("--noise", type=float, default=0.006, help="relative noise on the loss")
    parser.add_argument("--n0", type=float, default=5e4, help="smallest N (non-embedding)")
    parser.add_argument("--r0", type=float, default=20.0, help="smallest tokens per parameter")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise")
    args = parser.parse_args()
    print(f"law {MEASURED}, noise {args.noise:.1%}, {args.draws} draws per grid")
    print("| sizes x budgets | N span | D span | alpha +- | beta +- | separate-run tokens |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for grid in GRIDS:
        start = time.perf_counter()
        alpha, beta, tokens = exponent_ranges(MEASURED, grid, args)
        sizes, budgets, n_span, d_span = grid
        print(
            f"| {sizes} x {budgets} | {n_span:g}x | {d_span:g}x | {alpha:.3f} | {beta:.3f} | "
            f"{tokens:.2g} |  ({time.perf_counter() - start:.0f} s)"
        )


if __name__ == "__main__":
    main()
