"""The sweep driver: registers a design's runs, hands the unfinished ones to an executor,
and records every outcome in the registry (it is the registry's only writer).

Idempotent: runs already ``completed`` or ``diverged`` are skipped; ``pending``,
``running`` (a previous driver died mid-run) and ``failed`` runs are started again, and
the training loop resumes each from the checkpoints in its run folder. A failed attempt
is retried until the run has had ``max_attempts`` attempts in this invocation, then the
run is marked ``failed`` with the last error.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from scalinglab.errors import ScalingLabError
from scalinglab.registry import Registry, RunRecord
from scalinglab.sweep.design import SweepDesign
from scalinglab.sweep.executors import DEFAULT_RUN_FN, Executor, LocalExecutor, Outcome, RayExecutor

DONE_STATUSES = ("completed", "diverged")
EXECUTORS = ("local", "ray")


@dataclass
class SweepResult:
    """What one invocation did: runs it trained (by id), runs it skipped as already
    done, runs that ended failed, the registry's counts per status afterwards, wall time."""

    sweep: str
    registry: Path
    trained: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0


def default_runs_dir(registry_path: str | Path) -> Path:
    """Run folders live beside the registry: ``<registry folder>/runs``."""
    return Path(registry_path).resolve().parent / "runs"


def make_executor(
    kind: str,
    *,
    address: str | None = None,
    workers: int | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    run_fn: str = DEFAULT_RUN_FN,
) -> Executor:
    """``"local"`` (process pool) or ``"ray"`` (tasks on the cluster at ``address``)."""
    if kind == "local":
        return LocalExecutor(workers, run_fn=run_fn)
    if kind == "ray":
        return RayExecutor(
            address or "auto", num_cpus=num_cpus, num_gpus=num_gpus, workers=workers, run_fn=run_fn
        )
    raise ScalingLabError(f"unknown executor {kind!r}; use one of {', '.join(EXECUTORS)}")


def register_design(registry: Registry, design: SweepDesign) -> list[RunRecord]:
    """Add the sweep and every planned run (idempotent); the registry's records."""
    registry.add_sweep(design.name, design.to_dict())
    return [registry.add_run(design.name, run.run_id, run.config) for run in design.runs]


def run_sweep(
    design: SweepDesign,
    registry_path: str | Path,
    *,
    executor: str | Executor = "local",
    address: str | None = None,
    workers: int | None = None,
    max_attempts: int = 2,
    runs_dir: str | Path | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    progress: bool = True,
    on_outcome: Callable[[RunRecord], None] | None = None,
) -> SweepResult:
    """Train every unfinished run of ``design`` and record the outcomes in the registry
    at ``registry_path``; ``runs_dir`` holds the run folders (default beside the
    registry). ``on_outcome`` sees each run's registry record after its final outcome."""
    if max_attempts < 1:
        raise ScalingLabError(f"--max-attempts must be at least 1, got {max_attempts}")
    start = time.perf_counter()
    registry_path = Path(registry_path)
    runs_root = Path(runs_dir) if runs_dir is not None else default_runs_dir(registry_path)
    result = SweepResult(design.name, registry_path)
    with Registry(registry_path) as registry:
        records = register_design(registry, design)
        todo = [r for r in records if r.status not in DONE_STATUSES]
        result.skipped = [r.run_id for r in records if r.status in DONE_STATUSES]
        if todo:
            pool = (
                make_executor(
                    executor,
                    address=address,
                    workers=workers,
                    num_cpus=num_cpus,
                    num_gpus=num_gpus,
                )
                if isinstance(executor, str)
                else executor
            )
            try:
                _drive(
                    registry,
                    pool,
                    todo,
                    runs_root / design.name,
                    max_attempts,
                    result,
                    progress,
                    on_outcome,
                )
            finally:
                pool.close()
        result.counts = registry.progress(design.name)
    result.wall_seconds = time.perf_counter() - start
    return result


def _drive(
    registry: Registry,
    pool: Executor,
    todo: list[RunRecord],
    folder: Path,
    max_attempts: int,
    result: SweepResult,
    show: bool,
    on_outcome: Callable[[RunRecord], None] | None,
) -> None:
    queue = deque(todo)
    tries: dict[str, int] = {}
    in_flight: dict[Any, RunRecord] = {}
    console = Console(stderr=True, quiet=not show)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
    )
    with Progress(*columns, console=console, disable=not show) as bar:
        task_id = bar.add_task(f"sweep {todo[0].sweep}", total=len(todo), last="")
        while queue or in_flight:
            while queue and len(in_flight) < pool.slots:
                record = queue.popleft()
                out_dir = str((folder / record.run_id).resolve())
                registry.mark_running(record.run_id, worker=pool.name, out_dir=out_dir)
                tries[record.run_id] = tries.get(record.run_id, 0) + 1
                task = {"run_id": record.run_id, "config": record.config, "out_dir": out_dir}
                in_flight[pool.submit(task)] = record
            for handle, outcome in pool.wait_any(list(in_flight)):
                record = in_flight.pop(handle)
                if _record_outcome(registry, record, outcome, tries, max_attempts, queue):
                    final = registry.run(record.run_id)
                    result.trained.append(record.run_id)
                    if final.status == "failed":
                        result.failed.append(record.run_id)
                    bar.update(task_id, advance=1, last=_describe(final))
                    console.print(f"{final.run_id}: {_describe(final)}")
                    if on_outcome is not None:
                        on_outcome(final)


def _record_outcome(
    registry: Registry,
    record: RunRecord,
    outcome: Outcome,
    tries: dict[str, int],
    max_attempts: int,
    queue: deque[RunRecord],
) -> bool:
    """Write one outcome; ``True`` when the run reached a final status."""
    status = outcome.get("status", "failed")
    if status == "failed" and tries[record.run_id] < max_attempts:
        registry.mark_pending(record.run_id, error=outcome.get("error"))
        queue.append(record)
        return False
    registry.finish_run(
        record.run_id,
        status,
        summary=outcome.get("summary"),
        evaluations=outcome.get("evaluations", []),
        artifacts=[tuple(a) for a in outcome.get("artifacts", [])],
        error=outcome.get("error"),
        worker=outcome.get("worker"),
    )
    return True


def _describe(record: RunRecord) -> str:
    summary = record.summary or {}
    loss = summary.get("final_val_loss")
    if record.status == "completed" and loss is not None:
        return f"completed, val loss {loss:.4f}"
    if record.error:
        return f"{record.status}: {record.error.splitlines()[0]}"
    return record.status
