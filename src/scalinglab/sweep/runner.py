"""The sweep driver: registers a design's runs, hands the unfinished ones to an executor,
and records every outcome in the registry.

Idempotent: runs already ``completed`` or ``diverged`` are skipped; ``pending``,
``running`` (a previous driver died mid-run) and ``failed`` runs are started again, and
the training loop resumes each from the checkpoints in its run folder. A failed attempt
is retried until the run has had ``max_attempts`` attempts in this invocation, then the
run is marked ``failed`` with the last error; every attempt's error stays in the
registry's ``attempts`` table.

Several drivers may run one sweep at once (on one machine or several sharing the
registry): each run is claimed in the registry before it is trained, under a lease that
a heartbeat thread renews, so a run leased by a live driver is never trained by another.
A driver waits for the runs another driver holds and ends, with status 0, when every run
is finished; runs whose driver died (lease expired or process gone) are taken over.

Runs start in :meth:`~scalinglab.sweep.design.SweepDesign.start_order`: largest first.
"""

from __future__ import annotations

import threading
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
from scalinglab.registry.store import FINAL_STATUSES, LEASE_SECONDS, new_lease_owner
from scalinglab.sweep.design import SweepDesign
from scalinglab.sweep.devices import plan_devices, visible_gpus
from scalinglab.sweep.executors import DEFAULT_RUN_FN, Executor, LocalExecutor, Outcome, RayExecutor

DONE_STATUSES = ("completed", "diverged")
EXECUTORS = ("local", "ray")
#: Seconds between two looks at runs that another driver is training.
WAIT_POLL_SECONDS = 1.0


@dataclass
class SweepResult:
    """What one invocation did: runs it trained (by id), runs it skipped as already
    done, runs another driver finished meanwhile, runs that ended failed here, the
    registry's counts per status afterwards, wall time."""

    sweep: str
    registry: Path
    trained: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)
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
    num_gpus: float | None = None,
    gpus: str | None = None,
    gpus_per_run: int | None = None,
    run_fn: str = DEFAULT_RUN_FN,
) -> Executor:
    """``"local"`` (process pool) or ``"ray"`` (tasks on the cluster at ``address``).

    Local: with GPUs (``gpus``, ids like ``"0,1,2,3"`` or ``"none"``; default those
    visible) each worker gets ``gpus_per_run`` of its own, and ``workers`` defaults to
    as many as fit (:func:`~scalinglab.sweep.devices.plan_devices`). Ray: each task
    declares ``num_gpus`` (default ``gpus_per_run``)."""
    if kind == "local":
        plan = plan_devices(visible_gpus(gpus), gpus_per_run, workers)
        return LocalExecutor(
            plan.workers, run_fn=run_fn, gpu_sets=plan.gpu_sets, ranks_per_run=plan.ranks_per_run
        )
    if kind == "ray":
        return RayExecutor(
            address or "auto",
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            gpus_per_run=gpus_per_run,
            workers=workers,
            run_fn=run_fn,
        )
    raise ScalingLabError(f"unknown executor {kind!r}; use one of {', '.join(EXECUTORS)}")


def register_design(registry: Registry, design: SweepDesign) -> list[RunRecord]:
    """Add the sweep and every planned run (idempotent); the registry's records."""
    registry.add_sweep(design.name, design.to_dict())
    return [registry.add_run(design.name, run.run_id, run.config) for run in design.runs]


def sweep_folder(runs_root: str | Path, sweep: str) -> Path:
    """The folder of ``sweep``'s runs, checked to lie inside ``runs_root``."""
    root = Path(runs_root).resolve()
    folder = (root / sweep).resolve()
    if folder == root or not folder.is_relative_to(root):
        raise ScalingLabError(
            f"sweep {sweep!r} would write outside the runs folder {root}; rename the sweep"
        )
    return folder


def run_folder(sweep_dir: Path, run_id: str) -> Path:
    """The folder of run ``run_id``, checked to lie inside ``sweep_dir``."""
    folder = (sweep_dir / run_id).resolve()
    if folder.parent != sweep_dir.resolve():
        raise ScalingLabError(
            f"run id {run_id!r} would write outside the sweep folder {sweep_dir}; rename the run"
        )
    return folder


