"""The report: files, content, and a render in headless Chromium (not blank, no errors)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.report import TargetCheck, build_report


@pytest.fixture(scope="module")
def report(synthetic_registry, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    target = TargetCheck(
        flops=1e14, n_params_nonembed=400_000, tokens=10_000_000, predicted_loss=3.1,
        interval=(3.0, 3.2), measured_loss=3.12,
    )  # fmt: skip
    return build_report(synthetic_registry, "synthetic", out, bootstrap=40, target=target)


@pytest.mark.slow
def test_report_files_and_recovered_law(report):
    names = sorted(p.name for p in report.pngs)
    assert names == ["frontier.png", "holdout.png", "isoflop.png", "optimal.png"]
    html = report.html.read_text()
    assert html.count("data:image/png;base64,") == 4
    assert "Prediction checked" in html
    assert "synthetic-C1e12" in html
    markdown = report.markdown.read_text()
    assert "![IsoFLOP curves](isoflop.png)" in markdown
    assert "| approach 3 (parametric) |" in markdown
    law = report.fit.results["approach3"].fits["chinchilla"].law
    assert abs(law.alpha - 0.3) < 0.01  # measured 0.0027 on these 28 runs with 1% noise
    assert len(report.fit.methods["approach3"].holdout) == 2


@pytest.mark.slow
def test_extra_figures_follow_the_report_s_own(synthetic_registry, tmp_path):
    from matplotlib.figure import Figure

    figure = Figure()
    figure.subplots().plot([1, 2], [3, 1])
    extra = {"lr_pilot": (figure, "Learning-rate pilot", "Loss versus lr per width.")}
    result = build_report(
        synthetic_registry, "synthetic", tmp_path, bootstrap=10, extra_figures=extra
    )
    assert [p.name for p in result.pngs][-1] == "lr_pilot.png"
    assert (tmp_path / "lr_pilot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = result.html.read_text()
    assert html.count("data:image/png;base64,") == 5
    assert "Learning-rate pilot" in html
    assert "Loss versus lr per width." in html
    markdown = result.markdown.read_text()
    assert "![Learning-rate pilot](lr_pilot.png)\n\nLoss versus lr per width." in markdown
    with pytest.raises(ScalingLabError, match="'frontier' has the name of a report figure"):
        build_report(
            synthetic_registry, "synthetic", tmp_path, bootstrap=10,
            extra_figures={"frontier": extra["lr_pilot"]},
        )  # fmt: skip


def test_report_needs_runs(tmp_path):
    from scalinglab.registry import Registry

    db = tmp_path / "r.db"
    with Registry(db) as registry:
        registry.add_sweep("empty", {"runs": []})
    with pytest.raises(ScalingLabError, match="no data rows"):
        build_report(db, "empty", tmp_path / "out")


@pytest.mark.slow
def test_report_renders_in_headless_chromium(report, render_in_chromium):
    page = render_in_chromium(report.html)
    assert (page.pixels < 0.9).any(axis=-1).mean() > 0.02, "the page rendered blank"
    assert len(re.findall(r'<img src="data:image/png;base64,', page.dom)) == 4
    assert "Scaling study: synthetic" in page.dom
    assert page.console == [], page.console
    assert np.isfinite(page.pixels).all()
