"""``scalinglab finetune-sweep``: models x methods x seeds, the case-study table, error law.

Only typer, rich and the standard library are imported at module level.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in _names(text))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of integers") from None


def finetune_sweep(
    models: str = typer.Option(
        "minilm-L1,minilm-L2,minilm-L3,minilm-L4,minilm-L6",
        "--models",
        help="Comma-separated model specs (minilm-L1..L6, minilm, directories, HF names).",
    ),
    methods: str = typer.Option(
        "full,lora,bitfit",
        "--methods",
        help="Comma-separated: full, lora, adapter, prompt, bitfit.",
    ),
    seeds: str = typer.Option("0", "--seeds", help="Comma-separated training seeds."),
    task: str = typer.Option(
        "tweets-binary", "--task", help="tweets-binary, tweets-3class, a CSV/JSONL file or hf:NAME."
    ),
    epochs: int = typer.Option(1, "--epochs", help="Maximum passes over the training split."),
    max_train_examples: int | None = typer.Option(
        None, "--max-train-examples", help="Stratified subsample of the training split (count)."
    ),
    max_eval_examples: int | None = typer.Option(
        None, "--max-eval-examples", help="Stratified subsample of validation and test (count)."
    ),
    batch_size: int = typer.Option(32, "--batch-size", help="Training batch (examples)."),
    max_length: int = typer.Option(128, "--max-length", help="Token limit per text (tokens)."),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the train/val/test split."),
    baselines: str = typer.Option(
        "zero-shot,few-shot",
        "--baselines",
        help="Prompting baselines per model: zero-shot, few-shot (comma-separated; '' for none).",
    ),
    few_shot_k: int = typer.Option(16, "--few-shot-k", help="Examples per class for few-shot."),
    metric: str = typer.Option(
        "macro_f1", "--metric", help="Score whose error (1 - score) is fitted: macro_f1|accuracy."
    ),
    f1_tolerance: float = typer.Option(
        0.01, "--f1-tolerance", help="Recommend the smallest model within this of the best score."
    ),
    latency_budget_ms: float | None = typer.Option(
        None, "--latency-budget-ms", help="Best model with p50 latency under this (ms)."
    ),
    train_seconds_budget: float | None = typer.Option(
        None, "--train-seconds-budget", help="Best model trained within this (seconds)."
    ),
    bootstrap: int = typer.Option(
        200, "--bootstrap", help="Bootstrap resamples for the law's interval (0 for none)."
    ),
    latency_repeats: int = typer.Option(
        20, "--latency-repeats", help="Single-text calls timed for latency p50/p95 (count)."
    ),
    throughput_batches: int = typer.Option(
        2, "--throughput-batches", help="Batches of 64 timed for throughput (count)."
    ),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads (count)."),
    out: str = typer.Option(..., "--out", help="Directory for runs, sweep.json and table.csv."),
    json_out: str | None = typer.Option(None, "--json", help="Also write the result JSON here."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Fine-tune a ladder of models with several methods; table, error law, recommendation."""
    from scalinglab.finetune.sweep import SweepOptions
    from scalinglab.finetune.sweep import finetune_sweep as run_sweep
    from scalinglab.finetune.tasks import TaskOptions
    from scalinglab.finetune.training import TrainConfig

    options = SweepOptions(
        models=_names(models),
        methods=_names(methods),
        seeds=_seeds(seeds),
        task=task,
        out_dir=out,
        task_options=TaskOptions(
            seed=split_seed,
            max_train_examples=max_train_examples,
            max_eval_examples=max_eval_examples,
        ),
        train=TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            max_length=max_length,
            threads=threads,
            progress=not quiet,
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
    )
    result = run_sweep(options).to_dict()
    if json_out is not None:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(result, indent=2, default=str))
    _print(result)


def _print(result: dict[str, Any]) -> None:
    console = Console()
    if not console.is_terminal:  # logs and pipes: keep every column readable
        console = Console(width=160)
    table = Table(title="fine-tuning sweep (measured; test split)")
    headers = (
        "model",
        "method",
        "N params",
        "trainable",
        "train s",
        "p50 ms",
        "p95 ms",
        "ex/s @64",
        "macro-F1",
        "accuracy",
    )
    for header in headers:
        table.add_column(header, justify="left" if header in ("model", "method") else "right")
    for row in result["table"]:
        spread = f" ±{row['macro_f1_std']:.3f}" if row["seeds"] > 1 else ""
        table.add_row(
            row["model"],
            row["method"],
            f"{row['n_params']:,}",
            f"{row['trainable_params']:,}",
            f"{row['train_seconds']:.1f}",
            f"{row['latency_ms_p50']:.1f}",
            f"{row['latency_ms_p95']:.1f}",
            f"{row['throughput_per_s']:.0f}",
            f"{row['macro_f1']:.4f}{spread}",
            f"{row['accuracy']:.4f}",
        )
    console.print(table)
    for method, law in result["laws"].items():
        if law.get("law") is None:
            console.print(f"{method}: no law ({law.get('note')})")
            continue
        p = law["law"]["params"]
        line = (
            f"{method}: error(N) = {p['E']:.4f} + {p['A']:.4g} N^-{p['alpha']:.3f}; "
            f"predicted error at 10x the largest N {law['predicted_error']['10x_largest']:.4f}"
        )
        band = law.get("predicted_error_95", {}).get("10x_largest")
        if band:
            line += f" (95% [{band[0]:.4f}, {band[1]:.4f}])"
        console.print(line)
        for warning in law.get("warnings", []):
            console.print(f"  [yellow]warning:[/yellow] {warning}")
    rec = result["recommendation"]
    if "smallest_within_tolerance" in rec:
        best, small = rec["best"], rec["smallest_within_tolerance"]
        metric = rec["metric"]
        console.print(
            f"best: {best['model']} {best['method']} ({metric} {best[metric]:.4f}); "
            f"recommended (smallest within {rec['tolerance']}): {small['model']} "
            f"{small['method']} ({metric} {small[metric]:.4f}, {small['n_params']:,} params)"
        )
    if "budget" in rec:
        pick = rec["best_under_budget"]
        console.print(
            "under budget: "
            + (f"{pick['model']} {pick['method']}" if pick else rec["budget"].get("note", ""))
        )
