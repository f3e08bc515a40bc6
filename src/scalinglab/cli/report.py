"""``scalinglab report``: a sweep's fits and plots as HTML (self-contained), PNG, Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from scalinglab.cli.options import Registry, SweepName


def report(
    sweep: SweepName,
    out: Annotated[Path, typer.Option("--out", help="Folder for report.html, report.md, PNGs.")],
    registry: Registry = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for 95% intervals.")
    ] = 200,
    holdout_largest: Annotated[
        int,
        typer.Option("--holdout-largest", min=0, help="Largest runs (by C) held out of the fit."),
    ] = 2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
) -> None:
    """Fit a sweep's runs and write a self-contained HTML report, PNGs and Markdown."""
    from scalinglab.report import build_report
    from scalinglab.sweep.status import default_registry

    result = build_report(
        registry or default_registry(),
        sweep,
        out,
        bootstrap=bootstrap,
        holdout_largest=holdout_largest,
        seed=seed,
    )
    console = Console()
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"wrote {result.html}, {result.markdown} and {len(result.pngs)} PNGs")