class _Heartbeat:
    """A thread that renews ``owner``'s leases every third of ``LEASE_SECONDS`` on its
    own registry connection, so leases stay fresh while the driver waits on workers."""

    def __init__(self, registry_path: Path, owner: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(registry_path, owner), name="lease-heartbeat", daemon=True
        )

    def _beat(self, registry_path: Path, owner: str) -> None:
        with Registry(registry_path) as registry:
            while not self._stop.wait(LEASE_SECONDS / 3):
                registry.renew_leases(owner)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


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
    num_gpus: float | None = None,
    gpus: str | None = None,
    gpus_per_run: int | None = None,
    progress: bool = True,
    on_outcome: Callable[[RunRecord], None] | None = None,
) -> SweepResult:
    """Train every unfinished run of ``design`` and record the outcomes in the registry
    at ``registry_path``; ``runs_dir`` holds the run folders (default beside the
    registry; on a multi-node sweep, a folder every node mounts at the same path).
    ``gpus``, ``gpus_per_run`` and ``num_gpus`` place runs on GPUs (:func:`make_executor`).
    ``on_outcome`` sees each run's registry record after its final outcome."""
    if max_attempts < 1:
        raise ScalingLabError(f"--max-attempts must be at least 1, got {max_attempts}")
    start = time.perf_counter()
    registry_path = Path(registry_path)
    runs_root = Path(runs_dir) if runs_dir is not None else default_runs_dir(registry_path)
    folder = sweep_folder(runs_root, design.name)
    result = SweepResult(design.name, registry_path)
    with Registry(registry_path) as registry:
        records = register_design(registry, design)
        todo = largest_first([r for r in records if r.status not in DONE_STATUSES], design)
        result.skipped = [r.run_id for r in records if r.status in DONE_STATUSES]
        if todo:
            pool = (
                make_executor(
                    executor,
                    address=address,
                    workers=workers,
                    num_cpus=num_cpus,
                    num_gpus=num_gpus,
                    gpus=gpus,
                    gpus_per_run=gpus_per_run,
                )
                if isinstance(executor, str)
                else executor
            )
            owner = new_lease_owner()
            driver = _Driver(registry, pool, owner, folder, max_attempts, on_outcome)
            try:
                with _Heartbeat(registry_path, owner):
                    try:
                        driver.drive(todo, result, progress)
                    finally:
                        pool.close()  # waits for the workers: leases renewed meanwhile
            finally:
                registry.release_leases(owner)
        result.counts = registry.progress(design.name)
    result.wall_seconds = time.perf_counter() - start
    return result


def largest_first(records: list[RunRecord], design: SweepDesign) -> list[RunRecord]:
    """``records`` in the design's start order (largest planned FLOPs first)."""
    position = {run.run_id: index for index, run in enumerate(design.start_order())}
    return sorted(records, key=lambda record: position.get(record.run_id, len(position)))


class _Driver:
    """One driver's loop: claim runs, submit them, record outcomes, wait for the runs
    that other drivers hold."""

    def __init__(
        self,
        registry: Registry,
        pool: Executor,
        owner: str,
        folder: Path,
        max_attempts: int,
        on_outcome: Callable[[RunRecord], None] | None,
    ) -> None:
        self.registry = registry
        self.pool = pool
        self.owner = owner
        self.folder = folder
        self.max_attempts = max_attempts
        self.on_outcome = on_outcome
        self.tries: dict[str, int] = {}
        self.in_flight: dict[Any, RunRecord] = {}
        self.queue: deque[RunRecord] = deque()
        self.held_elsewhere: dict[str, RunRecord] = {}

    def drive(self, todo: list[RunRecord], result: SweepResult, show: bool) -> None:
        self.queue.extend(todo)
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
            while self.queue or self.in_flight or self.held_elsewhere:
                self._start_runs()
                finished = self._collect() if self.in_flight else self._look_at_held_runs(result)
                for final in finished:
                    bar.update(task_id, advance=1, last=_describe(final))
                    if final.run_id in result.elsewhere:
                        continue
                    result.trained.append(final.run_id)
                    if final.status == "failed":
                        result.failed.append(final.run_id)
                    console.print(f"{final.run_id}: {_describe(final)}")
                    if self.on_outcome is not None:
                        self.on_outcome(final)

    def _start_runs(self) -> None:
        """Claim and submit queued runs while the executor has free slots; a run another
        live driver holds waits in ``held_elsewhere``."""
        while self.queue and len(self.in_flight) < self.pool.slots:
            record = self.queue.popleft()
            out_dir = str(run_folder(self.folder, record.run_id))
            claimed = self.registry.claim_run(
                record.run_id, self.owner, worker=self.pool.name, out_dir=out_dir
            )
            if claimed is None:
                self.held_elsewhere[record.run_id] = record
                continue
            self.tries[record.run_id] = self.tries.get(record.run_id, 0) + 1
            task = {"run_id": record.run_id, "config": record.config, "out_dir": out_dir}
            self.in_flight[self.pool.submit(task)] = record

    def _collect(self) -> list[RunRecord]:
        """Wait for at least one outcome; the registry records of runs now final."""
        finished = []
        for handle, outcome in self.pool.wait_any(list(self.in_flight)):
            record = self.in_flight.pop(handle)
            if self._record_outcome(record, outcome):
                finished.append(self.registry.run(record.run_id))
        return finished

    def _look_at_held_runs(self, result: SweepResult) -> list[RunRecord]:
        """With nothing of its own in flight, wait a moment, then report the held runs
        another driver finished and queue the others to be claimed again (a claim of a
        run still held is refused and changes nothing)."""
        time.sleep(WAIT_POLL_SECONDS)
        finished = []
        for run_id, record in list(self.held_elsewhere.items()):
            current = self.registry.run(run_id)
            del self.held_elsewhere[run_id]
            if current.status in FINAL_STATUSES and current.lease_owner is None:
                result.elsewhere.append(run_id)
                finished.append(current)
            else:
                self.queue.append(record)
        return finished

    def _record_outcome(self, record: RunRecord, outcome: Outcome) -> bool:
        """Write one outcome; ``True`` when the run reached a final status."""
        status = outcome.get("status", "failed")
        if status == "failed" and self.tries[record.run_id] < self.max_attempts:
            self.registry.mark_pending(record.run_id, error=outcome.get("error"))
            self.queue.append(record)
            return False
        self.registry.finish_run(
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
        from scalinglab.train.summary import repetition_note

        note = repetition_note(summary.get("epochs"))
        return f"completed, val loss {loss:.4f}" + (f" ({note})" if note else "")
    if record.error:
        return f"{record.status}: {record.error.splitlines()[0]}"
    return record.status
