"""``scalinglab sweep design|run|status``: plan, train and follow a sweep of runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from scalinglab.cli.options import DesignFile, Registry, SweepRecipe

sweep_app = typer.Typer(
    help="Plan a sweep from a TOML design, train it into the run registry, follow it.",
    no_args_is_help=True,
)


def _fmt_seconds(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@sweep_app.command("design")
def design(
    file: DesignFile,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Parallel workers assumed (count); default: cores."),
    ] = None,
    recipe: SweepRecipe = None,
) -> None:
    """Print every planned run (N, D, C, shape), the total compute and a wall time.

    The wall time comes from a short throughput calibration on this machine (cached).
    """
    from scalinglab.sweep.designfile import load_design
    from scalinglab.sweep.estimate import estimate_design

    plan = estimate_design(load_design(file, recipe), workers=workers)
    table = Table(title=f"sweep {plan.design.name} ({plan.design.kind})")
    table.add_column("run", overflow="fold")
    for column in ("N (non-emb.)", "D (tokens)", "C (FLOPs)", "budget", "shape", "est."):
        table.add_column(column, justify="left" if column == "shape" else "right")
    for row in plan.rows:
        tokens = f"{row.tokens:.3g}"
        if row.branches:
            tokens = ", ".join(f"{b:.2g}" for b in row.branches)
        table.add_row(
            row.run_id,
            f"{row.n_params_nonembed:,}",
            tokens,
            f"{row.flops:.3g}",
            "" if row.budget is None else f"{row.budget:.2g}",
            row.shape,
            _fmt_seconds(row.seconds),
        )
    console = Console()
    console.print(table)
    rates = ", ".join(
        f"L{t.shape.n_layer} d{t.shape.d_model}: {t.flops_per_second / 1e9:.1f} GFLOP/s"
        + (" (cached)" if t.cached else "")
        for t in plan.calibration
    )
    console.print(
        f"{len(plan.rows)} runs, total compute {plan.total_flops:.3g} FLOPs; "
        f"estimated training time {_fmt_seconds(plan.wall_seconds)} on {plan.workers} "
        f"worker(s) x {plan.threads} thread(s) ({_fmt_seconds(plan.serial_seconds)} serial): "
        f"training steps at the calibrated rates ({rates}), evaluations "
        f"({_fmt_seconds(sum(row.eval_seconds for row in plan.rows))} in all) and start-up "
        f"(a fresh process took {plan.startup_seconds:.1f} s to import torch here). A machine "
        "whose load changes after calibrating runs faster or slower than estimated."
    )
    if left_out := plan.design.options.get("left_out"):
        console.print(
            f"left out past max_tokens {plan.design.options['max_tokens']:.3g}: "
            + ", ".join(left_out)
        )


@sweep_app.command("run")
def run(
    file: DesignFile,
    registry: Registry = None,
    executor: Annotated[
        str, typer.Option("--executor", help="Where runs execute: local (process pool) or ray.")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option("--address", help="Ray cluster: auto (running on this machine) or HOST:PORT."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Runs at once (count); default: GPUs / --gpus-per-run where GPUs are "
            "visible, else cores (local); CPUs (ray).",
        ),
    ] = None,
    max_attempts: Annotated[
        int,
        typer.Option("--max-attempts", min=1, help="Attempts per run before it is marked failed."),
    ] = 2,
    runs_dir: Annotated[
        Path | None,
        typer.Option(
            "--runs-dir",
            help="Run folders (checkpoints, hf/ exports); default: beside the registry. For "
            "a multi-node sweep, a shared folder mounted at the same path on every node.",
        ),
    ] = None,
    gpus: Annotated[
        str | None,
        typer.Option(
            "--gpus",
            help="GPUs the local workers share out, as CUDA_VISIBLE_DEVICES ids (0,1,2,3), "
            "or none for CPU only; default: every GPU visible.",
        ),
    ] = None,
    gpus_per_run: Annotated[
        int | None,
        typer.Option(
            "--gpus-per-run",
            min=1,
            help="GPUs each run trains on (count): each local worker gets its own; above 1 "
            "a run is a torchrun data-parallel job. Ray tasks declare as many GPUs.",
        ),
    ] = None,
    num_cpus: Annotated[
        float, typer.Option("--num-cpus", help="CPUs each Ray task declares (count).")
    ] = 1.0,
    num_gpus: Annotated[
        float | None,
        typer.Option(
            "--num-gpus",
            help="GPUs each Ray task declares (count; fractions share a GPU); "
            "default: --gpus-per-run, else 0.",
        ),
    ] = None,
    recipe: SweepRecipe = None,
) -> None:
    """Train every unfinished run of the design into the registry.

    Idempotent: completed runs are skipped, interrupted ones resume from their checkpoints.
    Several drivers may run one sweep at once: each run is claimed under a lease in the
    registry, so no run is trained twice; a driver waits for the runs another one holds.
    """
    from scalinglab.sweep.designfile import load_design
    from scalinglab.sweep.runner import run_sweep
    from scalinglab.sweep.status import default_registry

    result = run_sweep(
        load_design(file, recipe),
        registry or default_registry(),
        executor=executor,
        address=address,
        workers=workers,
        max_attempts=max_attempts,
        runs_dir=runs_dir,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        gpus=gpus,
        gpus_per_run=gpus_per_run,
    )
    counts = ", ".join(f"{n} {status}" for status, n in result.counts.items())
    Console().print(
        f"sweep {result.sweep}: trained {len(result.trained)}, skipped {len(result.skipped)} "
        f"already done, {len(result.elsewhere)} done by another driver meanwhile; "
        f"registry {result.registry}: {counts} "
        f"({_fmt_seconds(result.wall_seconds)})"
    )
    if result.failed:
        raise typer.Exit(1)


@sweep_app.command("status")
def status(
    sweep: Annotated[
        str | None, typer.Option("--sweep", help="Sweep name; default: every sweep.")
    ] = None,
    registry: Registry = None,
) -> None:
    """Show each sweep's progress and its runs (status, attempts, loss, wall time)."""
    from scalinglab.sweep.status import default_registry, sweep_status

    console = Console()
    for entry in sweep_status(registry or default_registry(), sweep):
        counts = ", ".join(f"{n} {s}" for s, n in entry.counts.items())
        table = Table(
            title=f"sweep {entry.name} ({entry.kind}): {entry.done}/{entry.planned} done; {counts}"
        )
        table.add_column("run", overflow="fold")
        for column in ("status", "attempts", "val loss", "wall", "worker"):
            table.add_column(column)
        for run in entry.runs:
            summary = run.summary or {}
            parts = summary.get("branches") or [summary]
            losses = [p.get("final_val_loss") for p in parts if p.get("final_val_loss")]
            wall = (
                _fmt_seconds(run.ended_at - run.started_at)
                if run.started_at and run.ended_at
                else ""
            )
            table.add_row(
                run.run_id,
                run.status,
                str(run.attempts),
                ", ".join(f"{loss:.4f}" for loss in losses),
                wall,
                run.worker or "",
            )
        console.print(table)
