"""``scalinglab finetune-sweep``: models x methods x seeds, the case-study table, error law.

Only typer, rich and the standard library are imported at module level.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from scalinglab.cli.method_flags import methods_help, with_method_options
from scalinglab.cli.options import (
    Device,
    Epochs,
    ExamplesBatch,
    FinetuneThreads,
    JsonOut,
    MaxEvalExamples,
    MaxLength,
    MaxTrainExamples,
    Pooling,
    Quiet,
    Task,
)
from scalinglab.finetune.lr_grid import RECOMMENDED_GRID


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _models(models: str | None, pretrained_runs: str | None) -> tuple[str, ...]:
    """``--models``, defaulting to the MiniLM ladder unless pretrained runs are given."""
    from scalinglab.finetune.models import LADDER

    if models is not None:
        return _names(models)
    return () if pretrained_runs else LADDER


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in _names(text))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of integers") from None


@with_method_options
def finetune_sweep(
    models: Annotated[
        str | None,
        typer.Option(
            "--models",
            help="Comma-separated model specs (minilm-L1..L6, minilm, directories, HF names); "
            "default minilm-L1,minilm-L2,minilm-L3,minilm-L4,minilm-L6, or none when "
            "--pretrained-runs is given (then name models here to fine-tune them too).",
        ),
    ] = None,
    pretrained_runs: Annotated[
        str | None,
        typer.Option(
            "--pretrained-runs",
            help="Comma-separated `scalinglab train` run folders, or folders of them (a "
            "sweep's <registry folder>/runs/<sweep>): each completed run's hf/ model is a "
            "rung, its rows carry pretrain_flops/tokens/seconds, and error is also fitted "
            "against pretraining FLOPs.",
        ),
    ] = None,
    methods: Annotated[
        str,
        typer.Option("--methods", help=f"Comma-separated fine-tuning methods: {methods_help()}."),
    ] = "full,lora,bitfit",
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated training seeds.")] = "0",
    task: Task = "tweets-binary",
    epochs: Epochs = 1,
    max_train_examples: MaxTrainExamples = None,
    max_eval_examples: MaxEvalExamples = None,
    batch_size: ExamplesBatch = 32,
    max_length: MaxLength = 128,
    split_seed: Annotated[
        int, typer.Option("--split-seed", help="Seed of the train/val/test split.")
    ] = 0,
    baselines: Annotated[
        str,
        typer.Option(
            "--baselines",
            help="Prompting baselines per model: zero-shot, few-shot (comma-separated; '' for "
            "none).",
        ),
    ] = "zero-shot,few-shot",
    few_shot_k: Annotated[
        int, typer.Option("--few-shot-k", help="Examples per class for few-shot.")
    ] = 16,
    metric: Annotated[
        str,
        typer.Option(
            "--metric", help="Score whose error (1 - score) is fitted: macro_f1|accuracy."
        ),
    ] = "macro_f1",
    f1_tolerance: Annotated[
        float,
        typer.Option(
            "--f1-tolerance", help="Recommend the smallest model within this of the best score."
        ),
    ] = 0.01,
    latency_budget_ms: Annotated[
        float | None,
        typer.Option("--latency-budget-ms", help="Best model with p50 latency under this (ms)."),
    ] = None,
    train_seconds_budget: Annotated[
        float | None,
        typer.Option("--train-seconds-budget", help="Best model trained within this (seconds)."),
    ] = None,
    bootstrap: Annotated[
        int,
        typer.Option(
            "--bootstrap", help="Bootstrap resamples for the law's interval (0 for none)."
        ),
    ] = 200,
    latency_repeats: Annotated[
        int,
        typer.Option(
            "--latency-repeats", help="Single-text calls timed for latency p50/p95 (count)."
        ),
    ] = 20,
    throughput_batches: Annotated[
        int,
        typer.Option("--throughput-batches", help="Batches of 64 timed for throughput (count)."),
    ] = 2,
    lr_grid: Annotated[
        str | None,
        typer.Option(
            "--lr-grid",
            help="Learning rates to try per (model, method), comma-separated: '2x' is a "
            "multiple of the method's default rate, '3e-5' an absolute rate (e.g. "
            f"{RECOMMENDED_GRID}). Each run trains at every rate; the rate with the best "
            "validation macro-F1 (mean over seeds) is kept, and the table reports its test "
            "scores. Default: one run at the method's default rate.",
        ),
    ] = None,
    pooling: Pooling = "mean",
    device: Device = "auto",
    threads: FinetuneThreads = None,
    out: Annotated[
        str,
        typer.Option(
            "--out",
            help="Directory for runs, sweep.json and table.csv (finished runs made by the same "
            "settings are reused from it).",
        ),
    ] = "runs/finetune-sweep",
    json_out: JsonOut = None,
    quiet: Quiet = False,
    method_values: dict[str, Any] | None = None,
) -> None:
    """Fine-tune a ladder of models with several methods; table, error law, recommendation.

    The method options (``--lora-r``, ``--lora-targets``, ...) are generated from the
    method configs and apply to every run of their method.
    """
    from scalinglab.finetune.lr_grid import parse_lr_grid
    from scalinglab.finetune.methods import options_from_cli
    from scalinglab.finetune.results import DegenerateRunWarning
    from scalinglab.finetune.sweep import SweepOptions
    from scalinglab.finetune.sweep import finetune_sweep as run_sweep
    from scalinglab.finetune.tasks import SmallClassWarning, TaskOptions
    from scalinglab.finetune.training import FinetuneConfig

    options = SweepOptions(
        models=_models(models, pretrained_runs),
        pretrained_runs=_names(pretrained_runs or ""),
        methods=_names(methods),
        method_options={m: options_from_cli(m, method_values or {}) for m in _names(methods)},
        seeds=_seeds(seeds),
        task=task,
        out_dir=out,
        task_options=TaskOptions(
            seed=split_seed,
            max_train_examples=max_train_examples,
            max_eval_examples=max_eval_examples,
        ),
        train=FinetuneConfig(
            epochs=epochs,
            batch_size=batch_size,
            max_length=max_length,
            threads=threads,
            progress=not quiet,
            device=device,
        ),
        baselines=_names(baselines),
        few_shot_k=few_shot_k,
        metric=metric,
        f1_tolerance=f1_tolerance,
        latency_budget_ms=latency_budget_ms,
        train_seconds_budget=train_seconds_budget,
        bootstrap=bootstrap,
        latency_repeats=latency_repeats,
        throughput_batches=throughput_batches,
        pooling=pooling,
        lr_grid=parse_lr_grid(lr_grid),
    )
    with warnings.catch_warnings():  # degenerate rows are flagged in the table below
        warnings.simplefilter("ignore", DegenerateRunWarning)
        warnings.simplefilter("ignore", SmallClassWarning)
        result = run_sweep(options).to_dict()
    if json_out is not None:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(result, indent=2, default=str))
    _print(result)


def _print(result: dict[str, Any]) -> None:
    console = Console()
    if not console.is_terminal:  # logs and pipes: keep every column readable
        console = Console(width=160)
    _print_reuse(console, result["reuse"])
    table = Table(title="fine-tuning sweep (measured; test split)")
    headers = (
        "model",
        "method",
        "N params",
        "N non-emb",
        "trainable",
        "lr",
        "train s",
        "p50 ms",
        "p95 ms",
        "ex/s @64",
        "macro-F1",
        "accuracy",
        "flag",
    )
    pretrained = any(row.get("pretrain_flops") is not None for row in result["table"])
    if pretrained:
        headers += ("pretrain C",)
    for header in headers:
        justify = "left" if header in ("model", "method") else "right"
        table.add_column(header, justify=justify, overflow="fold")  # run ids stay whole
    for row in result["table"]:
        spread = f" ±{row['macro_f1_std']:.3f}" if row["seeds"] > 1 else ""
        extra = (_number(row.get("pretrain_flops"), ".3g"),) if pretrained else ()
        table.add_row(
            row.get("pretrain_run") or row["model"],
            row["method"],
            _number(row["n_params"], ","),
            _number(row["n_params_nonembed"], ","),
            _number(row["trainable_params"], ","),
            _number(row.get("lr"), ".2g"),
            _number(row["train_seconds"], ".1f"),
            _number(row["latency_ms_p50"], ".1f"),
            _number(row["latency_ms_p95"], ".1f"),
            _number(row["throughput_per_s"], ".0f"),
            f"{row['macro_f1']:.4f}{spread}",
            f"{row['accuracy']:.4f}",
            "[red]DEGENERATE[/red]" if row["degenerate"] else "",
            *extra,
        )
    console.print(table)
    if pretrained:
        console.print("pretrain C: pretraining FLOPs of a --pretrained-runs rung (model: its run)")
    _print_lr_grid(console, result.get("lr_grid", []))
    for method, law in result["laws"].items():
        if law.get("law") is None:
            console.print(f"{method}: no law ({law.get('note')})")
            continue
        p = law["law"]["params"]
        line = (
            f"{method}: error(N) = {p['E']:.4f} + {p['A']:.4g} N^-{p['alpha']:.3f} "
            "(N: non-embedding parameters); "
            f"predicted error at 10x the largest N {law['predicted_error']['10x_largest']:.4f}"
        )
        band = law.get("predicted_error_95", {}).get("10x_largest")
        if band:
            line += f" (95% [{band[0]:.4f}, {band[1]:.4f}])"
        console.print(line)
        for warning in law.get("warnings", []):
            console.print(f"  [yellow]warning:[/yellow] {warning}")
    _print_pretraining_laws(console, result.get("laws_by_pretrain_flops", {}))
    for row in result["table"]:
        if row["degenerate"]:
            console.print(
                f"[yellow]warning:[/yellow] {row['model']} {row['method']} is degenerate: "
                + "; ".join(row["degenerate_reasons"])
            )
    rec = result["recommendation"]
    console.print(f"recommendation: {rec['reason']}")
    for row in rec["excluded"]:
        console.print(f"  left out {row['model']} {row['method']}: {row['why']}")
    if "budget" in rec:
        pick = rec["best_under_budget"]
        console.print(
            "under budget: "
            + (f"{pick['model']} {pick['method']}" if pick else rec["budget"].get("note", ""))
        )


def _print_pretraining_laws(console: Console, laws: dict[str, dict[str, Any]]) -> None:
    """The laws of error against pretraining FLOPs, with their 95% bands and exclusions."""
    for method, law in laws.items():
        left_out = ", ".join(f"{e['model']} ({e['why']})" for e in law["excluded"])
        if law.get("law") is None:
            console.print(f"{method}: no law of pretraining FLOPs ({law.get('note')})")
        else:
            p = law["law"]["params"]
            line = (
                f"{method}: error(C) = {p['E']:.4f} + {p['A']:.4g} C^-{p['alpha']:.3f} "
                "(C: pretraining FLOPs); predicted error at 10x the largest C "
                f"{law['predicted_error']['10x_largest']:.4f}"
            )
            band = law.get("predicted_error_95", {}).get("10x_largest")
            if band:
                line += f" (95% [{band[0]:.4f}, {band[1]:.4f}])"
            console.print(line)
        if left_out:
            console.print(f"  left out of the law of C: {left_out}")


def _number(value: float | None, spec: str) -> str:
    """``value`` formatted with ``spec``; '-' for a missing figure (baselines lack some)."""
    return "-" if value is None else format(value, spec)


def _print_lr_grid(console: Console, grid: list[dict[str, Any]]) -> None:
    """Per (model, method): each rate tried with its validation macro-F1, the chosen one starred."""
    if not grid:
        return
    console.print(
        "learning-rate grid: validation macro-F1 (mean over seeds) per rate; "
        "* the rate kept (chosen on validation, never on test)"
    )
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in grid:
        groups.setdefault((row["model"], row["method"]), []).append(row)
    for (model, method), rows in groups.items():
        cells = [
            f"{row['lr']:.2g} {row['val_macro_f1']:.4f}{'*' if row['chosen'] else ''}"
            for row in rows
        ]
        console.print(f"  {model} {method}: " + " | ".join(cells), highlight=False)
        for row in rows:
            if row["chosen"] and row["at_edge"]:
                console.print(
                    f"  [yellow]note:[/yellow] {model} {method} chose {row['lr']:.2g}, the "
                    "edge of the grid: the best rate may lie outside it; widen the grid"
                )


def _print_reuse(console: Console, reuse: list[dict[str, Any]]) -> None:
    """Which runs were reused from an earlier sweep and which were re-run, and why."""
    reused = [entry["run"] for entry in reuse if entry["action"] == "reused"]
    if reused:
        console.print(f"reused {len(reused)} finished runs made by the same settings")
    for entry in reuse:
        if entry["action"] == "re-ran":
            console.print(
                f"re-ran {entry['run']}: its earlier result was made by other settings "
                f"({'; '.join(entry['changed']) or 'settings hash differs'})"
            )
