"""How often does the fit name outliers on clean data, and does it find planted ones?

Draws IsoFLOP grids from a known Chinchilla law with multiplicative Gaussian noise and
no outliers, fits approach 3 (summed Huber, the default ``delta``) and counts the runs
named as outliers by the leave-one-out rule of :mod:`scalinglab.laws.influence` and, for
comparison, by the same modified z-score on the plain residuals. Then plants outliers
(a few runs' losses raised by ``--planted-shift``) and counts how many are found.

    python benchmarks/outlier_rate.py [--repeats 30] [--noise 0.003] [--planted-shift 0.05]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from scalinglab.laws import ChinchillaLaw, fit_law
from scalinglab.laws.influence import influential_runs, outlier_cutoff, residual_z
from scalinglab.laws.synthetic import isoflop_design

TRUTH = ChinchillaLaw(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)
GRIDS = ((5, 7), (8, 15))
PLANTED = 3


def named_outliers(runs: pd.DataFrame) -> tuple[set[int], int]:
    """Rows named as outliers (leave-one-out rule) and the count by plain residuals."""
    fit = fit_law("chinchilla", runs)
    found = influential_runs(fit, runs, np.arange(len(runs)))
    predicted = fit.predict(N=runs["N"].to_numpy(), D=runs["D"].to_numpy())
    plain = residual_z(np.log(runs["loss"].to_numpy()), np.log(predicted))
    cutoff = outlier_cutoff(len(runs))
    return {run["line"] for run in found.outliers}, int((np.abs(plain) > cutoff).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="seeded data sets per grid")
    parser.add_argument("--noise", type=float, default=0.003, help="relative noise on the loss")
    parser.add_argument(
        "--planted-shift", type=float, default=0.05, help="relative rise of a planted outlier"
    )
    options = parser.parse_args()
    start = time.perf_counter()
    for budgets, sizes in GRIDS:
        loo, plain, found = [], [], 0
        for seed in range(options.repeats):
            design = isoflop_design(
                TRUTH,
                np.geomspace(1e18, 1e21, budgets),
                sizes_per_budget=sizes,
                noise=options.noise,
                seed=seed,
            )
            runs = pd.DataFrame(design)
            named, plain_count = named_outliers(runs)
            loo.append(len(named))
            plain.append(plain_count)
            planted = np.random.default_rng(seed).choice(len(runs), PLANTED, replace=False)
            runs.loc[planted, "loss"] *= 1.0 + options.planted_shift
            found += len(named_outliers(runs)[0] & set(planted.tolist()))
        n = budgets * sizes
        print(
            f"{n} runs per fit, {options.repeats} fits, noise {options.noise:.1%}: outliers "
            f"named on clean data {np.mean(loo):.2f} per fit (leave-one-out; fits naming any: "
            f"{np.mean(np.array(loo) > 0):.0%}), {np.mean(plain):.2f} per fit by plain "
            f"residuals; planted (+{options.planted_shift:.0%}) found "
            f"{found}/{PLANTED * options.repeats}"
        )
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
