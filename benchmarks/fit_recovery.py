"""Does the fitter recover a known law, and do its bootstrap intervals cover the truth?

Draws runs from a known Chinchilla law (Epoch's fit: E 1.8172, A 482.01, B 2085.43,
alpha 0.3478, beta 0.3658) on an IsoFLOP design of 240 runs like Chinchilla's (16 budgets
from 1e18 to 1e22 FLOPs, 15 sizes per budget spanning 8x either side of the optimum,
D = C / 6N) with 1%
multiplicative Gaussian noise, fits approach 3 (summed Huber, default grid) and
bootstraps it, for ``--repeats`` seeds. Prints the largest errors of alpha, beta and
a = beta / (alpha + beta), and how often the 95% percentile interval covers the truth.

    python benchmarks/fit_recovery.py [--repeats 100] [--resamples 400] [--noise 0.01]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from scalinglab.laws import ChinchillaLaw, bootstrap_law, fit_law
from scalinglab.laws.synthetic import isoflop_design

TRUTH = ChinchillaLaw(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)
NAMES = ("E", "alpha", "beta", "a")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=100, help="seeded data sets")
    parser.add_argument("--resamples", type=int, default=400, help="bootstrap resamples each")
    parser.add_argument("--noise", type=float, default=0.01, help="relative noise on the loss")
    options = parser.parse_args()
    budgets = np.geomspace(1e18, 1e22, 16)
    truth = {name: getattr(TRUTH, name) for name in NAMES}
    errors, covered = [], []
    start = time.perf_counter()
    for seed in range(options.repeats):
        runs = isoflop_design(
            TRUTH, budgets, sizes_per_budget=15, span=8, noise=options.noise, seed=seed
        )
        fit = fit_law("chinchilla", runs)
        boot = bootstrap_law(
            "chinchilla", runs, options.resamples, seed=seed, starts=fit.local_minima
        )
        ci = boot.intervals()
        fitted = {**fit.params, "a": fit.law.a}
        errors.append([fitted[name] - truth[name] for name in NAMES])
        covered.append([ci[name][0] <= truth[name] <= ci[name][1] for name in NAMES])
    errors_arr, covered_arr = np.abs(np.array(errors)), np.array(covered)
    print(
        f"{options.repeats} data sets x {len(budgets) * 15} runs, noise {options.noise:.1%}, "
        f"{options.resamples} resamples each; {time.perf_counter() - start:.0f} s wall, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print("| parameter | truth | max abs error | 95th pct abs error | 95% CI coverage |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for i, name in enumerate(NAMES):
        print(
            f"| {name} | {truth[name]:.4f} | {errors_arr[:, i].max():.4f} | "
            f"{np.percentile(errors_arr[:, i], 95):.4f} | {covered_arr[:, i].mean():.0%} |"
        )


if __name__ == "__main__":
    main()
