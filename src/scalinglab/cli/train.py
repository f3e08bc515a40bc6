"""``scalinglab train``: train one run (or one WSD run with cooldown branches)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from scalinglab.cli.options import (
    Ctx,
    DModel,
    Family,
    JsonFlag,
    NHead,
    NKvHead,
    NLayer,
    Quiet,
)


def _budgets(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        return [int(float(part)) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a comma-separated list of token counts, e.g. 1e6,2e6,4e6"
        ) from None


def train(
    ctx_: typer.Context,
    family: Family = "gpt",
    n_layer: NLayer = 2,
    d_model: DModel = 128,
    n_head: NHead = None,
    n_kv_head: NKvHead = None,
    tokens: Annotated[float, typer.Option("--tokens", help="Training tokens D (e.g. 2e6).")] = 1e6,
    schedule: Annotated[
        str, typer.Option("--schedule", help="Learning-rate schedule: cosine or wsd.")
    ] = "cosine",
    cooldown_at: Annotated[
        str | None,
        typer.Option(
            "--cooldown-at",
            help="WSD cooldown branches at these token budgets (comma-separated, e.g. "
            "5e5,1e6,2e6): one stable run, one cooldown per budget.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (init and data order).")] = 0,
    corpus: Annotated[
        str,
        typer.Option("--corpus", help="kjv (embedded), hf:NAME, or a .txt/.jsonl/.parquet path."),
    ] = "kjv",
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Train on prepared tokens instead of --corpus: a scalinglab data prepare "
            "folder (its vocabulary is used) or a folder of nanoGPT train.bin/val.bin.",
        ),
    ] = None,
    data_dtype: Annotated[
        str | None,
        typer.Option(
            "--data-dtype", help="Token dtype of nanoGPT bins in --data: uint16 or uint32."
        ),
    ] = None,
    vocab: Annotated[
        int,
        typer.Option(
            "--vocab",
            help="Tokenizer vocabulary size (tokens; with nanoGPT bins, above their largest id).",
        ),
    ] = 4096,
    ctx: Ctx = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Global batch (sequences; default scale-aware)."),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option("--lr", help="Peak learning rate (default Kaplan et al. 2020 fit)."),
    ] = None,
    parametrization: Annotated[
        str,
        typer.Option(
            "--parametrization",
            help="sp (standard) or mup (maximal update parametrization: the best lr of the "
            "--mup-base-width model transfers to wider ones; docs/hyperparameters.md).",
        ),
    ] = "sp",
    mup_base_width: Annotated[
        int, typer.Option("--mup-base-width", help="Width (d_model) at which muP equals SP.")
    ] = 64,
    unique_tokens: Annotated[
        int | None,
        typer.Option("--unique-tokens", help="Cap on distinct training tokens (data-constrained)."),
    ] = None,
    eval_every: Annotated[
        int | None,
        typer.Option("--eval-every", help="Evaluate every this many optimizer steps."),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or auto.")] = "auto",
    bf16: Annotated[
        bool | None,
        typer.Option(
            "--bf16/--no-bf16",
            help="bf16 autocast (default: on where the GPU or CPU has native bf16).",
        ),
    ] = None,
    compile_model: Annotated[
        bool, typer.Option("--compile", help="Compile with torch.compile.")
    ] = False,
    prefetch: Annotated[
        bool,
        typer.Option(
            "--prefetch/--no-prefetch",
            help="Build the next steps' batches in a background thread (pinned memory on "
            "CUDA); changes no number, only the time between steps.",
        ),
    ] = True,
    fsdp: Annotated[
        bool,
        typer.Option(
            "--fsdp",
            help="Shard parameters, gradients and optimizer state over the torchrun ranks "
            "(FSDP2 fully_shard per block; sharded checkpoints resumable at any number of "
            "processes; also runs on one process). See docs/train.md.",
        ),
    ] = False,
    activation_checkpointing: Annotated[
        bool,
        typer.Option(
            "--activation-checkpointing",
            help="Recompute each block's activations in backward: less activation memory "
            "for about one extra forward pass of compute; same gradients.",
        ),
    ] = False,
    peak_flops: Annotated[
        float | None,
        typer.Option("--peak-flops", help="Peak FLOP/s for MFU (default measured or data sheet)."),
    ] = None,
    cache_dir: Annotated[
        str | None,
        typer.Option(
            "--cache-dir",
            help="Tokenizer/shard cache (default $SCALINGLAB_CACHE or ~/.cache/scalinglab).",
        ),
    ] = None,
    out: Annotated[str | None, typer.Option("--out", help="Run folder to write.")] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="TOML file of training options; options also given on the command line "
            "override the file's values (each override is printed).",
        ),
    ] = None,
    recipe: Annotated[
        str | None,
        typer.Option(
            "--recipe",
            help="Recipe JSON (scalinglab recipe fit): the learning rate and batch size from "
            "its laws where --lr / --batch-size (or the config) leave them unset.",
        ),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    quiet: Quiet = False,
    as_json: JsonFlag = False,
) -> None:
    """Train one model and write DIR/summary.json, metrics.jsonl, checkpoints and hf/."""
    from scalinglab.errors import ScalingLabError
    from scalinglab.train import TrainConfig, train_run

    options: dict[str, Any] = {
        "out_dir": out, "family": family, "n_layer": n_layer, "d_model": d_model,
        "n_head": n_head, "tokens": int(tokens), "schedule": schedule, "seed": seed,
        "corpus": corpus, "vocab_size": vocab, "n_ctx": ctx, "batch_size": batch_size, "lr": lr,
        "parametrization": parametrization, "mup_base_width": mup_base_width,
        "unique_tokens": unique_tokens, "eval_every": eval_every, "device": device,
        "bf16": bf16, "compile": compile_model, "peak_flops": peak_flops, "cache_dir": cache_dir,
        "n_kv_head": n_kv_head, "prefetch": prefetch, "data": data, "data_dtype": data_dtype,
        "fsdp": fsdp, "activation_checkpointing": activation_checkpointing,
    }  # fmt: skip
    if config is not None:
        given = {_FIELD_OF.get(name, name) for name in _command_line_params(ctx_)} - {"out_dir"}
        cfg, changes = TrainConfig.from_toml(config).with_overrides(
            {key: value for key, value in options.items() if key in given}
        )
        cfg = cfg if out is None else cfg.replace(out_dir=out)
        for change in changes:
            typer.echo(f"{config}: {change} (from the command line)", err=True)
    else:
        if out is None:
            raise ScalingLabError("give --out DIR (the run folder) or --config FILE.toml")
        cfg = TrainConfig(**options)
    if recipe is not None:
        from scalinglab.laws.hyperparams import Recipe
        from scalinglab.train.defaults import apply_recipe

        cfg, said = apply_recipe(cfg, Recipe.read(recipe))
        for line in said:
            typer.echo(f"{recipe}: {line}", err=True)
    summaries = train_run(cfg, cooldown_at=_budgets(cooldown_at), resume=resume, progress=not quiet)
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun, rank 0 alone reports
    _print([s.to_dict() for s in summaries], as_json)


#: ``scalinglab train`` parameters whose TrainConfig field has another name.
_FIELD_OF = {"out": "out_dir", "vocab": "vocab_size", "ctx": "n_ctx", "compile_model": "compile"}


def _command_line_params(context: typer.Context) -> set[str]:
    """Names of the parameters the user typed (not left at their defaults)."""
    return {
        name
        for name in context.params
        if getattr(context.get_parameter_source(name), "name", None) == "COMMANDLINE"
    }


def _print(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows if len(rows) > 1 else rows[0], indent=1))
        return
    table = Table(title="scalinglab train")
    for column in ("run", "status", "N (non-emb)", "D", "C (FLOPs)", "val loss", "tok/s"):
        table.add_column(column)
    for row in rows:
        loss = row["final_val_loss"]
        table.add_row(
            Path(row["out_dir"]).name,
            row["status"] + (f" ({row['reason']})" if row["reason"] else ""),
            f"{row['n_params_nonembed']:,}",
            f"{row['tokens']:,}",
            f"{row['flops']:.3g}",
            "-" if loss is None else f"{loss:.4f}",
            f"{row['tokens_per_second']:,.0f}",
        )
    Console().print(table)
    from scalinglab.train.summary import repetition_note

    for row in rows:
        typer.echo(_time_line(row))
        note = repetition_note(row.get("epochs"))
        if note:
            typer.echo(f"warning: {Path(row['out_dir']).name}: {note}", err=True)


def _time_line(row: dict[str, Any]) -> str:
    """Where a run's time went: training, and how many evaluations of what size."""
    train, evals = row["train_seconds"], row["eval_seconds"]
    share = evals / (train + evals) if train + evals > 0 else 0.0
    count = row["evaluations"]
    return (
        f"{Path(row['out_dir']).name}: training {train:.1f} s; {count} evaluation"
        f"{'' if count == 1 else 's'} of {row['eval_tokens']:,} tokens, {evals:.1f} s "
        f"({share:.0%} of training + evaluation); wall {row['wall_seconds']:.1f} s"
    )
