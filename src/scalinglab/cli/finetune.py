"""``scalinglab finetune``: fine-tune an encoder on a classification task and measure it.

Only typer, rich and the standard library are imported at module level; torch and the
fine-tuning code load inside the command.
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


def parse_ratios(text: str) -> tuple[float, float, float]:
    """``"0.8,0.1,0.1"`` -> ``(0.8, 0.1, 0.1)``."""
    try:
        parts = tuple(float(part) for part in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3:
        raise typer.BadParameter(
            f"{text!r} is not three comma-separated fractions, e.g. 0.8,0.1,0.1"
        )
    return parts  # type: ignore[return-value]


def task_spec(
    task: str, train_file: str | None, validation_file: str | None, test_file: str | None
) -> str:
    """The task spec: ``--train-file`` when given (with ``--test-file``), else ``--task``."""
    from scalinglab.errors import ScalingLabError

    if train_file is None and (validation_file or test_file):
        raise ScalingLabError("--validation-file and --test-file need --train-file too")
    if train_file is not None and test_file is None:
        raise ScalingLabError("--train-file needs --test-file (and optionally --validation-file)")
    return train_file or task


@with_method_options
def finetune(
    *,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="minilm (embedded MiniLM-L6-H384), minilm-L1..minilm-L6 (truncated ladder), a "
            "local Hugging Face model directory (e.g. a `scalinglab train` bert hf/ dir), or an "
            "HF name (cached or online).",
        ),
    ] = "minilm",
    task: Task = "tweets-binary",
    data: Annotated[
        str | None,
        typer.Option(
            "--data", help="New data for --resume-from (same forms as --task; replaces it)."
        ),
    ] = None,
    train_file: Annotated[
        str | None,
        typer.Option(
            "--train-file",
            help="Your own training split (.csv/.tsv/.jsonl/.parquet; replaces --task); needs "
            "--test-file. Without --validation-file, validation is carved from it (--split "
            "proportions).",
        ),
    ] = None,
    validation_file: Annotated[
        str | None,
        typer.Option("--validation-file", help="Your own validation split (with --train-file)."),
    ] = None,
    test_file: Annotated[
        str | None,
        typer.Option("--test-file", help="Your own test split (with --train-file)."),
    ] = None,
    split_column: Annotated[
        str | None,
        typer.Option(
            "--split-column",
            help="Column of a file task naming each row's split (train, validation/val/dev, "
            "test): the file is used as split, not re-split.",
        ),
    ] = None,
    device: Device = "auto",
    method: Annotated[
        str, typer.Option("--method", help=f"Fine-tuning method: {methods_help()}.")
    ] = "full",
    epochs: Epochs = 3,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed (split, subsample, init, order).")
    ] = 0,
    max_train_examples: MaxTrainExamples = None,
    max_eval_examples: MaxEvalExamples = None,
    batch_size: ExamplesBatch = 32,
    lr: Annotated[
        float | None,
        typer.Option(
            "--lr",
            help="Peak learning rate (default per method: full 1e-4, lora 1e-3, adapter 1e-3, "
            "prompt 1e-2, bitfit 2e-3).",
        ),
    ] = None,
    max_length: MaxLength = 128,
    patience: Annotated[
        int,
        typer.Option(
            "--patience", help="Stop after this many validations without a better macro-F1."
        ),
    ] = 2,
    evals_per_epoch: Annotated[
        int,
        typer.Option("--evals-per-epoch", help="Validations per epoch (early-stopping checks)."),
    ] = 1,
    warmup_ratio: Annotated[
        float, typer.Option("--warmup-ratio", help="Fraction of steps with linear warm-up.")
    ] = 0.1,
    class_weights: Annotated[
        bool | None,
        typer.Option(
            "--class-weights/--no-class-weights",
            help="Inverse-frequency loss weights (default: on when classes are imbalanced >1.5x).",
        ),
    ] = None,
    bf16: Annotated[
        bool | None,
        typer.Option(
            "--bf16/--no-bf16",
            help="bf16 autocast (default: on when the CPU has AVX512-BF16 or AMX).",
        ),
    ] = None,
    threads: FinetuneThreads = None,
    split: Annotated[
        str, typer.Option("--split", help="Train,validation,test fractions (sum 1).")
    ] = "0.8,0.1,0.1",
    text_column: Annotated[
        str, typer.Option("--text-column", help="Text column of a file task.")
    ] = "text",
    label_column: Annotated[
        str, typer.Option("--label-column", help="Label column of a file task.")
    ] = "label",
    pooling: Pooling = "mean",
    resume_from: Annotated[
        str | None,
        typer.Option(
            "--resume-from",
            help="Continual learning: re-fine-tune this saved classifier on --data.",
        ),
    ] = None,
    continual: Annotated[
        str, typer.Option("--continual", help="With --resume-from: replay, ewc or plain.")
    ] = "replay",
    replay_fraction: Annotated[
        float,
        typer.Option(
            "--replay-fraction",
            help="Old examples replayed, as a fraction of the new train set.",
        ),
    ] = 0.2,
    ewc_lambda: Annotated[float, typer.Option("--ewc-lambda", help="EWC penalty strength.")] = 1e4,
    compare_plain: Annotated[
        bool,
        typer.Option(
            "--compare-plain/--no-compare-plain", help="Also run plain re-fine-tuning beside."
        ),
    ] = True,
    out: Annotated[
        str, typer.Option("--out", help="Directory for the classifier and predictions.")
    ],
    json_out: JsonOut = None,
    quiet: Quiet = False,
    method_values: dict[str, Any] | None = None,
) -> None:
    """Fine-tune, evaluate on validation and test, save (safetensors) and measure costs.

    The method options (``--lora-r``, ``--adapter-variant``, ...) are generated from the
    method configs (:func:`scalinglab.cli.method_flags.with_method_options`).
    """
    from scalinglab.finetune.methods import options_from_cli
    from scalinglab.finetune.results import DegenerateRunWarning
    from scalinglab.finetune.run import FinetuneOptions
    from scalinglab.finetune.tasks import SmallClassWarning, TaskOptions
    from scalinglab.finetune.training import FinetuneConfig

    options = FinetuneOptions(
        model=model,
        task=data or task_spec(task, train_file, validation_file, test_file),
        method=method,
        out_dir=str(out),
        method_options=options_from_cli(method, method_values or {}),
        task_options=TaskOptions(
            text_column=text_column,
            label_column=label_column,
            split_column=split_column,
            validation_file=validation_file,
            test_file=test_file,
            split_ratios=parse_ratios(split),
            seed=seed,
            max_train_examples=max_train_examples,
            max_eval_examples=max_eval_examples,
        ),
        train=FinetuneConfig(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            warmup_ratio=warmup_ratio,
            patience=patience,
            evals_per_epoch=evals_per_epoch,
            class_weights=class_weights,
            seed=seed,
            max_length=max_length,
            bf16=bf16,
            threads=threads,
            progress=not quiet,
            device=device,
        ),
        pooling=pooling,
    )
    with warnings.catch_warnings():  # printed below, in the table's words
        warnings.simplefilter("ignore", DegenerateRunWarning)
        warnings.simplefilter("ignore", SmallClassWarning)
        result = _run(options, resume_from, continual, replay_fraction, ewc_lambda, compare_plain)
    if json_out is not None:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(result, indent=2))
    _print(result)


def _run(
    options: Any,
    resume_from: str | None,
    continual: str,
    replay_fraction: float,
    ewc_lambda: float,
    compare_plain: bool,
) -> dict[str, Any]:
    """Run plain fine-tuning, or continual fine-tuning when ``resume_from`` is given."""
    from scalinglab.finetune.continual import ContinualOptions, continual_finetune
    from scalinglab.finetune.run import finetune as run_finetune

    if resume_from:
        resume = ContinualOptions(
            resume_from=resume_from,
            strategy=continual,
            replay_fraction=replay_fraction,
            ewc_lambda=ewc_lambda,
            compare_plain=compare_plain,
        )
        return continual_finetune(options, resume).to_dict()
    return run_finetune(options).to_dict()


def _print(result: dict[str, Any]) -> None:
    console = Console()
    if not console.is_terminal:  # logs and pipes: keep every column readable
        console = Console(width=160)
    table = Table(title=f"{result['model']} · {result['method']} · {result['task']}")
    table.add_column("split")
    for column in ("macro-F1", "accuracy", "weighted-F1", "n"):
        table.add_column(column, justify="right")
    for split in ("validation", "test"):
        metrics = result[split]
        table.add_row(
            split,
            f"{metrics['macro_f1']:.4f}",
            f"{metrics['accuracy']:.4f}",
            f"{metrics['weighted_f1']:.4f}",
            str(metrics["n"]),
        )
    console.print(table)
    console.print(result["test"]["report"])
    for note in result["class_counts"]["notes"]:
        console.print(f"note: {note}")
    if "note" in result["test"]:
        console.print(f"note: test {result['test']['note']}")
    if result["degenerate"]:
        reasons = "; ".join(result["degenerate_reasons"])
        console.print(f"[yellow]warning:[/yellow] degenerate run (learned nothing): {reasons}")
    console.print(
        f"params {result['total_params']:,} (trainable {result['trainable_params']:,}, "
        f"{100 * result['trainable_fraction']:.2f}%) · train {result['train_seconds']:.1f} s · "
        f"latency p50 {result['latency_ms_p50']:.1f} ms p95 {result['latency_ms_p95']:.1f} ms · "
        f"{result['throughput_per_s']:.0f} ex/s at batch 64 · peak RSS "
        f"{result['peak_memory_bytes'] / 2**20:.0f} MiB · "
        f"{result['size_on_disk_bytes'] / 2**20:.1f} MiB on disk · saved to {result['out_dir']}"
    )
    summary = result.get("continual")
    if summary:
        before = summary["old_test_before"]["accuracy"]
        for strategy in ("replay", "ewc", "plain"):
            if strategy in summary:
                row = summary[strategy]
                console.print(
                    f"{strategy}: old-task test accuracy {before:.4f} -> "
                    f"{row['old_test_after']['accuracy']:.4f} (forgetting "
                    f"{row['forgetting_accuracy']:+.4f}), new-task test accuracy "
                    f"{row['new_test']['accuracy']:.4f}"
                )
