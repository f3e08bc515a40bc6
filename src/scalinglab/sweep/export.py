"""A sweep's runs as a runs table (CSV, Parquet or JSONL) that ``scalinglab fit`` reads.

One row per finished training run, or per cooldown branch of a WSD run: ``N`` (the
non-embedding parameter count by default, Kaplan's ``N``, which the designs size by; or
all parameters with ``n="total"``), ``D`` tokens trained, ``C`` exact training FLOPs,
``C_6nd`` = 6 x n_params x D, ``loss`` the final validation loss (nats/token), the
counts ``n_params_total`` (all parameters; not ``n_params``, which a runs table reads
as ``N``) and ``n_params_nonembed``, ``unique_tokens``, ``epochs``, the IsoFLOP
``budget`` the run belongs to (FLOPs, empty outside IsoFLOP designs), the peak ``lr``
and global ``batch_size`` (sequences) it trained with (what ``scalinglab recipe fit``
reads), ``run_id`` and ``status``. Diverged runs are kept with ``status = diverged`` so
a fit excludes them with a warning; runs that failed or have not finished have no loss
and are left out (``ExportResult.left_out`` names them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from scalinglab.errors import ScalingLabError
from scalinglab.registry import Registry, RunRecord

FORMATS = ("csv", "parquet", "jsonl")
COLUMNS = (
    "N",
    "D",
    "C",
    "loss",
    "n_params_total",
    "n_params_nonembed",
    "C_6nd",
    "unique_tokens",
    "epochs",
    "budget",
    "n_layer",
    "d_model",
    "vocab_size",
    "n_ctx",
    "lr",
    "batch_size",
    "wall_seconds",
    "run_id",
    "status",
)


@dataclass
class ExportResult:
    """Where the table went, its row count, and the runs left out (id: status)."""

    path: Path | None
    rows: int
    left_out: dict[str, str] = field(default_factory=dict)


def runs_dataframe(
    registry: Registry, sweep: str, *, n: str = "nonembed"
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The sweep's runs table and the runs left out (no final loss)."""
    if n not in ("nonembed", "total"):
        raise ScalingLabError(f"n must be nonembed or total, got {n!r}")
    registry.require_sweep(sweep)
    budgets = {
        run["run_id"]: run.get("budget") for run in registry.sweep_design(sweep).get("runs", [])
    }
    rows: list[dict[str, Any]] = []
    left_out: dict[str, str] = {}
    for record in registry.runs(sweep):
        parts = _summaries(record)
        if record.status not in ("completed", "diverged") or not parts:
            left_out[record.run_id] = record.status
            continue
        for part in parts:
            rows.append(_row(record, part, budgets.get(record.run_id), n))
    return pd.DataFrame(rows, columns=list(COLUMNS)), left_out


def _summaries(record: RunRecord) -> list[dict[str, Any]]:
    """The summaries that carry a loss: the run's, or each WSD branch's."""
    summary = record.summary or {}
    if summary.get("branches"):
        return list(summary["branches"])
    return [summary] if summary else []


def _row(record: RunRecord, summary: dict[str, Any], budget: Any, n: str) -> dict[str, Any]:
    shape = summary.get("shape") or {}
    loss = summary.get("final_val_loss")
    n_total, n_nonembed = summary.get("n_params"), summary.get("n_params_nonembed")
    return {
        "N": n_nonembed if n == "nonembed" else n_total,
        "D": summary.get("tokens"),
        "C": summary.get("flops"),
        "loss": float("nan") if loss is None else loss,
        "n_params_total": n_total,
        "n_params_nonembed": n_nonembed,
        "C_6nd": summary.get("flops_6nd"),
        "unique_tokens": summary.get("unique_tokens"),
        "epochs": summary.get("epochs"),
        "budget": budget,
        "n_layer": shape.get("n_layer", record.config.get("n_layer")),
        "d_model": shape.get("d_model", record.config.get("d_model")),
        "vocab_size": shape.get("vocab_size", record.config.get("vocab_size")),
        "n_ctx": shape.get("n_ctx", record.config.get("n_ctx")),
        "lr": summary.get("lr"),
        "batch_size": summary.get("batch_size"),
        "wall_seconds": summary.get("wall_seconds"),
        "run_id": record.run_id,
        "status": summary.get("status", record.status),
    }


def export_runs(
    registry_path: str | Path,
    sweep: str,
    out: str | Path,
    *,
    fmt: str | None = None,
    n: str = "nonembed",
) -> ExportResult:
    """Write the sweep's runs table to ``out`` as ``fmt`` (default: from the suffix)."""
    out = Path(out)
    fmt = fmt or out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ScalingLabError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    with Registry(registry_path) as registry:
        table, left_out = runs_dataframe(registry, sweep, n=n)
    if table.empty:
        raise ScalingLabError(
            f"sweep {sweep!r} has no finished run to export yet; run `scalinglab sweep run`"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        table.to_csv(out, index=False)
    elif fmt == "parquet":
        table.to_parquet(out, index=False)
    else:
        table.to_json(out, orient="records", lines=True)
    return ExportResult(out, len(table), left_out)
