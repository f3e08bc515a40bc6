"""``scalinglab data prepare``: tokenize a corpus of any size into memory-mapped shards."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from scalinglab.cli.options import Family, JsonFlag, Quiet

data_app = typer.Typer(
    help="Prepare token data for training: corpora of any size into shards.",
    no_args_is_help=True,
)


@data_app.command("prepare")
def prepare(
    source: Annotated[
        str,
        typer.Argument(
            help="The corpus: a .txt file (documents split at blank lines), .jsonl (field "
            "text), .parquet (column text), a folder of those, or hf:NAME[:CONFIG] "
            "(streamed)."
        ),
    ],
    out: Annotated[
        str,
        typer.Option(
            "--out",
            help="Folder to write (index.json, tokenizer.json, train-*.bin, val-*.bin); "
            "running again on a killed preparation resumes it.",
        ),
    ],
    vocab_size: Annotated[
        int | None,
        typer.Option(
            "--vocab-size", help="Vocabulary of the trained tokenizer (tokens; default 4096)."
        ),
    ] = None,
    tokenizer: Annotated[
        str | None,
        typer.Option(
            "--tokenizer",
            help="Use this tokenizer instead of training one: a tokenizer.json file or a "
            "Hugging Face tokenizer name (online or cached), e.g. gpt2.",
        ),
    ] = None,
    sample_bytes: Annotated[
        float,
        typer.Option(
            "--sample-bytes", help="Train the tokenizer on the corpus's first this many bytes."
        ),
    ] = 2e7,
    shard_tokens: Annotated[
        float, typer.Option("--shard-tokens", help="Tokens per shard file (e.g. 1.6e7).")
    ] = float(1 << 24),
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Tokenizing processes (default: the CPU count; 1 tokenizes in one process).",
        ),
    ] = None,
    val_fraction: Annotated[
        float,
        typer.Option(
            "--val-fraction",
            help="Share of documents held out for validation (chosen by content hash).",
        ),
    ] = 0.05,
    family: Family = "gpt",
    as_json: JsonFlag = False,
    quiet: Quiet = False,
) -> None:
    """Tokenize SOURCE into OUT: streamed (memory does not grow with the corpus), parallel
    over processes, resumable when killed; --family picks the tokenizer scheme (causal
    families: gpt, llama). Train on it with scalinglab train --data OUT."""
    from scalinglab.data.prepare import prepare_corpus

    def said(split: str, entry: dict[str, Any]) -> None:
        typer.echo(f"wrote {entry['file']} ({entry['tokens']:,} tokens)", err=True)

    result = prepare_corpus(
        source,
        out,
        family=family,
        vocab_size=vocab_size,
        tokenizer=tokenizer,
        sample_bytes=int(sample_bytes),
        shard_tokens=int(shard_tokens),
        workers=workers,
        val_fraction=val_fraction,
        on_shard=None if quiet else said,
    )
    row = {
        "out": str(result.out),
        "vocab_size": result.vocab_size,
        "dtype": result.dtype,
        "train_tokens": result.tokens["train"],
        "val_tokens": result.tokens["val"],
        "shards_written": result.shards_written,
        "shards_kept": result.shards_kept,
        "seconds": round(result.seconds, 2),
        "tokens_per_second": round(result.tokens_per_second),
    }
    if as_json:
        typer.echo(json.dumps(row, indent=1))
        return
    typer.echo(
        f"{row['out']}: {row['train_tokens']:,} train + {row['val_tokens']:,} val tokens "
        f"({row['dtype']}, vocabulary {row['vocab_size']:,}); {row['shards_written']} shards "
        f"written, {row['shards_kept']} kept from an earlier run; {row['seconds']} s, "
        f"{row['tokens_per_second']:,} tokens/s"
    )
