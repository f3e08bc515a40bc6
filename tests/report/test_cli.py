"""End to end through the CLI: runs export -> scalinglab fit, and scalinglab report."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scalinglab.cli.app import app


def test_export_then_fit_recovers_the_law(synthetic_registry, tmp_path):
    runner = CliRunner()
    table = tmp_path / "runs.parquet"
    export = runner.invoke(
        app,
        ["runs", "export", "--sweep", "synthetic", "--registry", str(synthetic_registry),
         "--out", str(table)],
    )  # fmt: skip
    assert export.exit_code == 0, export.output
    assert "wrote 26 rows" in export.output or "wrote" in export.output
    fitted = tmp_path / "fit.json"
    fit = runner.invoke(app, ["fit", str(table), "--method", "approach3", "--json", str(fitted)])
    assert fit.exit_code == 0, fit.output
    params = json.loads(fitted.read_text())["params"]
    assert abs(params["alpha"] - 0.3) < 0.1
    assert abs(params["beta"] - 0.32) < 0.1


def test_export_of_unknown_sweep_exits_2(synthetic_registry, tmp_path):
    result = CliRunner().invoke(
        app,
        ["runs", "export", "--sweep", "nope", "--registry", str(synthetic_registry),
         "--out", str(tmp_path / "x.csv")],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "no sweep named 'nope'" in str(result.exception) + result.output


@pytest.mark.slow
def test_report_command_writes_the_page(synthetic_registry, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        ["report", "--sweep", "synthetic", "--registry", str(synthetic_registry),
         "--out", str(out), "--bootstrap", "10"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / "report.html").exists()
    assert sorted(p.name for p in out.glob("*.png")) == [
        "frontier.png", "holdout.png", "isoflop.png", "optimal.png"
    ]  # fmt: skip
    assert "Fitted laws" in (out / "report.md").read_text()
