"""How fast is ``fit_law`` on the Epoch data, against the peers, side by side?

Fits L(N, D) = E + A/N^alpha + B/D^beta to the 240 Epoch points (5 highest losses
removed; summed Huber, delta 1e-3, natural-log loss) three ways in one run:

* scalinglab ``fit_law`` with its full default grid (Hoffmann et al.'s 4,500 starts);
* a scipy L-BFGS-B loop over the grid's starts, one start at a time, with an analytic
  gradient (the method of Epoch's notebook, given exact gradients so it is at its best);
* the PyPI package ``chinchilla`` (BFGS over the same grid, its own multiprocessing pool,
  its default 128-bit floats), given Chinchilla's log-Huber loss.

The peers take minutes on the full grid, so by default they run a seeded random subset
of ``--peer-starts`` starts, and their time is scaled to 4,500 starts (printed as such).
Times: wall seconds and CPU seconds (user + system of this process and its children);
on a shared machine CPU seconds are the figure that transfers.

    python benchmarks/fit_speed.py [--peer-starts 450] [--repeats 3] [--no-package]
    python benchmarks/fit_speed.py --rows 100000

``--rows R`` instead times ``scalinglab fit`` end to end on a table of R synthetic runs
(sizes 1e7-1e10 and tokens 1e8-1e12 drawn log-uniformly, seeded; loss from a known
Chinchilla law with 1% log-normal noise): the command in a fresh process (reading the
CSV, unit checks, the grid search, the influential-runs search, the report), its CPU
seconds (user + system) and how far the fitted parameters are from the truth.

All three run with one BLAS thread (set before numpy loads): the peers' per-iteration
BLAS calls are tiny, and a multi-threaded BLAS on a shared 2-core machine made the scipy
loop about 6x slower in our measurements.
"""

from __future__ import annotations

import os

# One BLAS thread for everyone: on this small shared machine OpenBLAS's thread pool makes
# each tiny L-BFGS-B iteration of the scipy peer about 6x slower; this keeps it at its best.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import functools
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from scalinglab.laws import fit_law
from scalinglab.laws.forms.chinchilla import chinchilla_grid
from scalinglab.laws.objectives import huber

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "chinchilla_epoch_2024.csv"
DELTA = 1e-3


def epoch_points() -> pd.DataFrame:
    table = pd.read_csv(DATA)
    return table[table["loss"] < np.sort(table["loss"].to_numpy())[-5]].reset_index(drop=True)


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn):
    wall, cpu = time.perf_counter(), cpu_seconds()
    out = fn()
    return out, time.perf_counter() - wall, cpu_seconds() - cpu


def huber_objective(theta: np.ndarray, logN: np.ndarray, logD: np.ndarray, logy: np.ndarray):
    """Epoch's objective with its analytic gradient, in (e, a, b, alpha, beta)."""
    e, a, b, alpha, beta = theta
    t1, t2, t3 = np.exp(a - alpha * logN), np.exp(b - beta * logD), np.exp(e)
    total = t1 + t2 + t3
    r = np.log(total) - logy
    d1 = np.clip(r, -DELTA, DELTA)
    p1, p2, p3 = t1 / total, t2 / total, t3 / total
    grad = np.array(
        [
            (d1 * p3).sum(),
            (d1 * p1).sum(),
            (d1 * p2).sum(),
            -(d1 * p1 * logN).sum(),
            -(d1 * p2 * logD).sum(),
        ]
    )
    return float(huber(r, DELTA).sum()), grad


def scipy_loop(table: pd.DataFrame, starts: np.ndarray) -> float:
    """Best objective of L-BFGS-B (no bounds, as Epoch) from every start in turn."""
    args = (
        np.log(table["N"].to_numpy()),
        np.log(table["D"].to_numpy()),
        np.log(table["loss"].to_numpy()),
    )
    best = np.inf
    with np.errstate(all="ignore"):
        for start in starts:
            result = minimize(huber_objective, start, args=args, jac=True, method="L-BFGS-B")
            if np.isfinite(result.fun):
                best = min(best, float(result.fun))
    return best


def chinchilla_package(table: pd.DataFrame, starts: np.ndarray) -> float:
    """Best summed Huber objective found by the ``chinchilla`` package's BFGS grid fit."""
    import itertools

    from chinchilla import Chinchilla
    from chinchilla._metrics import log_huber

    # Its grid is a product of axes; use the axes that generate the sampled starts.
    axes = {
        name: np.unique(starts[:, i]) for i, name in enumerate(("e", "a", "b", "alpha", "beta"))
    }
    assert len(list(itertools.product(*axes.values()))) >= len(starts)
    with tempfile.TemporaryDirectory() as project:
        table[["C", "N", "D", "loss"]].to_csv(os.path.join(project, "df.csv"), index=False)
        model = Chinchilla(
            project,
            param_grid=axes,
            loss_fn=functools.partial(log_huber, delta=DELTA),
            log_level=40,
        )
        with np.errstate(all="ignore"):
            model.fit(parallel=True)
        params = model.get_params()
    law_log = np.log(
        params["E"]
        + params["A"] / table["N"].to_numpy() ** params["alpha"]
        + params["B"] / table["D"].to_numpy() ** params["beta"]
    )
    return float(huber(law_log - np.log(table["loss"].to_numpy()), DELTA).sum())


