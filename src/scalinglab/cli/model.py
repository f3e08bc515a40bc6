"""``scalinglab model describe`` and ``scalinglab model ladder``: shapes and their exact
parameter and FLOP counts, by arithmetic alone (no torch, answers in well under a second).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from scalinglab.cli.options import (
    Ctx,
    DModel,
    Family,
    FamilyVocab,
    JsonFlag,
    NHead,
    NKvHead,
    NLayer,
)

app = typer.Typer(
    help="Describe model shapes: parameter counts and training FLOPs per token.",
    no_args_is_help=True,
)


@app.command()
def describe(
    *,
    family: Family = "gpt",
    n_layer: NLayer,
    d_model: DModel,
    n_head: NHead = None,
    n_kv_head: NKvHead = None,
    d_ff: Annotated[
        int | None,
        typer.Option(
            "--d-ff",
            help="MLP width (default the family's: 4 d_model; llama 8/3 d_model rounded up to a "
            "multiple of 64, of 32 below width 256).",
        ),
    ] = None,
    vocab: FamilyVocab = None,
    ctx: Ctx = None,
    untied: Annotated[
        bool, typer.Option("--untied", help="Untie the unembedding from the token embedding.")
    ] = False,
    nsp: Annotated[
        bool,
        typer.Option("--nsp", help="bert only: add the pooler and next-sentence-prediction head."),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Parameters (all and non-embedding) and training FLOPs per token of one shape:
    exact (matmuls at full context, forward + backward), 6N, and Kaplan's
    6 N_nonembed + 6 n_layer n_ctx d_model."""
    from scalinglab.models.counting import describe as describe_shape
    from scalinglab.models.shape import ShapeSpec

    shape = ShapeSpec.create(
        family,  # type: ignore[arg-type]
        n_layer=n_layer,
        d_model=d_model,
        n_head=n_head,
        n_kv_head=n_kv_head,
        d_ff=d_ff,
        vocab_size=vocab,
        n_ctx=ctx,
        tied_embeddings=not untied,
        nsp=nsp,
    )
    described = describe_shape(shape)
    if as_json:
        typer.echo(json.dumps(described))
        return
    _print_describe(described)


@app.command()
def ladder(
    n_min: Annotated[
        float,
        typer.Option("--n-min", help="Smallest target non-embedding parameter count, e.g. 1e5."),
    ],
    n_max: Annotated[
        float,
        typer.Option("--n-max", help="Largest target non-embedding parameter count, e.g. 3e6."),
    ],
    count: Annotated[
        int, typer.Option("--count", help="Number of shapes, spaced geometrically in N.")
    ] = 5,
    family: Family = "gpt",
    vocab: FamilyVocab = None,
    ctx: Ctx = None,
    as_json: JsonFlag = False,
) -> None:
    """Well-proportioned shapes from N_min to N_max non-embedding parameters (aspect ratio
    d_model / n_layer in 20-200, nearest 64; head size 64, or 32 below width 256)."""
    from scalinglab.models.ladder import describe_ladder

    described = describe_ladder(n_min, n_max, count, family, vocab, ctx)  # type: ignore[arg-type]
    if as_json:
        typer.echo(json.dumps(described))
        return
    shape = described[0]["shape"]
    title = f"{count} {family} shapes (vocab {shape['vocab_size']}, n_ctx {shape['n_ctx']})"
    _print_ladder(title, described)


def _print_describe(described: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{described['shape']['family']} shape", show_header=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key, value in described["shape"].items():
        table.add_row(key, str(value))
    table.add_row("n_params", f"{described['n_params']:,}")
    table.add_row("n_params_nonembed", f"{described['n_params_nonembed']:,}")
    for key in ("flops_per_token", "flops_per_token_6n", "flops_per_token_kaplan"):
        table.add_row(f"{key} (FLOPs)", f"{described[key]:.6g}")
    Console().print(table)


def _print_ladder(title: str, rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("n_layer", "d_model", "n_head", "d_ff", "N_nonembed", "N", "FLOPs/tok", "6N"):
        table.add_column(column, justify="right")
    for row in rows:
        shape = row["shape"]
        table.add_row(
            *(str(shape[key]) for key in ("n_layer", "d_model", "n_head", "d_ff")),
            *(
                _short(row[key])
                for key in (
                    "n_params_nonembed",
                    "n_params",
                    "flops_per_token",
                    "flops_per_token_6n",
                )
            ),
        )
    Console().print(table)


def _short(value: float) -> str:
    """``3159552`` -> ``3.16M``: four columns of counts fit an 80-column terminal."""
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"
