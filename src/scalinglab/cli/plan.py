"""``scalinglab plan``: model size, tokens, loss, time, memory and cost for a budget.

Only typer, rich and the standard library are imported at module level, so that
``scalinglab plan --help`` answers fast; the planner (numpy) is imported inside the
command. The options fill a :class:`scalinglab.plan.PlanRequest` (which checks them);
all logic lives in :func:`scalinglab.plan.make_plan`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from scalinglab.cli.options import Family, json_to_stdout
from scalinglab.errors import ScalingLabError
from scalinglab.io import atomic_write_text, dumps_strict
from scalinglab.plan.hardware import load_catalogue


def plan(
    law: Annotated[
        str,
        typer.Option(
            "--law",
            help="A preset (chinchilla, epoch2024, kaplan2020, muennighoff2023) or the JSON "
            "written by `scalinglab fit --json` (its bootstrap gives the loss interval).",
        ),
    ] = "chinchilla",
    flops: Annotated[
        float | None, typer.Option("--flops", help="Budget: training compute in FLOPs.")
    ] = None,
    gpu: Annotated[
        str | None,
        typer.Option(
            "--gpu",
            help=f"Accelerator name from the catalogue ({', '.join(load_catalogue())}) "
            "or from --hardware-file.",
        ),
    ] = None,
    gpus: Annotated[int, typer.Option("--gpus", help="Number of GPUs training together.")] = 1,
    hours: Annotated[
        float | None, typer.Option("--hours", help="Budget: wall-clock hours on --gpus x --gpu.")
    ] = None,
    days: Annotated[
        float | None, typer.Option("--days", help="Budget: wall-clock days on --gpus x --gpu.")
    ] = None,
    dollars: Annotated[
        float | None,
        typer.Option("--dollars", help="Budget: dollars to spend (needs --price-per-gpu-hour)."),
    ] = None,
    price_per_gpu_hour: Annotated[
        float | None,
        typer.Option("--price-per-gpu-hour", help="Price in dollars per GPU-hour; adds costs."),
    ] = None,
    target_loss: Annotated[
        float | None,
        typer.Option(
            "--target-loss", help="Budget: the least compute reaching this loss (nats/token)."
        ),
    ] = None,
    mfu: Annotated[
        float | None,
        typer.Option("--mfu", help="Model FLOPs utilisation, 0-1 (default 0.4, assumed)."),
    ] = None,
    calibrate_from: Annotated[
        str | None,
        typer.Option(
            "--calibrate-from",
            help="Calibrate the MFU from 'llama2-70b' (Touvron et al. 2023) or a measured "
            "run's summary.json (tokens, flops, wall_seconds, peak_flops).",
        ),
    ] = None,
    precision: Annotated[
        str,
        typer.Option(
            "--precision", help="Training and inference precision: bf16, fp16, fp32, fp8."
        ),
    ] = "bf16",
    hardware_file: Annotated[
        Path | None,
        typer.Option(
            "--hardware-file", help="TOML file of \\[gpu.<key>] entries adding to the catalogue."
        ),
    ] = None,
    inference_tokens: Annotated[
        float | None,
        typer.Option(
            "--inference-tokens",
            help="Lifetime inference tokens; adds the inference-aware optimum "
            "(Sardana et al. 2023).",
        ),
    ] = None,
    unique_tokens: Annotated[
        float | None,
        typer.Option(
            "--unique-tokens",
            help="Distinct training tokens available; adds the data-constrained optimum "
            "(Muennighoff et al. 2023).",
        ),
    ] = None,
    family: Family = "gpt",
    vocab: Annotated[int, typer.Option("--vocab", help="Vocabulary size (tokens).")] = 32000,
    seq_len: Annotated[
        int,
        typer.Option("--seq-len", help="Training sequence length and inference context (tokens)."),
    ] = 2048,
    micro_batch: Annotated[
        int, typer.Option("--micro-batch", help="Sequences per GPU per step (activation memory).")
    ] = 1,
    batch: Annotated[
        int, typer.Option("--batch", help="Decode batch (sequences) for inference throughput.")
    ] = 16,
    loss_tolerance: Annotated[
        float,
        typer.Option(
            "--loss-tolerance",
            help="Recommend the cheapest candidate within this many nats/token of the best loss.",
        ),
    ] = 0.0,
    sizes: Annotated[
        str | None,
        typer.Option(
            "--sizes",
            help="Candidate model sizes (parameters) instead of those around N*, e.g. "
            "100M,300M,600M,1.3B,3B,6.7B.",
        ),
    ] = None,
    flash_attention: Annotated[
        bool,
        typer.Option(
            "--flash-attention",
            help="Activations without stored attention matrices (fused attention kernels).",
        ),
    ] = False,
    memory_headroom: Annotated[
        float,
        typer.Option(
            "--memory-headroom",
            help="Fraction of GPU memory a strategy must leave free to count as fitting "
            "(for buffers, fragmentation and framework overhead the estimate leaves out).",
        ),
    ] = 0.1,
    finetune_sweep: Annotated[
        Path | None,
        typer.Option(
            "--finetune-sweep",
            help="sweep.json of `scalinglab finetune-sweep`: each candidate gets the fine-tuned "
            "macro-F1 its error law predicts (with the 95% bootstrap interval, marked as "
            "extrapolation) for the classifier of the planned shape; needs --family bert.",
        ),
    ] = None,
    finetune_method: Annotated[
        str,
        typer.Option("--finetune-method", help="The swept method whose law is used."),
    ] = "full",
    f1_tolerance: Annotated[
        float,
        typer.Option(
            "--f1-tolerance",
            help="With --finetune-sweep, also pick the smallest in-budget size whose predicted "
            "macro-F1 is within this of the best.",
        ),
    ] = 0.01,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Write the plan as JSON to this file ('-' for stdout only)."),
    ] = None,
) -> None:
    """Plan a training run: N*, D*, predicted loss, GPU-hours, memory, inference, candidates."""
    try:
        from scalinglab.plan import PlanRequest, make_plan

        request = PlanRequest(
            law=law,
            flops=flops,
            hours=hours,
            days=days,
            dollars=dollars,
            target_loss=target_loss,
            gpu=gpu,
            gpus=gpus,
            price_per_gpu_hour=price_per_gpu_hour,
            mfu=mfu,
            calibrate_from=calibrate_from,
            precision=precision,
            hardware_file=hardware_file,
            inference_tokens=inference_tokens,
            unique_tokens=unique_tokens,
            family=family,
            vocab_size=vocab,
            seq_len=seq_len,
            micro_batch=micro_batch,
            batch=batch,
            loss_tolerance=loss_tolerance,
            sizes=sizes,
            flash_attention=flash_attention,
            memory_headroom=memory_headroom,
            finetune_sweep=finetune_sweep,
            finetune_method=finetune_method,
            f1_tolerance=f1_tolerance,
        )
        result = make_plan(request)
    except ScalingLabError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(error.exit_code) from None
    data = result.to_json_dict()
    if json_to_stdout(json_out):
        typer.echo(dumps_strict(data, indent=2))
        return
    _print(data)
    if json_out is not None:
        atomic_write_text(json_out, dumps_strict(data, indent=2) + "\n")
        Console().print(f"plan written to {json_out}")


def _num(value: Any, unit: str = "") -> str:
    """Short human form: 7.22e+10 params -> 72.2B; bytes -> GB; hours with commas."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    value = float(value)
    if unit in ("params", "tokens"):
        for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= scale:
                return f"{value / scale:.3g}{suffix}"
        return f"{value:.3g}"
    if unit == "bytes":
        return f"{value / 1e9:,.1f} GB"
    if unit in ("h", "$"):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    if unit in ("FLOPs", "FLOP/s", "bytes/s", "epochs"):
        return f"{value:.3g}"
    if unit == "fraction":
        return f"{value:.3f}"
    return f"{value:.4g}"