def package_axes_for(n_starts: int) -> np.ndarray:
    """A product grid of about ``n_starts`` points drawn from Chinchilla's axes (seeded)."""
    rng = np.random.default_rng(0)
    e = np.arange(-1.0, 1.5, 0.5)
    ab = np.arange(0.0, 30.0, 5.0)
    ex = np.arange(0.0, 2.5, 0.5)
    full = (e, ab, ab, ex, ex)
    keep = list(full)
    while np.prod([len(a) for a in keep]) > n_starts:
        i = int(np.argmax([len(a) for a in keep]))
        keep[i] = np.sort(rng.choice(keep[i], len(keep[i]) - 1, replace=False))
    import itertools

    return np.array(list(itertools.product(*keep)))


TRUTH = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}


def write_rows(path: Path, rows: int) -> None:
    """``rows`` synthetic runs of the law ``TRUTH`` (seeded) as a CSV at ``path``."""
    from scalinglab.laws import ChinchillaLaw

    rng = np.random.default_rng(0)
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), rows))
    D = np.exp(rng.uniform(np.log(1e8), np.log(1e12), rows))
    loss = ChinchillaLaw(**TRUTH).predict(N=N, D=D) * np.exp(rng.normal(0.0, 0.01, rows))
    pd.DataFrame({"N": N, "D": D, "loss": loss}).to_csv(path, index=False)


def time_rows(rows: int) -> None:
    """Time ``scalinglab fit`` on ``rows`` synthetic runs in a child process."""
    import json
    import subprocess
    import sys

    with tempfile.TemporaryDirectory() as folder:
        table, out = Path(folder) / "runs.csv", Path(folder) / "fit.json"
        write_rows(table, rows)
        command = [sys.executable, "-m", "scalinglab", "fit", str(table), "--json", str(out)]
        _, wall, cpu = timed(lambda: subprocess.run(command, check=True, capture_output=True))
        fit = json.loads(out.read_text())
    errors = ", ".join(
        f"{name} {fit['params'][name] / value - 1:+.2%}" for name, value in TRUTH.items()
    )
    print(f"scalinglab fit on {rows} rows: {wall:.1f} s wall, {cpu:.1f} s CPU")
    print(f"  fitted vs truth: {errors}; influential runs named: {len(fit['influential'])}")
    print(f"  load average at end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--peer-starts", type=int, default=450, help="starts the peers run (<= 4500)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the scalinglab fit")
    parser.add_argument("--no-package", action="store_true", help="skip the chinchilla package")
    parser.add_argument(
        "--rows", type=int, default=0, help="time `scalinglab fit` on this many synthetic runs"
    )
    options = parser.parse_args()
    if options.rows:
        time_rows(options.rows)
        return

    table = epoch_points()
    grid = chinchilla_grid()
    print(f"Epoch data: {len(table)} points; default grid: {len(grid)} starts")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")

    ours = []
    for _ in range(options.repeats):
        fit, wall, cpu = timed(lambda: fit_law("chinchilla", table))
        ours.append((wall, cpu))
    wall_ours, cpu_ours = np.median(ours, axis=0)
    print(
        f"scalinglab fit_law, {len(grid)} starts: objective {fit.value:.9e}; median of "
        f"{options.repeats}: {wall_ours:.2f} s wall, {cpu_ours:.2f} s CPU; "
        f"{fit.n_starts_in_best_basin} starts in the best basin"
    )

    rng = np.random.default_rng(0)
    subset = grid[rng.choice(len(grid), min(options.peer_starts, len(grid)), replace=False)]
    scale = len(grid) / len(subset)
    note = (
        ""
        if len(subset) == len(grid)
        else f" (ran {len(subset)} starts, times scaled x{scale:.1f})"
    )
    best, wall, cpu = timed(lambda: scipy_loop(table, subset))
    wall, cpu = wall * scale, cpu * scale
    print(
        f"scipy L-BFGS-B loop, analytic gradient{note}: objective {best:.9e}; "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU for {len(grid)} starts"
    )
    print(
        f"  ratio scipy / scalinglab: {wall / wall_ours:.1f}x wall, {cpu / cpu_ours:.1f}x CPU; "
        f"objective difference {best - fit.value:+.2e}"
    )

    if not options.no_package:
        starts = package_axes_for(len(subset))
        scale = len(grid) / len(starts)
        best, wall, cpu = timed(lambda: chinchilla_package(table, starts))
        wall, cpu = wall * scale, cpu * scale
        print(
            f"chinchilla package (BFGS, 128-bit, {os.cpu_count()} processes; ran {len(starts)} "
            f"starts of a sub-grid, times scaled x{scale:.1f}): objective {best:.9e}; "
            f"{wall:.1f} s wall, {cpu:.1f} s CPU for {len(grid)} starts"
        )
        print(
            f"  ratio chinchilla / scalinglab: {wall / wall_ours:.1f}x wall, "
            f"{cpu / cpu_ours:.1f}x CPU; objective difference {best - fit.value:+.2e}"
        )
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
