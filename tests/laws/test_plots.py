"""Fit plots: frontier with its band, IsoFLOP parabolas, N* versus C."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from scalinglab.laws import plots
from scalinglab.laws.forms import ChinchillaLaw
from scalinglab.laws.runs_table import example_runs_table

LAW = ChinchillaLaw(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_frontier_plot_with_band_and_held_out_runs(tmp_path: Path) -> None:
    table = example_runs_table("chinchilla")
    rng = np.random.default_rng(0)
    samples = {k: v * np.exp(rng.normal(0.0, 0.01, 100)) for k, v in LAW.params.items()}
    fig = plots.plot_frontier(table.df, LAW, samples=samples, held_out=table.df.nlargest(3, "C"))
    ax = fig.axes[0]
    band = ax.collections[-1]  # the interval band is drawn last
    assert "95% interval" in [text.get_text() for text in ax.get_legend().get_texts()]
    vertices = band.get_paths()[0].vertices
    assert vertices[:, 0].max() == pytest.approx(table.df["C"].max() * 10, rel=1e-9)
    path = plots.save(fig, tmp_path / "deep" / "frontier.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_isoflop_and_nstar_plots_draw_on_given_axes(tmp_path: Path) -> None:
    fig = Figure()
    left, right = fig.subplots(1, 2)
    x = np.log([1e8, 3e8, 1e9])
    curves = [
        plots.IsoFLOPCurve(
            C=C,
            N=np.exp(x + shift),
            loss=np.array([3.0, 2.8, 2.9]) - shift / 10,
            coefficients=tuple(np.polyfit(x + shift, np.array([3.0, 2.8, 2.9]) - shift / 10, 2)),
            N_opt=float(np.exp(x[1] + shift)),
            loss_opt=2.8 - shift / 10,
        )
        for shift, C in ((0.0, 1e19), (1.0, 1e20))
    ]
    assert plots.plot_isoflops(curves, ax=left) is fig
    lines = {"approach 3": lambda C: LAW.compute_optimal(C)[0]}
    points = {"approach 2": ([1e19, 1e20], [3e8, 8e8])}
    assert plots.plot_nstar(lines, points, C_range=(1e19, 1e20), ax=right) is fig
    assert right.get_yscale() == "log"
    assert len(left.lines) == 2
    assert plots.save(fig, tmp_path / "both.png").stat().st_size > 1000
