"""``scalinglab train``: train one run (or one WSD run with cooldown branches)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from scalinglab.models.families import families_help, family_names, get_family

_CTX_HELP = (
    "Context length (tokens; default the family's: "
    + ", ".join(f"{name} {get_family(name).default_ctx}" for name in family_names())
    + ")."
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
    family: str = typer.Option("gpt", "--family", help=families_help() + "."),
    n_layer: int = typer.Option(2, "--n-layer", help="Transformer blocks (count)."),
    d_model: int = typer.Option(128, "--d-model", help="Residual width (features)."),
    n_head: int | None = typer.Option(None, "--n-head", help="Attention heads (default d/64)."),
    n_kv_head: int | None = typer.Option(
        None,
        "--n-kv-head",
        help="Key/value heads, a divisor of n_head (grouped-query attention; llama only; "
        "default n_head).",
    ),
    tokens: float = typer.Option(1e6, "--tokens", help="Training tokens D (e.g. 2e6)."),
    schedule: str = typer.Option(
        "cosine", "--schedule", help="Learning-rate schedule: cosine or wsd."
    ),
    cooldown_at: str | None = typer.Option(
        None,
        "--cooldown-at",
        help="WSD cooldown branches at these token budgets (comma-separated, e.g. "
        "5e5,1e6,2e6): one stable run, one cooldown per budget.",
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed (init and data order)."),
    corpus: str = typer.Option(
        "kjv", "--corpus", help="kjv (embedded), hf:NAME, or a .txt/.jsonl/.parquet path."
    ),
    vocab: int = typer.Option(4096, "--vocab", help="Tokenizer vocabulary size (tokens)."),
    ctx: int | None = typer.Option(None, "--ctx", help=_CTX_HELP),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="Global batch (sequences; default scale-aware)."
    ),
    lr: float | None = typer.Option(
        None, "--lr", help="Peak learning rate (default Kaplan et al. 2020 fit)."
    ),
    parametrization: str = typer.Option(
        "sp",
        "--parametrization",
        help="sp (standard) or mup (maximal update parametrization: the best lr of the "
        "--mup-base-width model transfers to wider ones; docs/hyperparameters.md).",
    ),
    mup_base_width: int = typer.Option(
        64, "--mup-base-width", help="Width (d_model) at which muP equals SP."
    ),
    unique_tokens: int | None = typer.Option(
        None, "--unique-tokens", help="Cap on distinct training tokens (data-constrained)."
    ),
    eval_every: int | None = typer.Option(
        None, "--eval-every", help="Evaluate every this many optimizer steps."
    ),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    bf16: bool | None = typer.Option(
        None,
        "--bf16/--no-bf16",
        help="bf16 autocast (default: on where the GPU or CPU has native bf16).",
    ),
    compile_model: bool = typer.Option(False, "--compile", help="Compile with torch.compile."),
    peak_flops: float | None = typer.Option(
        None, "--peak-flops", help="Peak FLOP/s for MFU (default measured or data sheet)."
    ),
    cache_dir: str | None = typer.Option(
        None,
        "--cache-dir",
        help="Tokenizer/shard cache (default $SCALINGLAB_CACHE or ~/.cache/scalinglab).",
    ),
    out: str | None = typer.Option(None, "--out", help="Run folder to write."),
    config: str | None = typer.Option(
        None,
        "--config",
        help="TOML file of training options; options also given on the command line "
        "override the file's values (each override is printed).",
    ),
    recipe: str | None = typer.Option(
        None,
        "--recipe",
        help="Recipe JSON (scalinglab recipe fit): the learning rate and batch size from "
        "its laws where --lr / --batch-size (or the config) leave them unset.",
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
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
        "n_kv_head": n_kv_head,
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
    for row in rows:
        typer.echo(_time_line(row))


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
