"""Plots of scaling-law fits: the compute frontier, IsoFLOP curves and N* versus C.

Each ``plot_*`` function draws on ``ax`` (a new figure when ``None``) and returns the
figure, so a report can place the plots where it likes; :func:`write_fit_plots` writes
the PNG files that ``scalinglab fit --plot`` promises. Matplotlib is used through its
object-oriented API with the Agg canvas (no pyplot, no display, safe in threads).

Units: ``C`` FLOPs, ``N`` parameters, ``D`` tokens, loss in nats per token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap, LogNorm
from matplotlib.figure import Figure

from scalinglab.errors import ScalingLabError
from scalinglab.laws.approaches import ApproachResult, group_budgets
from scalinglab.laws.forms import LawForm
from scalinglab.laws.frontier import TokenCost, frontier_band, frontier_loss
from scalinglab.laws.orchestrate import FitReport

Curve = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class IsoFLOPCurve:
    """One IsoFLOP budget: its runs and the parabola in ``ln N`` fitted to them.

    ``coefficients`` are ``(c2, c1, c0)`` of ``loss = c2 x**2 + c1 x + c0`` with
    ``x = ln N``; ``N_opt`` and ``loss_opt`` are the parabola's minimum.
    """

    C: float
    N: np.ndarray
    loss: np.ndarray
    coefficients: tuple[float, float, float]
    N_opt: float
    loss_opt: float


def plot_frontier(
    runs: pd.DataFrame,
    law: LawForm | None = None,
    *,
    samples: Mapping[str, Sequence[float]] | None = None,
    ci_level: float = 0.95,
    held_out: pd.DataFrame | None = None,
    extrapolate_decades: float = 1.0,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Loss versus compute for every run, with the fitted frontier and its interval band.

    ``runs`` has columns ``C``, ``loss``, ``N`` (colour) and ``D``. ``law`` gives the
    frontier (:func:`scalinglab.laws.frontier.frontier_loss` at the FLOPs per token the
    runs show, :meth:`~scalinglab.laws.frontier.TokenCost.from_runs`), drawn a further
    ``extrapolate_decades`` beyond the largest ``C`` (dashed past the data).
    ``samples`` (bootstrap draws of the law's parameters, ``{name: [K values]}``) give
    the central ``ci_level`` band.
    ``held_out`` runs are ringed in red.
    """
    fig, ax = _figure(ax)
    scatter = ax.scatter(
        runs["C"],
        runs["loss"],
        c=runs["N"],
        norm=LogNorm(),
        cmap="viridis",
        s=14,
        label="runs",
        zorder=3,
    )
    fig.colorbar(scatter, ax=ax, label="N (parameters)")
    if held_out is not None and len(held_out):
        ax.scatter(
            held_out["C"],
            held_out["loss"],
            facecolors="none",
            edgecolors="red",
            s=60,
            label="held out",
            zorder=4,
        )
    low, high = float(runs["C"].min()), float(runs["C"].max())
    grid = np.geomspace(low, high * 10**extrapolate_decades, 200)
    inside = grid <= high
    cost = TokenCost.from_runs(runs) if law is not None else None
    if law is not None and (curve := frontier_loss(law, grid, cost)) is not None:
        ax.plot(grid[inside], curve[inside], color="black", label="fitted frontier L*(C)")
        ax.plot(grid[~inside], curve[~inside], color="black", linestyle="--", label="extrapolated")
        band = frontier_band(law, samples, grid, ci_level, cost)
        if band is not None:
            ax.fill_between(
                grid, band[0], band[1], color="gray", alpha=0.3, label=f"{ci_level:.0%} interval"
            )
    ax.set_xscale("log")
    ax.set_xlabel("C (FLOPs)")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title or "Loss versus compute")
    ax.legend(loc="upper right", fontsize="small")
    return fig


def plot_isoflops(
    curves: Sequence[IsoFLOPCurve], *, title: str | None = None, ax: Axes | None = None
) -> Figure:
    """Loss versus ``N`` at each compute budget, with each parabola and its minimum."""
    fig, ax = _figure(ax)
    budgets = np.array([curve.C for curve in curves])
    norm = LogNorm(budgets.min(), budgets.max()) if len(budgets) else None
    cmap = colormaps["plasma"]
    for curve in sorted(curves, key=lambda c: c.C):
        color = _budget_color(curve.C, norm, cmap)
        ax.scatter(curve.N, curve.loss, color=color, s=12, zorder=3)
        span = np.log(np.asarray(curve.N, dtype=float))
        x = np.linspace(span.min() - 0.2, span.max() + 0.2, 100)
        ax.plot(
            np.exp(x), np.polyval(curve.coefficients, x), color=color, label=f"C = {curve.C:.1e}"
        )
        ax.scatter([curve.N_opt], [curve.loss_opt], color=color, marker="*", s=120, zorder=4)
    ax.set_xscale("log")
    ax.set_xlabel("N (parameters)")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title or "IsoFLOP curves (stars: parabola minima)")
    if len(curves) <= 12:
        ax.legend(fontsize="small")
    return fig


def plot_nstar(
    lines: Mapping[str, Curve],
    points: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    *,
    C_range: tuple[float, float],
    extrapolate_decades: float = 1.0,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Compute-optimal model size ``N*`` versus ``C``: one line per approach, and points.

    ``lines`` maps a label to ``C -> N*(C)``; ``points`` maps a label to ``(C, N*)``
    arrays (e.g. approach 1's envelope or approach 2's parabola minima). Lines span
    ``C_range`` plus ``extrapolate_decades``.
    """
    fig, ax = _figure(ax)
    grid = np.geomspace(C_range[0], C_range[1] * 10**extrapolate_decades, 100)
    for label, (C, N) in (points or {}).items():
        ax.scatter(C, N, s=20, label=f"{label}: per budget", zorder=3)
    for label, curve in lines.items():
        ax.plot(grid, curve(grid), label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("C (FLOPs)")
    ax.set_ylabel("N* (parameters)")
    ax.set_title(title or "Compute-optimal model size")
    ax.legend(fontsize="small")
    return fig


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (folders created) and return the path."""
    path = Path(path)
    FigureCanvasAgg(fig)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, bbox_inches="tight", format="png")
    except OSError as error:
        raise ScalingLabError(
            f"cannot write {path} ({error.strerror or error}); choose a writable path"
        ) from error
    return path


