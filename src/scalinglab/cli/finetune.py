"""``scalinglab finetune``: fine-tune an encoder on a classification task and measure it.

Only typer, rich and the standard library are imported at module level; torch and the
fine-tuning code load inside the command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table


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


def method_options(
    method: str,
    lora_r: int,
    lora_alpha: int,
    adapter_variant: str,
    adapter_reduction: int,
    prompt_tokens: int,
    prompt_init_text: str | None,
) -> dict[str, Any]:
    """The options of ``method``'s config dataclass that the CLI exposes."""
    if method == "lora":
        return {"r": lora_r, "alpha": lora_alpha}
    if method == "adapter":
        return {"variant": adapter_variant, "reduction_factor": adapter_reduction}
    if method == "prompt":
        return {"num_virtual_tokens": prompt_tokens, "init_text": prompt_init_text}
    return {}


def finetune(
    model: str = typer.Option(
        "minilm",
        "--model",
        help="minilm (embedded MiniLM-L6-H384), minilm-L1..minilm-L6 (truncated ladder), a "
        "local Hugging Face model directory (e.g. a `scalinglab train` bert hf/ dir), or an HF "
        "name (cached or online).",
    ),
    task: str = typer.Option(
        "tweets-binary",
        "--task",
        help="tweets-binary, tweets-3class (embedded CrowdFlower tweets), a .csv/.tsv/.jsonl "
        "file with text and label columns, or hf:NAME[:CONFIG].",
    ),
    data: str | None = typer.Option(
        None, "--data", help="New data for --resume-from (same forms as --task; replaces it)."
    ),
    method: str = typer.Option(
        "full", "--method", help="full, lora, adapter (bottleneck), prompt (tuning) or bitfit."
    ),
    epochs: int = typer.Option(3, "--epochs", help="Maximum passes over the training split."),
    seed: int = typer.Option(0, "--seed", help="Random seed (split, subsample, init, order)."),
    max_train_examples: int | None = typer.Option(
        None, "--max-train-examples", help="Stratified subsample of the training split (count)."
    ),
    max_eval_examples: int | None = typer.Option(
        None,
        "--max-eval-examples",
        help="Stratified subsample of validation and test splits each (count).",
    ),
    batch_size: int = typer.Option(32, "--batch-size", help="Training batch (examples)."),
    lr: float | None = typer.Option(
        None,
        "--lr",
        help="Peak learning rate (default per method: full 1e-4, lora 1e-3, adapter 1e-3, "
        "prompt 1e-2, bitfit 2e-3).",
    ),
    max_length: int = typer.Option(128, "--max-length", help="Token limit per text (tokens)."),
    patience: int = typer.Option(
        2, "--patience", help="Stop after this many validations without a better macro-F1."
    ),
    evals_per_epoch: int = typer.Option(
        1, "--evals-per-epoch", help="Validations per epoch (early-stopping checks)."
    ),
    warmup_ratio: float = typer.Option(
        0.1, "--warmup-ratio", help="Fraction of steps with linear warm-up."
    ),
    class_weights: bool | None = typer.Option(
        None,
        "--class-weights/--no-class-weights",
        help="Inverse-frequency loss weights (default: on when classes are imbalanced >1.5x).",
    ),
    bf16: bool | None = typer.Option(
        None,
        "--bf16/--no-bf16",
        help="bf16 autocast (default: on when the CPU has AVX512-BF16 or AMX).",
    ),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads (count)."),
    split: str = typer.Option(
        "0.8,0.1,0.1", "--split", help="Train,validation,test fractions (sum 1)."
    ),
    text_column: str = typer.Option("text", "--text-column", help="Text column of a file task."),
    label_column: str = typer.Option(
        "label", "--label-column", help="Label column of a file task."
    ),
    lora_r: int = typer.Option(8, "--lora-r", help="LoRA rank (count)."),
    lora_alpha: int = typer.Option(16, "--lora-alpha", help="LoRA alpha (scale alpha/r)."),
    adapter_variant: str = typer.Option(
        "houlsby", "--adapter-variant", help="houlsby (after attention and FFN) or pfeiffer."
    ),
    adapter_reduction: int = typer.Option(
        16, "--adapter-reduction", help="Adapter bottleneck = hidden size / this."
    ),
    prompt_tokens: int = typer.Option(
        20, "--prompt-tokens", help="Virtual tokens of prompt tuning (count)."
    ),
    prompt_init_text: str | None = typer.Option(
        None, "--prompt-init-text", help="Initialise the prompt from this text's embeddings."
    ),
    resume_from: str | None = typer.Option(
        None,
        "--resume-from",
        help="Continual learning: re-fine-tune this saved classifier on --data.",
    ),
    continual: str = typer.Option(
        "replay", "--continual", help="With --resume-from: replay, ewc or plain."
    ),
    replay_fraction: float = typer.Option(
        0.2, "--replay-fraction", help="Old examples replayed, as a fraction of the new train set."
    ),
    ewc_lambda: float = typer.Option(1e4, "--ewc-lambda", help="EWC penalty strength."),
    compare_plain: bool = typer.Option(
        True, "--compare-plain/--no-compare-plain", help="Also run plain re-fine-tuning beside."
    ),
    out: str = typer.Option(..., "--out", help="Directory for the classifier and predictions."),
    json_out: str | None = typer.Option(None, "--json", help="Write the result JSON here."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Fine-tune, evaluate on validation and test, save (safetensors) and measure costs."""
    from scalinglab.finetune.continual import ContinualOptions
    from scalinglab.finetune.run import FinetuneOptions
    from scalinglab.finetune.run import finetune as run_finetune
    from scalinglab.finetune.tasks import TaskOptions
    from scalinglab.finetune.training import TrainConfig

    options = FinetuneOptions(
        model=model,
        task=data or task,
        method=method,
        out_dir=str(out),
        method_options=method_options(
            method,
            lora_r,
            lora_alpha,
            adapter_variant,
            adapter_reduction,
            prompt_tokens,
            prompt_init_text,
        ),
        task_options=TaskOptions(
            text_column=text_column,
            label_column=label_column,
            split_ratios=parse_ratios(split),
            seed=seed,
            max_train_examples=max_train_examples,
            max_eval_examples=max_eval_examples,
        ),
        train=TrainConfig(
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
        ),
    )
    resume = (
        ContinualOptions(
            resume_from=resume_from,
            strategy=continual,
            replay_fraction=replay_fraction,
            ewc_lambda=ewc_lambda,
            compare_plain=compare_plain,
        )
        if resume_from
        else None
    )
    result = run_finetune(options, continual=resume).to_dict()
    if json_out is not None:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(result, indent=2))
    _print(result)


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
    console.print(
        f"params {result['total_params']:,} (trainable {result['trainable_params']:,}, "
        f"{100 * result['trainable_fraction']:.2f}%) · train {result['train_seconds']:.1f} s · "
        f"latency p50 {result['latency_ms_p50']:.1f} ms p95 {result['latency_ms_p95']:.1f} ms · "
        f"{result['throughput_per_s']:.0f} ex/s at batch 64 · peak RSS "
        f"{result['peak_memory_bytes'] / 2**20:.0f} MiB · "
        f"{result['size_on_disk_bytes'] / 2**20:.1f} MiB on disk · saved to {result['out_dir']}"
    )
    summary = result.get("extra", {}).get("continual")
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
