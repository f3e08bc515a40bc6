"""What a worker process does with one task: train the run, return its outcome.

A task is ``{"run_id", "config", "out_dir", "threads", "ranks"}``: ``config`` holds the fields of
a :class:`~scalinglab.train.config.TrainConfig` plus, for a WSD run, ``branches`` (the
cooldown token budgets). The outcome is plain JSON data: ``status``, ``summary`` (the
run's ``summary.json``; for WSD, ``{"branches": [...]}`` with one summary per branch),
``evaluations`` (the rows of ``metrics.jsonl``), ``artifacts`` ``[(path, kind)]``,
``error`` and ``worker`` (``host:pid``, with ``:gpu<ids>`` where ``CUDA_VISIBLE_DEVICES``
gives the process its GPUs); a WSD run's evaluations are its stable run's. A task of
``ranks`` above 1 is trained as a torchrun job of that many processes
(:mod:`scalinglab.sweep.torchrun`).
Training resumes from the checkpoints already in ``out_dir``, so a retried or re-run
task continues where the last attempt stopped.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from scalinglab.registry.store import EVALUATION_FIELDS

ARTIFACT_KINDS = {"summary.json": "summary", "metrics.jsonl": "metrics", "config.json": "config"}


def execute_run(task: dict[str, Any]) -> dict[str, Any]:
    """Train the task's run in this process (or, for ``ranks`` above 1, as a torchrun
    job it starts) and return its outcome."""
    if int(task.get("ranks") or 1) > 1:
        from scalinglab.sweep.torchrun import run_as_torchrun

        return run_as_torchrun(task)
    import torch

    from scalinglab.train import TrainConfig, run_training

    threads = int(task.get("threads") or 1)
    torch.set_num_threads(threads)
    config = dict(task["config"])
    branches = config.pop("branches", None)
    out_dir = Path(task["out_dir"])
    train_config = TrainConfig.from_dict({**config, "out_dir": str(out_dir), "threads": threads})
    if branches:
        from scalinglab.train.wsd import run_wsd_branches

        summaries = run_wsd_branches(train_config, [int(b) for b in branches], progress=False)
        parts = [s.to_dict() for s in summaries]
        summary: dict[str, Any] = {"branches": parts}
        status = _combined_status([p["status"] for p in parts])
        reason = "; ".join(p.get("reason", "") for p in parts if p.get("reason"))
        folders = [out_dir / "stable", *(Path(p["out_dir"]) for p in parts)]
    else:
        result = run_training(train_config, progress=False).to_dict()
        summary, status, reason = result, result["status"], result.get("reason", "")
        folders = [out_dir]
    return {
        "run_id": task["run_id"],
        "status": status if status in ("completed", "diverged") else "failed",
        "summary": summary,
        "evaluations": read_evaluations(folders[0] / "metrics.jsonl"),
        "artifacts": [a for folder in folders for a in _artifacts(folder)],
        "error": reason or None,
        "worker": worker_name(),
        "lost": False,
    }


def worker_name() -> str:
    """``host:pid``, and ``:gpu<ids>`` when ``CUDA_VISIBLE_DEVICES`` names this process's
    GPUs (set by the local pool or by Ray), so the registry shows where a run trained."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
    return f"{name}:gpu{gpus}" if gpus else name


def _combined_status(statuses: list[str]) -> str:
    if all(s == "completed" for s in statuses):
        return "completed"
    return "diverged" if "diverged" in statuses else "failed"


def read_evaluations(path: Path) -> list[dict[str, Any]]:
    """The evaluation rows of a ``metrics.jsonl`` (registry columns only)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            if "step" in record:
                rows.append({k: record.get(k) for k in EVALUATION_FIELDS})
    return rows


def _artifacts(folder: Path) -> list[tuple[str, str]]:
    found = [(str(folder / name), kind) for name, kind in ARTIFACT_KINDS.items()]
    found = [(path, kind) for path, kind in found if Path(path).exists()]
    checkpoints = folder / "checkpoints"
    if checkpoints.is_dir():
        found.append((str(checkpoints), "checkpoints"))
    return found
