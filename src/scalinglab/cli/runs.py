"""``scalinglab runs export``: a sweep's runs as a runs table for ``scalinglab fit``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from scalinglab.cli.options import Registry

runs_app = typer.Typer(
    help="Runs in the registry: export them as a runs table.", no_args_is_help=True
)


@runs_app.command("export")
def export(
    sweep: Annotated[str, typer.Option("--sweep", help="Sweep name in the registry.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv, .parquet or .jsonl).")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv, parquet or jsonl; default: from --out's suffix."),
    ] = None,
    registry: Registry = None,
    n: Annotated[
        str,
        typer.Option(
            "--n",
            help="What the N column counts: nonembed (Kaplan's non-embedding parameters, what "
            "designs size by) or total (all parameters).",
        ),
    ] = "nonembed",
) -> None:
    """Write one row per finished run (per cooldown branch for WSD): N, D, C, loss,
    n_params_nonembed, unique_tokens, epochs, run_id, status (diverged runs flagged)."""
    from scalinglab.sweep.export import export_runs
    from scalinglab.sweep.status import default_registry

    result = export_runs(registry or default_registry(), sweep, out, fmt=fmt, n=n)
    console = Console()
    console.print(f"wrote {result.rows} rows to {result.path}")
    if result.left_out:
        left = ", ".join(f"{run} ({status})" for run, status in result.left_out.items())
        console.print(f"left out (no final loss): {left}")
