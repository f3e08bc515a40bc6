"""``scalinglab fit``: fit scaling laws to a runs table, print them, write JSON and plots.

Only typer and the standard library are imported at module level, so that
``scalinglab fit --help`` answers fast; numpy, pandas, the fitter and matplotlib are
imported inside the command.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from scalinglab.io import dumps_strict

#: Warnings printed per method; the rest are in the JSON.
MAX_WARNINGS = 6
#: A fit still running after this many seconds shows a progress bar (on a terminal).
PROGRESS_AFTER_S = 2.0


class Method(str, Enum):
    approach1 = "approach1"
    approach2 = "approach2"
    approach3 = "approach3"
    kaplan = "kaplan"
    all = "all"


class Objective(str, Enum):
    huber = "huber"
    huber_likelihood = "huber_likelihood"


class HoldoutBy(str, Enum):
    C = "C"
    N = "N"


class BootstrapBy(str, Enum):
    auto = "auto"
    run = "run"
    size = "size"


class Reduce(str, Enum):
    mean = "mean"
    min = "min"


def fit(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Runs table (.csv, .tsv, .jsonl or .parquet), one row per evaluated run: "
            "N (parameters), D (training tokens), loss (nats/token), optional C (FLOPs; "
            "6ND when missing). Aliases such as params, tokens, flops are accepted.",
            show_default=False,
        ),
    ] = None,
    example: Annotated[
        str | None,
        typer.Option(
            "--example",
            help="Fit a bundled runs table instead of FILE. 'chinchilla': the 245 points Epoch "
            "AI extracted from Hoffmann et al. 2022, less the 5 highest losses (240 runs).",
        ),
    ] = None,
    method: Annotated[
        Method,
        typer.Option(
            "--method",
            help="approach1 (envelope of training curves), approach2 (IsoFLOP parabolas), "
            "approach3 (parametric L(N,D) = E + A/N^alpha + B/D^beta), kaplan (Kaplan 2020 "
            "power laws), or all.",
        ),
    ] = Method.approach3,
    bootstrap: Annotated[
        int,
        typer.Option(
            "--bootstrap",
            min=0,
            help="Bootstrap resamples (with replacement, see --bootstrap-by) for the 95% "
            "intervals; 0: none.",
        ),
    ] = 0,
    bootstrap_by: Annotated[
        BootstrapBy,
        typer.Option(
            "--bootstrap-by",
            help="What a bootstrap resample draws with replacement: size (whole model sizes "
            "with all their runs, as runs of one size share its error), run (single runs), "
            "or auto (size when some size has several runs and there are >= 3 sizes).",
        ),
    ] = BootstrapBy.auto,
    holdout_largest: Annotated[
        int,
        typer.Option(
            "--holdout-largest",
            min=0,
            help="Hold out the K largest runs (by --holdout-by), fit on the rest and report "
            "each held-out prediction (each method its own: approach 1 its envelope, "
            "approach 2 the IsoFLOP minimum) with its relative error and 95% prediction "
            "interval (from --bootstrap K resamples, 200 when 0); 0: none.",
        ),
    ] = 0,
    holdout_by: Annotated[
        HoldoutBy,
        typer.Option(
            "--holdout-by",
            help="Rank runs for --holdout-largest by compute C (FLOPs) or by size N (parameters).",
        ),
    ] = HoldoutBy.C,
    objective: Annotated[
        Objective,
        typer.Option(
            "--objective",
            help="huber: summed Huber loss (delta 1e-3) on log-loss residuals (Hoffmann et al.); "
            "huber_likelihood: Huber log-likelihood with a learned scale (Besiroglu et al. 2024).",
        ),
    ] = Objective.huber,
    seed: Annotated[
        int,
        typer.Option("--seed", help="Seed of the bootstrap resampling."),
    ] = 0,
    jobs: Annotated[
        int,
        typer.Option("--jobs", min=1, help="Worker processes for the bootstrap (CPU cores)."),
    ] = 2,
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help="Write the fit as JSON to this file ('-' for stdout only; schema in "
            "docs/fit-cli.md); scalinglab.laws.forms.law_from_dict reads its form and "
            "params back.",
            show_default=False,
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write loss versus C with the fitted frontier to this PNG, plus OUT-isoflop.png "
            "(IsoFLOP parabolas) and OUT-nstar.png (N* versus C) when the method gives them.",
            show_default=False,
        ),
    ] = None,
    best_over: Annotated[
        str | None,
        typer.Option(
            "--best-over",
            metavar="COLUMN",
            help="Keep the lowest-loss run of each (N, D) over COLUMN (e.g. lr: the best "
            "learning rate per size and token count).",
            show_default=False,
        ),
    ] = None,
    reduce: Annotated[
        Reduce | None,
        typer.Option(
            "--reduce",
            help="One row per (N, D) (per --best-over value too): loss = mean or min over "
            "its runs (seeds).",
            show_default=False,
        ),
    ] = None,
    min_tokens_per_param: Annotated[
        float | None,
        typer.Option(
            "--min-tokens-per-param",
            min=0.0,
            help="Drop runs with D/N below this (far-undertrained runs), e.g. 1.",
            show_default=False,
        ),
    ] = None,
    max_loss: Annotated[
        float | None,
        typer.Option(
            "--max-loss",
            help="Drop runs whose loss (nats/token) is above this.",
            show_default=False,
        ),
    ] = None,
    exclude_lines: Annotated[
        str | None,
        typer.Option(
            "--exclude-lines",
            metavar="LINES",
            help="Drop the rows at these file lines (CSV header = line 1; row index for "
            "Parquet), e.g. 2-6,14: the lines the influential-runs report names.",
            show_default=False,
        ),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            metavar="COLUMN",
            help="Column of per-run weights (>= 0) multiplying each run's Huber term in "
            "approach 3's fit.",
            show_default=False,
        ),
    ] = None,
    delta: Annotated[
        float,
        typer.Option(
            "--delta",
            min=1e-12,
            help="Huber threshold on log-loss residuals (1e-3 as Hoffmann et al.; larger "
            "values weigh all runs more like least squares).",
        ),
    ] = 1e-3,
    decades: Annotated[
        int,
        typer.Option(
            "--decades",
            min=0,
            max=12,
            help="The allocation table goes from the data's own budgets to this many "
            "decades past the largest one.",
        ),
    ] = 3,
    influence: Annotated[
        bool,
        typer.Option(
            "--influence/--no-influence",
            help="Search, for each method, the runs whose removal moves a or tokens per "
            "parameter at the data's largest budget (by 0.01 or 5%).",
        ),
    ] = True,
) -> None:
    """Fit scaling laws to a runs table (or a bundled example) and print them."""
    from rich.console import Console

    from scalinglab.cli.fit_compare import print_comparison
    from scalinglab.cli.options import json_to_stdout
    from scalinglab.laws.fit_file import fit_file
    from scalinglab.laws.table_filters import TableFilters, parse_line_spec

    console = Console()
    to_stdout = json_to_stdout(json_out)
    filters = TableFilters(
        exclude_lines=parse_line_spec(exclude_lines or ""),
        max_loss=max_loss,
        min_tokens_per_param=min_tokens_per_param,
        reduce=reduce.value if reduce else None,
        best_over=best_over,
        weights=weights,
    )
    methods = 4 if method is Method.all else 1
    stages = 1 + methods * (1 + influence + (bootstrap > 0) + (holdout_largest > 0))
    with _progress_after(PROGRESS_AFTER_S, stages) as progress:
        result = fit_file(
            file,
            example=example,
            method=method.value,
            bootstrap=bootstrap,
            holdout_largest=holdout_largest,
            holdout_by=holdout_by.value,
            objective=objective.value,
            seed=seed,
            n_jobs=jobs,
            plot=plot,
            json_out=None if to_stdout else json_out,
            bootstrap_by=bootstrap_by.value,
            filters=filters,
            delta=delta,
            influence=influence,
            decades=decades,
            progress=progress,
        )
    if to_stdout:
        typer.echo(dumps_strict(result.json_dict(), indent=2))
        return
    _print_table(console, result.table, result.rows_read)
    for note in result.filters:
        console.print(f"filter: {note}", soft_wrap=True)
    data = result.report.to_json_dict()
    fits = data["fits"] if data["method"] == "all" else {data["method"]: data}
    for name, fit_data in fits.items():
        _print_fit(console, name, fit_data, result.report.methods[name])
    if data["method"] == "all":
        print_comparison(console, data)
    if json_out is not None:
        console.print(f"wrote {json_out}", soft_wrap=True)
    for path in result.plots:
        console.print(f"wrote {path}", soft_wrap=True)


@contextmanager
def _progress_after(seconds: float, stages: int) -> Iterator[Callable[[str], None]]:
    """A stage callback that shows a progress bar over ``stages`` stages (stderr,
    transient) once the fit has run for ``seconds``: short fits, and output that is not
    a terminal, get none."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda stage: None
        return
    bar = Progress(
        SpinnerColumn(),
        BarColumn(),
        TextColumn("stage {task.fields[stage]}/{task.total:.0f}: {task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task("start", total=stages, completed=0, stage=0)
    started = iter(range(1, stages + 1))
    timer = threading.Timer(seconds, bar.start)
    timer.daemon = True
    timer.start()
    try:

        def advance(stage: str) -> None:
            number = next(started, stages)
            bar.update(task, description=stage, completed=number - 1, stage=number)

        yield advance
    finally:
        timer.cancel()
        timer.join()
        if bar.live.is_started:
            bar.stop()


def _print_table(console: Any, table: Any, rows_read: int) -> None:

    from scalinglab.laws.runs_table import MEANING

    runs = f"{len(table.df)} runs" + (f" of {rows_read} read" if rows_read != len(table.df) else "")
    console.print(f"[bold]Runs:[/bold] {table.source}, {runs}", soft_wrap=True)
    mapping = _titled("Columns")
    mapping.add_column("column in file")
    mapping.add_column("read as")
    mapping.add_column("meaning")
    for original, canonical in table.column_mapping.items():
        mapping.add_row(original, canonical, MEANING.get(canonical, ""))
    for derived in table.derived:
        name = derived.split(" = ")[0]
        mapping.add_row("(derived)", derived, MEANING.get(name, ""))
    console.print(mapping)
    for note in table.notes:
        console.print(f"note: {note}", soft_wrap=True)
    for warning in table.warnings:
        console.print(f"[yellow]warning: {warning}[/yellow]", soft_wrap=True)


def _print_fit(console: Any, name: str, data: dict[str, Any], method: Any) -> None:
    """Print one method: parameters, allocation, diagnostics, held-out runs."""

    if method.result is None:
        console.print(f"[yellow]{name}: not fitted: {method.error}[/yellow]")
        return
    ci = data["ci"]
    params = _titled(f"{name}: fitted parameters ({data['form']})")
    params.add_column("parameter")
    params.add_column("value", justify="right")
    if ci:
        params.add_column(f"{data['ci_level']:.0%} interval (bootstrap)", justify="right")
    else:
        params.caption = "no intervals: add --bootstrap K"
    exponents = {"a": "a (N* ∝ C^a)", "b": "b (D* ∝ C^b)"}
    shown = {key: data["params"].get(key, data.get(key)) for key in [*data["params"], "a", "b"]}
    for key, value in shown.items():
        interval = ci.get(key)
        bounds = [f"[{_num(interval[0])}, {_num(interval[1])}]" if interval else "-"] if ci else []
        params.add_row(exponents.get(key, key), _num(value), *bounds)
    console.print(params)
    _print_allocation(console, name, data["allocation"])
    _print_diagnostics(console, name, data, method.result)
    if "influence" in data:
        _print_influence(console, name, data["influence"], data["influential"])
    if data.get("holdout"):
        title = f"{name}: held-out runs, predicted by the fit to the other runs"
        if "measured_as" in data["holdout"][0]:
            title = f"{name}: held-out frontier, predicted by L(C) fitted to the training frontier"
        held = _titled(title)
        held.caption = "95% prediction interval: bootstrap refits plus out-of-bag residuals"
        for column in ("N", "D", "C (FLOPs)", "loss", "predicted", "95% interval", "rel. error"):
            held.add_column(column, justify="right")
        for row in data["holdout"]:
            values = (_num(row[key]) for key in ("N", "D", "C", "loss", "predicted"))
            interval = f"[{_num(row['lower'])}, {_num(row['upper'])}]"
            held.add_row(*values, interval, f"{row['rel_error']:+.2%}")
        console.print(held)


def _print_allocation(console: Any, name: str, rows: list[dict[str, Any]]) -> None:
    from scalinglab.laws.extrapolation import significant

    table = _titled(f"{name}: compute-optimal allocation, from the data's budgets on")
    columns = ("C (FLOPs)", "decades past data", "N* (params)", "D* (tokens)", "D*/N*")
    for column in columns:
        table.add_column(column, justify="right")
    predicts_loss = bool(rows) and "loss" in rows[0]
    if predicts_loss:
        table.add_column("loss (nats/token)", justify="right")
    for row in rows:
        past = row["decades_past_data"]
        shown = f"+{past:.2g}" if past else "in data"
        cells = [f"{row['C']:.3g}", shown, _num(row["N"])]
        cells += [_num(row["D"]), significant(row["tokens_per_param"])]
        if predicts_loss:
            cells.append(f"{row['loss']:.3f}")
        table.add_row(*cells)
    console.print(table)


def _print_influence(
    console: Any, name: str, summary: dict[str, Any], runs: list[dict[str, Any]]
) -> None:
    from scalinglab.laws.extrapolation import significant

    threshold = summary["threshold"]
    budget = summary["budget_C"]
    rule = (
        f"removal moves a by >= {threshold['a']:g} or tokens/param at C = {budget:.3g} by "
        f">= {threshold['tokens_per_param']:.0%}"
    )
    if not runs:
        console.print(f"{name}: influential runs: none ({rule})", soft_wrap=True)
        return
    title = f"{name}: influential runs ({rule}; each removed after those above)"
    if summary.get("outlier_rule"):
        title += (
            f", then outliers ({summary['outlier_rule']}; z is that score; Δ of removing"
            " the outlier alone)"
        )
    table = _titled(title)
    for column in ("line", "N", "D", "loss", "z", "Δa", "Δ D*/N*"):
        table.add_column(column, justify="right")
    table.add_column("D*/N* after", justify="right")
    for run in runs:
        effect, after, z = run["effect"], run["after"], run.get("residual_z")
        table.add_row(
            str(run["line"]),
            f"{run['N']:.3g}",
            f"{run['D']:.3g}",
            f"{run['loss']:.4g}",
            "" if z is None else f"{z:+.1f}",
            f"{effect['a']:+.3f}",
            f"{effect['tokens_per_param']:+.1%}",
            "" if after is None else significant(after["tokens_per_param"]),
        )
    console.print(table)
    _warn_influential(console, summary, runs)


def _warn_influential(console: Any, summary: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    from scalinglab.laws.extrapolation import significant

    budget, tpp = summary["budget_C"], significant(summary["tokens_per_param"])
    headline = [run["line"] for run in runs if "headline" in run.get("reasons", ["headline"])]
    after = summary["without_influential"]
    if headline:
        lines = ",".join(map(str, headline))
        console.print(
            f"[yellow]warning: {len(headline)} run(s) move the headline: a {summary['a']:.3f} "
            f"-> {after['a']:.3f}, tokens/param at C = {budget:.3g} {tpp} -> "
            f"{significant(after['tokens_per_param'])}; check them, or refit with "
            f"--exclude-lines {lines}[/yellow]",
            soft_wrap=True,
        )
    outliers = summary.get("outliers") or []
    if outliers:
        console.print(
            f"[yellow]warning: {len(outliers)} run(s) are outliers of the fit (lines "
            f"{','.join(map(str, sorted(outliers)))}): the Huber loss bounds their pull, so "
            "they may not move the headline; check how they were measured[/yellow]",
            soft_wrap=True,
        )


def _print_diagnostics(console: Any, name: str, data: dict[str, Any], result: Any) -> None:

    table = _titled(f"{name}: fit diagnostics", show_header=False)
    table.add_column("item")
    table.add_column("value")
    table.add_row("runs fitted", str(data["n_points"]))
    table.add_row("objective", str(data["objective"]))
    table.add_row("converged", str(data["converged"]))
    for law_name, fit in result.fits.items():
        table.add_row(
            f"{law_name}: objective value",
            f"{fit.value:.6e} (residual RMSE {fit.residuals.rmse:.2e} in log loss)",
        )
        table.add_row(
            f"{law_name}: starts in best basin", f"{fit.n_starts_in_best_basin} of {fit.n_starts}"
        )
        if fit.scale is not None:
            table.add_row(f"{law_name}: learned Huber scale", f"{fit.scale:.3e}")
    warnings = data["warnings"]
    for warning in warnings[:MAX_WARNINGS]:
        table.add_row("[yellow]warning[/yellow]", str(warning))
    if len(warnings) > MAX_WARNINGS:
        more = len(warnings) - MAX_WARNINGS
        table.add_row("[yellow]warning[/yellow]", f"... and {more} more (all in --json)")
    console.print(table)


def _titled(title: str, **options: Any) -> Any:
    """A rich table whose title stays on one line however narrow the columns are."""
    from rich.table import Table

    return Table(title=title, title_justify="left", min_width=min(len(title), 100), **options)


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.4g}" if 1e-3 <= abs(value) < 1e5 or value == 0 else f"{value:.3e}"
