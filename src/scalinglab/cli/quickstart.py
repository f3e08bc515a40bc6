"""``scalinglab quickstart``: the whole loop (sweep, fits, prediction, check, report)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def quickstart(
    budget_minutes: Annotated[
        float,
        typer.Option(
            "--budget-minutes",
            help="Wall time to aim for (minutes), counting the extra budget trained when "
            "the law is not identified; scales the budgets (never below a floor: a note "
            "says when the floor needs longer).",
        ),
    ] = 10.0,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the registry, runs and report.")
    ] = Path("scalinglab-quickstart"),
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help="Write predicted_loss, predicted_interval, measured_loss, target_flops, "
            "wall_seconds (and more) here.",
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Parallel runs (count); default: cores.")
    ] = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=10, help="Bootstrap resamples for the intervals.")
    ] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the runs and the bootstrap.")] = 0,
    recipe: Annotated[
        Path | None,
        typer.Option(
            "--recipe",
            help="Recipe JSON (scalinglab recipe fit): every run's learning rate from its law "
            "instead of the learning-rate pilot.",
        ),
    ] = None,
    precision: Annotated[
        str,
        typer.Option(
            "--precision",
            help="auto (bf16 autocast where the CPU computes bf16 natively), bf16 or fp32 "
            "(as on CPUs without AVX-512 BF16).",
        ),
    ] = "auto",
) -> None:
    """Choose the learning rate by a pilot sweep, run an IsoFLOP sweep, fit (adding a
    larger budget when the law has a parameter at a bound), predict a larger run, train
    it, compare, and write a report."""
    from scalinglab.laws.hyperparams import Recipe
    from scalinglab.quickstart import run_quickstart, write_json

    result = run_quickstart(
        budget_minutes,
        out,
        workers=workers,
        bootstrap=bootstrap,
        seed=seed,
        recipe=None if recipe is None else Recipe.read(recipe),
        precision=precision,
    )
    if json_out is not None:
        write_json(result, json_out)
    low, high = result.predicted_interval
    console = Console()
    for warning in result.warnings:
        console.print(f"warning: {warning}")
    console.print(
        f"predicted loss {result.predicted_loss:.4f} (95% [{low:.4f}, {high:.4f}]), measured "
        f"{result.measured_loss:.4f} ({100 * result.rel_error:+.2f}%) at "
        f"C = {result.target_flops:.3g} FLOPs; {result.wall_seconds:.0f} s; report {result.report}"
    )
