"""``scalinglab predict``: label new texts with a fine-tuned classifier, with probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from scalinglab.cli.options import ClassifierDir, Device, Threads


def predict(
    model: ClassifierDir,
    texts: Annotated[
        list[str] | None,
        typer.Argument(
            help="Texts to classify (quote each one); may be combined with --input.",
            show_default=False,
        ),
    ] = None,
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help="File of texts: .txt (one per line, blank lines skipped), or a .csv, .jsonl, "
            ".tsv or .parquet table (the column/field named by --text-column).",
        ),
    ] = None,
    output_path: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="Write predictions here, one row per text: .csv (text, label, p_<label>...) "
            "or .jsonl (text, label, probabilities), by extension.",
        ),
    ] = None,
    text_column: Annotated[
        str,
        typer.Option("--text-column", help="Column (CSV) or field (JSONL) holding the text."),
    ] = "text",
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Texts per forward pass (count).")
    ] = 64,
    device: Device = "auto",
    threads: Threads = None,
) -> None:
    """Predict the label and per-label probabilities of each text."""
    from scalinglab.finetune.predict_io import run_predict

    run = run_predict(
        model,
        texts or [],
        input_path=input_path,
        output_path=output_path,
        text_column=text_column,
        batch_size=batch_size,
        num_threads=threads,
        device=device,
    )
    console = Console()
    if run.output is not None:
        counts = dict.fromkeys(run.labels, 0)
        for prediction in run.predictions:
            counts[prediction.label] += 1
        summary = ", ".join(f"{label} {count}" for label, count in counts.items())
        console.print(f"{len(run.predictions)} predictions written to {run.output} ({summary})")
        return
    table = Table(title=f"predictions of {model}")
    table.add_column("#", justify="right", overflow="fold")
    table.add_column("text", overflow="fold")
    table.add_column("label", overflow="fold")
    for label in run.labels:
        table.add_column(f"p({label})", justify="right", overflow="fold")
    for index, (text, prediction) in enumerate(zip(run.texts, run.predictions, strict=True)):
        probabilities = [f"{prediction.probabilities[label]:.4f}" for label in run.labels]
        table.add_row(str(index), text, prediction.label, *probabilities)
    console.print(table)