def _print(data: dict[str, Any]) -> None:
    console = Console()
    if not console.is_terminal:  # logs and pipes: keep every column of the wide tables readable
        console = Console(width=160)
    law = data["law"]
    console.print(f"[bold]law[/bold] {law['name']} ({law['source']}): {law['citation']}")
    console.print(f"[bold]provenance[/bold]: {law['provenance']}")
    for warning in data["warnings"]:
        console.print(f"[yellow]warning: {warning}[/yellow]")
    if law["notes"]:
        console.print(f"[dim]{law['notes']}[/dim]")
    sections: dict[str, list[dict[str, Any]]] = {}
    for figure in data["figures"]:
        sections.setdefault(figure["section"], []).append(figure)
    for section, figures in sections.items():
        table = Table(title=section, title_justify="left")
        for column in ("quantity", "value", "unit", "source", "how obtained"):
            table.add_column(column, overflow="fold")
        for figure in figures:
            table.add_row(
                figure["name"],
                _num(figure["value"], figure["unit"]),
                figure["unit"],
                figure["source"],
                figure["how"],
            )
        console.print(table)
    if data["hardware"]["gpu"] is not None:
        console.print(_memory_table(data))
    console.print(_candidate_table(data))
    reason = data["recommended"]["reason"]
    label = data["candidates"][data["recommended"]["index"]]["label"]
    console.print(f"[bold]recommended:[/bold] {label}: {reason}")
    if data["downstream"] is not None:
        console.print(_downstream_table(data))
        pick = data["downstream"]["recommended"]
        console.print(
            f"[bold]recommended for {data['downstream']['metric']}:[/bold] {pick['reason']}"
        )