def _figure(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig = Figure(figsize=(7.0, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _budget_color(C: float, norm: LogNorm | None, cmap: Colormap) -> object:
    if norm is None or norm.vmin == norm.vmax:
        return None
    return cmap(0.85 * norm(C))


def isoflop_curves(report: FitReport, runs: pd.DataFrame) -> list[IsoFLOPCurve]:
    """The IsoFLOP curves of approach 2 in ``report``: each budget's runs and parabola.

    Runs are grouped into budgets as approach 2 grouped them; budgets it skipped (too
    few sizes, no minimum inside the sizes tried) are left out.
    """
    result = report.results.get("approach2")
    if result is None:
        return []
    C = runs["C"].to_numpy(dtype=float)
    groups = group_budgets(C)
    budget_of_group = {g: float(np.exp(np.mean(np.log(C[groups == g])))) for g in np.unique(groups)}
    curves = []
    for detail in result.details:
        if "N_opt" not in detail:
            continue
        group = min(budget_of_group, key=lambda g: abs(np.log(budget_of_group[g] / detail["C"])))
        rows = runs[groups == group]
        curves.append(
            IsoFLOPCurve(
                C=detail["C"],
                N=rows["N"].to_numpy(dtype=float),
                loss=rows["loss"].to_numpy(dtype=float),
                coefficients=tuple(detail["parabola"]),
                N_opt=detail["N_opt"],
                loss_opt=detail["loss_opt"],
            )
        )
    return curves


def write_fit_plots(report: FitReport, runs: pd.DataFrame, out: str | Path) -> list[Path]:
    """Write the plots of a fit and return their paths.

    ``out`` (``OUT.png``) gets loss versus C with the frontier of the main method
    (approach 3 for ``all``) and its bootstrap band; ``OUT-isoflop.png`` the IsoFLOP
    parabolas when approach 2 ran; ``OUT-nstar.png`` N* versus C of every method.
    """
    out = Path(out)
    results = report.results
    main = "approach3" if report.method == "all" else report.method
    written = [save(method_frontier_figure(report, runs, main), out)]
    curves = isoflop_curves(report, runs)
    if curves:
        written.append(save(plot_isoflops(curves), _sibling(out, "isoflop")))
    if results:
        lines = {LABELS[name]: result.n_opt for name, result in results.items()}
        points = {
            LABELS[name]: _nstar_points(results[name])
            for name in ("approach1", "approach2")
            if name in results
        }
        C_range = (float(runs["C"].min()), float(runs["C"].max()))
        written.append(save(plot_nstar(lines, points, C_range=C_range), _sibling(out, "nstar")))
    return written


LABELS = {
    "approach1": "approach 1 (envelope)",
    "approach2": "approach 2 (IsoFLOP)",
    "approach3": "approach 3 (parametric)",
    "kaplan": "Kaplan 2020",
}


def method_frontier_figure(
    report: FitReport, runs: pd.DataFrame, main: str, *, extrapolate_decades: float = 1.0
) -> Figure:
    """Loss versus C with the frontier of method ``main`` of ``report`` (its
    :attr:`~scalinglab.laws.approaches.ApproachResult.frontier_fit`), its bootstrap band,
    its held-out runs and, for approaches 1 and 2, their per-budget points. What
    ``scalinglab fit --plot`` writes and ``scalinglab report`` shows."""
    method = report.methods.get(main)
    result = method.result if method is not None else None
    drawn = result.frontier_fit if result is not None else None
    law = drawn.law if drawn is not None else None
    # The method's bootstrap samples are of its main fit: a band only when that is drawn.
    main_fit = result.fit if result is not None else None
    samples = method.samples if drawn is not None and drawn is main_fit else None  # type: ignore[union-attr]
    held = pd.DataFrame(method.holdout) if method is not None and method.holdout else None
    fig = plot_frontier(
        runs,
        law,
        samples=samples,
        held_out=held,
        extrapolate_decades=extrapolate_decades,
        title=f"Loss versus compute: {LABELS.get(main, main)}",
    )
    if result is not None and main == "approach1":
        envelope = result.details
        fig.axes[0].plot(
            [d["C"] for d in envelope], [d["loss"] for d in envelope], "k.-", label="envelope"
        )
        fig.axes[0].legend(loc="upper right", fontsize="small")
    if result is not None and main == "approach2":
        minima = [d for d in result.details if "loss_opt" in d]
        fig.axes[0].plot(
            [d["C"] for d in minima], [d["loss_opt"] for d in minima], "k*", label="IsoFLOP minima"
        )
        fig.axes[0].legend(loc="upper right", fontsize="small")
    return fig


def _nstar_points(result: ApproachResult) -> tuple[list[float], list[float]]:
    """Per-budget ``(C, N*)``: approach 1's envelope runs, approach 2's parabola minima."""
    rows = [d for d in result.details if "N_opt" in d or "N" in d]
    return [d["C"] for d in rows], [d.get("N_opt", d.get("N")) for d in rows]


def _sibling(path: Path, tag: str) -> Path:
    return path.with_name(f"{path.stem}-{tag}{path.suffix or '.png'}")
