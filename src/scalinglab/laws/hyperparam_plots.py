"""Plots of a learning-rate (or batch-size) study: loss versus the hyperparameter for
each run setting with the fitted parabola and its optimum, and the optima against model
size with the fitted law and its 95% band. Matplotlib's object-oriented API on the Agg
canvas, as in :mod:`scalinglab.laws.plots`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from scalinglab.laws.hyperparams import Optimum, PowerLaw


def plot_lr_study(
    frame: pd.DataFrame, optima: list[Optimum], law: PowerLaw | None, column: str = "lr"
) -> Figure:
    """Left: loss versus ``column`` per ``(N, D)``, coloured by ``N``, optima marked.
    Right: the optima versus ``N`` with their intervals and the law at each ``D``."""
    figure = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(figure)
    curves, trend = figure.subplots(1, 2)
    norm = LogNorm(frame["N"].min(), frame["N"].max() * 1.0001)
    cmap = colormaps["viridis"]
    for (n, _), rows in frame.groupby(["N", "D"]):
        rows = rows.sort_values(column)
        curves.plot(rows[column], rows["loss"], "o-", color=cmap(norm(n)), ms=3, lw=1)
    for optimum in optima:
        marker = "x" if optimum.at_edge else "*"
        curves.plot(optimum.value, optimum.loss, marker, color="black", ms=8)
    curves.set_xscale("log")
    curves.set_xlabel(f"{column}")
    curves.set_ylabel("loss (nats/token)")
    curves.set_title(f"loss vs {column} per (N, D); * optimum, x at the grid edge")
    usable = [o for o in optima if not o.at_edge and math.isfinite(o.value)]
    n_values = np.array([o.keys["N"] for o in usable])
    values = np.array([o.value for o in usable])
    errors = np.array(
        [
            [o.value - o.lower if math.isfinite(o.lower) else 0 for o in usable],
            [o.upper - o.value if math.isfinite(o.upper) else 0 for o in usable],
        ]
    )
    trend.errorbar(n_values, values, yerr=errors, fmt="o", color="black", ms=4, label="optima")
    if law is not None and usable:
        grid = np.geomspace(n_values.min() / 2, n_values.max() * 4, 60)
        for d in sorted({o.keys["D"] for o in usable}):
            inputs = [{"N": n, "D": d} for n in grid]
            used = [{k: v for k, v in i.items() if k in law.exponents} for i in inputs]
            line = [law.predict(**u) for u in used]
            band = np.array([law.interval(**u) for u in used])
            label = f"law, D = {d:.3g}" if "D" in law.exponents else "law"
            (drawn,) = trend.plot(grid, line, lw=1, label=label)
            trend.fill_between(grid, band[:, 0], band[:, 1], color=drawn.get_color(), alpha=0.15)
            if "D" not in law.exponents:
                break
    trend.set_xscale("log")
    trend.set_yscale("log")
    trend.set_xlabel("N (non-embedding parameters)")
    trend.set_ylabel(f"best {column}")
    trend.set_title(law.formula() if law is not None else f"best {column}")
    trend.legend(fontsize=7)
    figure.tight_layout()
    return figure


def write_lr_study_plot(
    path: str | Path,
    frame: pd.DataFrame,
    optima: list[Optimum],
    law: PowerLaw | None,
    column: str = "lr",
) -> Path:
    """Write :func:`plot_lr_study` as a PNG at ``path``."""
    path = Path(path)
    plot_lr_study(frame, optima, law, column).savefig(path, dpi=110)
    return path
