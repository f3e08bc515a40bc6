"""``scalinglab recipe fit|show``: laws of the best learning rate and batch size, fitted
from a sweep over them, written as a recipe that ``train``, ``sweep`` and ``quickstart``
read with ``--recipe FILE``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from scalinglab.cli.options import JsonFlag
from scalinglab.io import dumps_strict

recipe_app = typer.Typer(
    help="Fit hyperparameter laws (lr*(N, D), B*(C)) from a sweep and write them as a recipe.",
    no_args_is_help=True,
)


@recipe_app.command("fit")
def fit(
    table: Annotated[
        Path,
        typer.Argument(
            help="Runs table (CSV/TSV/JSONL/Parquet) with N, D, loss and the hyperparameter "
            "column(s), e.g. `scalinglab runs export` of a sweep with a \\[grid] axis."
        ),
    ],
    out: Annotated[Path | None, typer.Option("--out", help="Write the recipe JSON here.")] = None,
    lr_column: Annotated[
        str, typer.Option("--lr-column", help="Column of the peak learning rate.")
    ] = "lr",
    no_lr: Annotated[bool, typer.Option("--no-lr", help="Fit no learning-rate law.")] = False,
    one_rate: Annotated[
        bool,
        typer.Option(
            "--one-rate",
            help="Fit one learning rate for every run, the geometric mean of the optima "
            "(muP runs that differ in width share their best rate).",
        ),
    ] = False,
    batch_column: Annotated[
        str | None,
        typer.Option(
            "--batch-column",
            help="Column of the batch size (sequences, or tokens if named batch_tokens); "
            "fits B*(C) when given.",
        ),
    ] = None,
    n_ctx: Annotated[
        int | None,
        typer.Option("--n-ctx", help="Tokens per sequence (default: the table's n_ctx column)."),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for intervals.")
    ] = 1000,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="PNG of loss vs lr per setting and the optima vs N."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Find the best learning rate (and batch size) of each run setting by a parabola in
    log lr, fit power laws of the optima, print them with 95% intervals, save a recipe."""
    from scalinglab.laws.hyperparams import fit_recipe_file

    result = fit_recipe_file(
        table,
        lr_column=None if no_lr else lr_column,
        batch_column=batch_column,
        n_ctx=n_ctx,
        bootstrap=bootstrap,
        lr_inputs=() if one_rate else ("N", "D"),
    )
    if out is not None:
        result.recipe.write(out)
    if plot is not None and result.lr_optima:
        from scalinglab.laws.hyperparam_plots import write_lr_study_plot
        from scalinglab.laws.runs_table import read_runs_table

        frame = read_runs_table(table).df
        write_lr_study_plot(plot, frame, result.lr_optima, result.recipe.lr, lr_column)
    if as_json:
        typer.echo(dumps_strict(_as_json(result), indent=1))
        return
    console = Console()
    for name, optima in (("lr", result.lr_optima), ("batch_tokens", result.batch_optima)):
        if optima:
            console.print(_optima_table(name, optima))
    for law in (result.recipe.lr, result.recipe.batch_tokens):
        if law is not None:
            console.print(_law_line(law))
    for warning in result.recipe.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    if out is not None:
        console.print(f"recipe written to {out}")


@recipe_app.command("show")
def show(
    file: Annotated[Path, typer.Argument(help="Recipe JSON from `scalinglab recipe fit`.")],
    n_params: Annotated[float, typer.Option("--n", help="Non-embedding parameters N of the run.")],
    tokens: Annotated[float, typer.Option("--tokens", help="Training tokens D of the run.")],
    flops: Annotated[
        float | None,
        typer.Option("--flops", help="Training FLOPs C (default 6 N D) for the batch law."),
    ] = None,
) -> None:
    """The learning rate and batch of one run under a recipe, with 95% intervals and how
    far past the recipe's data the run lies."""
    from scalinglab.laws.hyperparams import Recipe

    recipe = Recipe.read(file)
    compute = flops if flops is not None else 6.0 * n_params * tokens
    inputs = {"N": n_params, "D": tokens, "C": compute}
    for law in (recipe.lr, recipe.batch_tokens):
        if law is None:
            continue
        used = {k: v for k, v in inputs.items() if k in law.exponents}
        low, high = law.interval(**used)
        past = law.decades_past(**used)
        where = f", {past:.1f} decades past the data" if past > 0 else ", inside the data"
        typer.echo(f"{law.target} = {law.predict(**used):.4g} [{low:.4g}, {high:.4g}]{where}")


def _optima_table(name: str, optima: list) -> Table:
    table = Table(title=f"best {name} per setting (parabola in log {name})")
    keys = list(optima[0].keys)
    for column in (*keys, f"{name}*", "95% interval", "loss", "tried", "note"):
        table.add_column(column)
    for o in optima:
        interval = "-" if math.isnan(o.lower) else f"[{o.lower:.3g}, {o.upper:.3g}]"
        table.add_row(
            *(f"{o.keys[k]:.4g}" for k in keys),
            f"{o.value:.4g}",
            interval,
            f"{o.loss:.4f}",
            str(len(o.tried)),
            o.note,
        )
    return table


def _law_line(law) -> str:
    parts = [law.formula()]
    for name in law.exponents:
        low, high = law.exponent_interval(name)
        parts.append(f"exponent of {name} 95% [{low:+.3f}, {high:+.3f}]")
    parts.append(f"{law.points} optima, RMSE {law.rmse_log:.3f} in log")
    return "; ".join(parts)


def _as_json(result) -> dict:
    from dataclasses import asdict

    return {
        "recipe": result.recipe.to_dict(),
        "lr_optima": [asdict(o) for o in result.lr_optima],
        "batch_optima": [asdict(o) for o in result.batch_optima],
    }