def _memory_table(data: dict[str, Any]) -> Table:
    table = Table(
        title="memory per GPU (AdamW mixed precision, 16 bytes/param; activations per "
        f"Korthikanti et al. 2022{', FlashAttention' if data['flash_attention'] else ''})",
        title_justify="left",
    )
    first = data["memory"][0]
    table.caption = (
        f"fits: total within {_num(first['usable_bytes'], 'bytes')}, the device's "
        f"{_num(first['device_bytes'], 'bytes')} less {first['headroom']:.0%} headroom"
    )
    for column in (
        "strategy",
        "weights",
        "grads",
        "optimizer",
        "activations",
        "act. (checkpointed)",
        "total",
        "total (ckpt)",
        "fits",
        "fits (ckpt)",
    ):
        table.add_column(column)
    for row in data["memory"]:
        table.add_row(
            row["strategy"],
            *(
                _num(row[k], "bytes")
                for k in (
                    "weights",
                    "gradients",
                    "optimizer",
                    "activations",
                    "activations_checkpointed",
                    "total",
                    "total_checkpointed",
                )
            ),
            _num(row["fits"]),
            _num(row["fits_checkpointed"]),
        )
    return table


def _candidate_table(data: dict[str, Any]) -> Table:
    table = Table(
        title="candidates (each size trained compute-optimally for itself; * recommended)",
        title_justify="left",
    )
    encoder = any("encoder_ms_per_sequence" in row for row in data["candidates"])
    latency = "encoder ms/seq" if encoder else "decode ms/token"
    columns = ["", "candidate", "N", "D", "D/N", "train FLOPs", "train GPU-h", "wall h"]
    columns += [
        "inference GPU-h",
        latency,
        "loss (nats/token)",
        "cost $ (train+inf.)",
        "in budget",
    ]
    for column in columns:
        table.add_column(column)
    for i, row in enumerate(data["candidates"]):
        interval = row["loss_interval"]
        loss = f"{row['loss']:.4f}"
        if interval is not None:
            loss += f" [{interval[0]:.4f}, {interval[1]:.4f}]"
        table.add_row(
            "*" if i == data["recommended"]["index"] else "",
            row["label"],
            _num(row["n"], "params"),
            _num(row["d"], "tokens"),
            f"{row['tokens_per_param']:.3g}",
            _num(row["flops"], "FLOPs"),
            _num(row.get("train_gpu_hours"), "h"),
            _num(row.get("wall_hours"), "h"),
            _num(row.get("inference_gpu_hours"), "h"),
            _num(row.get("encoder_ms_per_sequence" if encoder else "decode_ms_per_token")),
            loss,
            _num(row.get("total_cost_dollars"), "$"),
            _num(row["within_budget"]),
        )
    return table


def _downstream_table(data: dict[str, Any]) -> Table:
    """The case-study table: each candidate's cost beside the fine-tuned score the sweep's
    law predicts for it (marked as extrapolation past the largest fine-tuned size)."""
    section = data["downstream"]
    metric = section["metric"]
    low, high = section["fitted_range"]
    table = Table(
        title=f"fine-tuned {metric} by size ({section['method']} law of {section['source']}: "
        f"{section['formula']}; * the {metric} pick)",
        title_justify="left",
        caption=f"N non-emb: the classifier of each planned shape (the law's N); the law was "
        f"fitted on {_num(low, 'params')} to {_num(high, 'params')}; "
        f"{section['ci_level']:.0%} intervals from {section['bootstrap_resamples'] or 0} "
        "bootstrap samples",
    )
    encoder = any("encoder_ms_per_sequence" in row for row in data["candidates"])
    for column in ("", "candidate", "N", "N non-emb", "train GPU-h", "wall h",
                   "encoder ms/seq" if encoder else "decode ms/token", "inference GPU-h",
                   f"{metric} (law)", "95% interval", "extrapolation", "in budget"):  # fmt: skip
        table.add_column(column)
    for i, row in enumerate(data["candidates"]):
        score = row["downstream"]
        interval = score["interval"]
        reach = (
            f"{score['extrapolation_x']:,.3g}x ({score['extrapolation_decades']:.1f} dec.)"
            if score["extrapolated"]
            else "interpolated"
        )
        table.add_row(
            "*" if i == section["recommended"]["index"] else "",
            row["label"],
            _num(row["n"], "params"),
            _num(score["n_params_nonembed"], "params"),
            _num(row.get("train_gpu_hours"), "h"),
            _num(row.get("wall_hours"), "h"),
            _num(row.get("encoder_ms_per_sequence" if encoder else "decode_ms_per_token")),
            _num(row.get("inference_gpu_hours"), "h"),
            f"{score['score']:.4f}",
            "-" if interval is None else f"[{interval[0]:.4f}, {interval[1]:.4f}]",
            reach,
            _num(row["within_budget"]),
        )
    return table
