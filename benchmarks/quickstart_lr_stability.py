"""How stable is the quickstart's learning rate for its target? A diagnostic on the
pilots of finished quickstarts (issue 14, item 5), reading only the pilot runs' own
validation losses, never a target loss.

Each ``--pair LABEL A B`` names two quickstart results (``--json`` files) that differ in
one thing (e.g. the precision); ``A`` and ``B`` may each list several files joined by
commas, whose pilot losses are averaged per (width, rate) first (a pilot over several
seeds). For each estimator of the learning-rate law the script prints the law's
exponent and the rate it gives the target (``target_n_params_nonembed`` of the first
file), for ``A`` and ``B``, and their ratio: 1 when the two pilots agree.

Estimators: ``ols`` (the quickstart's own: least squares in log space over the optima,
:func:`~scalinglab.laws.hyperparams.fit_power_law`), ``wls`` (weighted by each
optimum's interval, :func:`~scalinglab.laws.hyperparams.log_sd`), ``theil-sen``
(median of the pairwise slopes), ``joint`` (one surface over every pilot run: a
parabola in log lr per width with shared curvature, its centre a line in log N) and
``constant`` (the geometric mean of the optima past the smallest width).

    python benchmarks/quickstart_lr_stability.py \\
        --pair floor-seed0 bf16/q.json fp32/q.json \\
        --pair floor-two-seeds bf16/q.json,bf16-s1/q.json fp32/q.json,fp32-s1/q.json
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from scalinglab.io import dumps_strict
from scalinglab.laws.hyperparams import (
    Optimum,
    fit_power_law,
    located_optima,
    log_sd,
    optimal_settings,
)
from scalinglab.quickstart.lr_pilot import PILOT_NAME
from scalinglab.registry import Registry
from scalinglab.sweep.export import runs_dataframe

#: Rates each side of a width's best run that the joint surface uses (a factor of 4).
JOINT_WINDOW = math.log(4.01)


def pilot_losses(files: list[Path]) -> tuple[pd.DataFrame, float]:
    """The pilot runs of ``files`` pooled by :func:`pool`, and the first file's target N."""
    results = [json.loads(path.read_text()) for path in files]
    frames = []
    for result in results:
        with Registry(result["registry"]) as registry:
            frame, _ = runs_dataframe(registry, PILOT_NAME)
        frames.append(frame)
    return pool(frames), float(results[0]["target_n_params_nonembed"])


def pool(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One pilot from several: the loss of each (N, D, lr) averaged over the frames,
    keeping only the runs every frame has (a diverged run, NaN loss, drops its run)."""
    columns = ["N", "D", "lr", "loss"]
    stacked = pd.concat([frame[columns].astype(float) for frame in frames])
    stacked = stacked[np.isfinite(stacked["loss"])]
    pooled = stacked.groupby(["N", "D", "lr"])["loss"].agg(["mean", "size"])
    pooled = pooled[pooled["size"] == len(frames)].reset_index()
    return pooled.rename(columns={"mean": "loss"})[columns]


def _line(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    w = np.ones_like(x) if weights is None else weights
    slope, intercept = np.polyfit(x, y, 1, w=np.sqrt(w))
    return float(slope), float(intercept)


def _logs(optima: list[Optimum]) -> tuple[np.ndarray, np.ndarray]:
    return np.log([o.keys["N"] for o in optima]), np.log([o.value for o in optima])


def ols(frame: pd.DataFrame, optima: list[Optimum]) -> tuple[float, float]:
    law, _ = fit_power_law(optima, "lr", ("N", "D"), bootstrap=0)
    return law.exponents.get("N", 0.0), math.log(law.coefficient)


def wls(frame: pd.DataFrame, optima: list[Optimum]) -> tuple[float, float]:
    x, y = _logs(optima)
    sd = log_sd(optima)
    if not (sd > 0).all():  # an optimum located exactly (noiseless losses): no weights
        return _line(x, y)
    return _line(x, y, 1 / sd**2)


def theil_sen(frame: pd.DataFrame, optima: list[Optimum]) -> tuple[float, float]:
    x, y = _logs(optima)
    slopes = [(y[j] - y[i]) / (x[j] - x[i]) for i in range(len(x)) for j in range(i + 1, len(x))]
    slope = float(np.median(slopes))
    return slope, float(np.median(y - slope * x))


def joint(frame: pd.DataFrame, optima: list[Optimum]) -> tuple[float, float]:
    widths = np.sort(frame["N"].unique())
    index = np.searchsorted(widths, frame["N"].to_numpy())
    x, y = np.log(frame["lr"].to_numpy()), frame["loss"].to_numpy()
    near = np.zeros(len(y), bool)
    for i in range(len(widths)):
        rows = index == i
        near |= rows & (np.abs(x - x[rows][np.argmin(y[rows])]) <= JOINT_WINDOW)
    mean_logn = float(np.log(widths).mean())
    logn = np.log(widths)[index][near] - mean_logn
    x, y, index = x[near], y[near], index[near]

    def residuals(p: np.ndarray) -> np.ndarray:
        centre = p[0] + p[1] * logn
        return p[3:][index] + p[2] * (x - centre) ** 2 - y

    best_runs = [y[index == i].min() for i in range(len(widths))]
    start = [float(np.median(x[np.isin(y, best_runs)])), 0.0, 0.05, *best_runs]
    intercept, exponent = least_squares(residuals, start).x[:2]
    return float(exponent), float(intercept - exponent * mean_logn)


def constant(frame: pd.DataFrame, optima: list[Optimum]) -> tuple[float, float]:
    _, y = _logs(sorted(optima, key=lambda o: o.keys["N"])[1:])
    return 0.0, float(y.mean())


ESTIMATORS: dict[str, Callable[[pd.DataFrame, list[Optimum]], tuple[float, float]]] = {
    "ols": ols,
    "wls": wls,
    "theil-sen": theil_sen,
    "joint": joint,
    "constant": constant,
}


def target_rates(files: list[Path]) -> dict[str, tuple[float, float]]:
    """Per estimator: (exponent in N, the target's learning rate)."""
    return rates_at(*pilot_losses(files))


def rates_at(frame: pd.DataFrame, target_n: float) -> dict[str, tuple[float, float]]:
    """Per estimator: (exponent in N, the rate at ``target_n``) from one pilot's runs."""
    optima = located_optima(optimal_settings(frame, "lr", ("N", "D")))
    out = {}
    for name, estimator in ESTIMATORS.items():
        exponent, log_coefficient = estimator(frame, optima)
        out[name] = (exponent, math.exp(log_coefficient + exponent * math.log(target_n)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pair", nargs=3, action="append", required=True,
                        metavar=("LABEL", "A", "B"))  # fmt: skip
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = {}
    for label, first, second in args.pair:
        a = target_rates([Path(p) for p in first.split(",")])
        b = target_rates([Path(p) for p in second.split(",")])
        result[label] = {}
        for name in ESTIMATORS:
            ratio = a[name][1] / b[name][1]
            result[label][name] = {
                "exponent": [a[name][0], b[name][0]],
                "target_lr": [a[name][1], b[name][1]],
                "ratio": ratio,
            }
            print(f"{label:<18} {name:<10} exponent {a[name][0]:+.3f} / {b[name][0]:+.3f}   "
                  f"target lr {a[name][1]:.3g} / {b[name][1]:.3g}   ratio {ratio:.2f}")  # fmt: skip
    if args.json:
        args.json.write_text(dumps_strict(result, indent=1))


if __name__ == "__main__":
    main()
