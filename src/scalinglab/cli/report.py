"""``scalinglab report``: a sweep's fits and plots, and the fine-tuning case study, as
HTML (self-contained), PNG and Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from scalinglab.cli.options import Registry
from scalinglab.errors import ScalingLabError


def report(
    out: Annotated[Path, typer.Option("--out", help="Folder for the HTML, Markdown and PNGs.")],
    sweep: Annotated[
        str | None,
        typer.Option(
            "--sweep",
            help="Sweep name in the registry: its fits and plots (report.html, report.md).",
        ),
    ] = None,
    registry: Registry = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for 95% intervals.")
    ] = 200,
    holdout_largest: Annotated[
        int,
        typer.Option("--holdout-largest", min=0, help="Largest runs (by C) held out of the fit."),
    ] = 2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    finetune_sweep: Annotated[
        Path | None,
        typer.Option(
            "--finetune-sweep",
            help="sweep.json of `scalinglab finetune-sweep`: the case study (measured table, "
            "fitted laws, score and cost versus N) as casestudy.html and casestudy.md.",
        ),
    ] = None,
    plan: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            help="With --finetune-sweep: the JSON of `scalinglab plan --finetune-sweep ... "
            "--json`, whose sizes join the case study (extrapolated score, planned cost).",
        ),
    ] = None,
) -> None:
    """Write self-contained HTML reports: a sweep's fits (--sweep) and/or the fine-tuning
    case study (--finetune-sweep, optionally with --plan)."""
    console = Console()
    try:
        if plan is not None and finetune_sweep is None:
            raise ScalingLabError("--plan joins the case study: give --finetune-sweep too")
        if sweep is None and finetune_sweep is None:
            raise ScalingLabError("give --sweep NAME, --finetune-sweep SWEEP.json, or both")
        if finetune_sweep is not None:
            from scalinglab.report.casestudy import build_casestudy_report

            study = build_casestudy_report(finetune_sweep, out, plan=plan)
            _done(console, study.warnings, study.html, study.markdown, len(study.pngs))
        if sweep is not None:
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
            _done(console, result.warnings, result.html, result.markdown, len(result.pngs))
    except ScalingLabError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(error.exit_code) from None


def _done(console: Console, warnings: list[str], html: Path, markdown: Path, pngs: int) -> None:
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"wrote {html}, {markdown} and {pngs} PNGs")
