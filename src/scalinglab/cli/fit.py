"""``scalinglab fit``: fit scaling laws to a runs table, print them, write JSON and plots.

Only typer and the standard library are imported at module level, so that
``scalinglab fit --help`` answers fast; numpy, pandas, the fitter and matplotlib are
imported inside the command.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

#: Budgets (FLOPs) at which the compute-optimal table is printed.
BUDGETS = (1e21, 1e22, 1e23, 1e24, 1e25)
#: Warnings printed per method; the rest are in the JSON.
MAX_WARNINGS = 6


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
            help="Write the fit as JSON to this file (schema in docs/fit-cli.md); "
            "scalinglab.laws.forms.law_from_dict reads its form and params back.",
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
) -> None:
    """Fit scaling laws to a runs table (or a bundled example) and print them."""
    from rich.console import Console

    from scalinglab.cli.fit_compare import print_comparison
    from scalinglab.laws.fit_file import fit_file

    console = Console()
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
        json_out=json_out,
        bootstrap_by=bootstrap_by.value,
    )
    _print_table(console, result.table)
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


def _print_table(console: Any, table: Any) -> None:

    from scalinglab.laws.runs_table import MEANING

    console.print(f"[bold]Runs:[/bold] {table.source}, {len(table.df)} runs", soft_wrap=True)
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
    _print_allocation(console, name, method.result)
    _print_diagnostics(console, name, data, method.result)
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


def _print_allocation(console: Any, name: str, result: Any) -> None:

    law = result.fit.law if result.fit is not None else None
    predicts_loss = law is not None and tuple(law.inputs) == ("N", "D")
    table = _titled(f"{name}: compute-optimal allocation")
    for column in ("C (FLOPs)", "N* (params)", "D* (tokens)", "tokens per parameter"):
        table.add_column(column, justify="right")
    if predicts_loss:
        table.add_column("loss (nats/token)", justify="right")
    for C in BUDGETS:
        N, D = float(result.n_opt(C)), float(result.d_opt(C))
        row = [f"{C:.0e}", _num(N), _num(D), f"{D / N:.1f}"]
        if predicts_loss:
            row.append(f"{float(law.predict(N=N, D=D)):.3f}")
        table.add_row(*row)
    console.print(table)


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
