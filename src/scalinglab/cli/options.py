"""Command-line options that several commands share, declared once.

Each name is an ``Annotated`` type carrying its ``typer.Option`` (or ``typer.Argument``),
so a command declares ``seed: Seed = 0`` and every command that takes the option spells
its flag, type and help the same way. The default stays with each command (``= 3``),
since the same option may default differently (``--epochs`` of ``finetune`` and of
``finetune-sweep``). Options whose meaning differs between commands (``--seed`` of a
bootstrap and of a training run, ``--out`` of a file and of a folder) stay with their
command. Like every command module, this one imports only typer, the standard library
and torch-free help text, so ``--help`` answers fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scalinglab.models.families import families_help, family_names, get_family

# Output

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
JsonOut = Annotated[Path | None, typer.Option("--json", help="Also write the result JSON here.")]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bar.")]


def json_to_stdout(json_out: Path | None) -> bool:
    """Whether ``--json`` asks for the JSON alone on standard output (``-``)."""
    return json_out is not None and str(json_out) == "-"


# Model shapes (train, model describe, model ladder, plan)

Family = Annotated[str, typer.Option("--family", help=families_help() + ".")]
NLayer = Annotated[int, typer.Option("--n-layer", help="Transformer blocks (count).")]
DModel = Annotated[int, typer.Option("--d-model", help="Residual stream width (hidden size).")]
NHead = Annotated[
    int | None,
    typer.Option("--n-head", help="Attention heads (default d_model / 64, at least 1)."),
]
NKvHead = Annotated[
    int | None,
    typer.Option(
        "--n-kv-head",
        help="Key/value heads, a divisor of n_head (grouped-query attention; llama only; "
        "default n_head).",
    ),
]
Ctx = Annotated[
    int | None,
    typer.Option(
        "--ctx",
        help="Context length n_ctx in tokens (default the family's: "
        + ", ".join(f"{name} {get_family(name).default_ctx}" for name in family_names())
        + ").",
    ),
]
FamilyVocab = Annotated[
    int | None,
    typer.Option(
        "--vocab",
        help="Vocabulary size in tokens (default the family's: "
        + ", ".join(f"{name} {get_family(name).default_vocab}" for name in family_names())
        + ").",
    ),
]

# Fine-tuning, prediction and serving (finetune, finetune-sweep, predict, serve)

Task = Annotated[
    str,
    typer.Option(
        "--task",
        help="tweets-binary, tweets-3class (embedded CrowdFlower tweets), a "
        ".csv/.tsv/.jsonl/.parquet file with text and label columns, or hf:NAME[:CONFIG].",
    ),
]
Epochs = Annotated[int, typer.Option("--epochs", help="Maximum passes over the training split.")]
ExamplesBatch = Annotated[int, typer.Option("--batch-size", help="Training batch (examples).")]
MaxLength = Annotated[int, typer.Option("--max-length", help="Token limit per text (tokens).")]
MaxTrainExamples = Annotated[
    int | None,
    typer.Option(
        "--max-train-examples", help="Stratified subsample of the training split (count)."
    ),
]
MaxEvalExamples = Annotated[
    int | None,
    typer.Option(
        "--max-eval-examples",
        help="Stratified subsample of validation and test splits each (count).",
    ),
]
Pooling = Annotated[
    str,
    typer.Option(
        "--pooling",
        help="How the head reads the encoder: mean (masked mean of the last hidden states; "
        "learns on every MiniLM rung) or cls (the model's own pooler over [CLS], "
        "near-constant on minilm-L1/L2).",
    ),
]
Device = Annotated[
    str,
    typer.Option(
        "--device", help="auto (CUDA when torch sees a GPU, else CPU), cpu, cuda or cuda:N."
    ),
]
FinetuneThreads = Annotated[
    int | None, typer.Option("--threads", help="torch CPU threads (count).")
]
Threads = Annotated[
    int | None,
    typer.Option("--threads", min=1, help="CPU threads for torch (count); default: torch's."),
]
ClassifierDir = Annotated[
    Path,
    typer.Option(
        "--model", help="Classifier directory written by `scalinglab finetune --out DIR`."
    ),
]

# Sweeps and the run registry (sweep, runs, report)

DesignFile = Annotated[Path, typer.Argument(help="Design file (TOML); see docs/sweeps.md.")]
Registry = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        help="Registry file (SQLite); default $SCALINGLAB_REGISTRY or scalinglab-runs/registry.db.",
    ),
]
SweepRecipe = Annotated[
    Path | None,
    typer.Option(
        "--recipe",
        help="Recipe JSON (scalinglab recipe fit): each run's learning rate and batch from its "
        "laws, unless the design sets them.",
    ),
]
