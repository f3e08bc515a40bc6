"""`scalinglab fit --plot` and `scalinglab report` draw the same frontier for the same fit."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.laws import plots
from scalinglab.laws.forms import ChinchillaLaw
from scalinglab.report import build, build_report

CURVES = ("fitted frontier L*(C)", "extrapolated")


def _curves(figure) -> dict[str, np.ndarray]:
    ax = figure.axes[0]
    lines = {line.get_label(): line.get_xydata() for line in ax.get_lines()}
    band = ax.collections[-1].get_paths()[0].vertices
    return {**{label: lines[label] for label in CURVES}, "band": band}


@pytest.fixture(scope="module")
def fitted(synthetic_registry, tmp_path_factory):
    out = tmp_path_factory.mktemp("same-frontier")
    return build_report(synthetic_registry, "synthetic", out, bootstrap=20, holdout_largest=0)


def test_fit_plot_and_report_draw_one_curve(fitted) -> None:
    # What `fit --plot` writes for method all (approach 3) and the report's frontier figure.
    from_fit = _curves(plots.method_frontier_figure(fitted.fit, fitted.runs, "approach3"))
    from_report = _curves(build._frontier_figure(fitted.fit, fitted.runs, None))
    for name, points in from_fit.items():
        np.testing.assert_array_equal(points, from_report[name], err_msg=name)


def test_the_curve_uses_the_runs_own_flops_per_token(fitted) -> None:
    # The sweep counts FLOPs exactly, well above 6 N D for these small models, so the
    # drawn curve lies above the 6ND closed form of the same law (same C, fewer tokens).
    law = fitted.fit.results["approach3"].fits["chinchilla"].law
    assert isinstance(law, ChinchillaLaw)
    runs = fitted.runs
    assert np.all(runs["C"] > 6 * runs["N"] * runs["D"] * 1.05)
    C, drawn = _curves(plots.method_frontier_figure(fitted.fit, runs, "approach3"))[CURVES[0]].T
    closed = law.predict(*law.compute_optimal(C))
    assert np.all(drawn > closed)
