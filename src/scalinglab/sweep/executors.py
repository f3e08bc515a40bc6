"""Where runs execute: a local process pool, or Ray tasks on a cluster.

Both executors run the same function (``run_fn``, a ``"module:function"`` path so that it
imports cleanly in a fresh process or on another machine) on a task dict and hand its
outcome dict back to the driver, which alone writes the registry. An executor never
touches the registry. A worker that dies (killed, out of memory) surfaces as an outcome
with status ``failed`` and ``lost: True``, so the driver can retry the run.

Tasks and outcomes are plain JSON values (see :mod:`scalinglab.sweep.worker`). With GPUs,
each local worker owns a disjoint set of them and a Ray task declares the GPUs of its
run (:mod:`scalinglab.sweep.devices`); a run over several GPUs is a torchrun job
(:mod:`scalinglab.sweep.torchrun`).
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from scalinglab.errors import ScalingLabError
from scalinglab.processes import die_with_parent
from scalinglab.sweep.devices import ray_slots, ray_task_options

Task = dict[str, Any]
Outcome = dict[str, Any]
DEFAULT_RUN_FN = "scalinglab.sweep.worker:execute_run"


def resolve_run_fn(path: str) -> Callable[[Task], Outcome]:
    """Import ``"module:function"``."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def call_run_fn(path: str, task: Task) -> Outcome:
    """Run ``path`` on ``task`` in a worker; an exception becomes a ``failed`` outcome."""
    try:
        return resolve_run_fn(path)(task)
    except Exception as error:
        return lost_outcome(task, f"{type(error).__name__}: {error}", lost=False, trace=True)


def lost_outcome(task: Task, error: str, *, lost: bool = True, trace: bool = False) -> Outcome:
    """The outcome of an attempt that produced no result."""
    detail = traceback.format_exc(limit=-3) if trace else ""
    return {
        "run_id": task["run_id"],
        "status": "failed",
        "error": error + (f"\n{detail}" if detail else ""),
        "lost": lost,
        "summary": None,
        "evaluations": [],
        "artifacts": [],
        "worker": None,
    }


def default_workers() -> int:
    """Cores this process may use (its CPU affinity where the platform tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class Executor(Protocol):
    """What the sweep driver needs from an executor."""

    name: str
    slots: int

    def submit(self, task: Task) -> Any: ...

    def wait_any(self, handles: list[Any]) -> list[tuple[Any, Outcome]]: ...

    def close(self) -> None: ...


def _init_local_worker(threads: int, driver_pid: int, gpus: tuple[str, ...] = ()) -> None:
    """Set up a pool worker: its thread count, its GPUs (``CUDA_VISIBLE_DEVICES``, read
    by CUDA when torch first uses it, after this), and its death with the driver (a
    worker left behind by a killed driver would train on, unseen, beside the next one)."""
    die_with_parent(driver_pid)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)


class LocalExecutor:
    """A pool of ``workers`` spawned processes on this machine, each training with
    ``cores // workers`` torch threads (set by the worker from ``task["threads"]``).

    Each worker process is a pool of its own (one per slot), so a worker that dies loses
    only the run it was training: in one shared pool, a death breaks the pool and every
    run in flight on it is lost too, each charged an attempt it did not fail. A worker
    dies with the driver process (:func:`scalinglab.processes.die_with_parent`).

    ``gpu_sets`` (one per worker, from :func:`~scalinglab.sweep.devices.plan_devices`)
    gives worker ``i`` the GPUs ``gpu_sets[i]`` alone; ``ranks_per_run`` above 1 trains
    each run as a torchrun job of that many processes (on the worker's GPUs, or with
    gloo on CPU)."""

    name = "local"

    def __init__(
        self,
        workers: int | None = None,
        run_fn: str = DEFAULT_RUN_FN,
        *,
        gpu_sets: tuple[tuple[str, ...], ...] = (),
        ranks_per_run: int = 1,
    ) -> None:
        cores = default_workers()
        self.slots = workers or len(gpu_sets) or cores
        if self.slots < 1:
            raise ScalingLabError(f"--workers must be at least 1, got {workers}")
        if gpu_sets and len(gpu_sets) != self.slots:
            raise ScalingLabError(f"{self.slots} workers but {len(gpu_sets)} GPU sets")
        if ranks_per_run < 1:
            raise ScalingLabError(f"ranks per run must be at least 1, got {ranks_per_run}")
        self.threads = max(1, cores // self.slots)
        self.gpu_sets = gpu_sets
        self.ranks_per_run = ranks_per_run
        self.run_fn = run_fn
        self._pools: list[ProcessPoolExecutor | None] = [None] * self.slots
        self._tasks: dict[Future, tuple[int, ProcessPoolExecutor, Task]] = {}

    def _ensure_pool(self, slot: int) -> ProcessPoolExecutor:
        pool = self._pools[slot]
        if pool is None:
            pool = self._pools[slot] = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_local_worker,
                initargs=(self.threads, os.getpid(), self.gpu_sets[slot] if self.gpu_sets else ()),
            )
        return pool

    def _idlest_slot(self) -> int:
        busy = [0] * self.slots
        for slot, _, _ in self._tasks.values():
            busy[slot] += 1
        return busy.index(min(busy))

    def submit(self, task: Task) -> Future:
        task = {**task, "threads": self.threads, "ranks": self.ranks_per_run}
        slot = self._idlest_slot()
        pool = self._ensure_pool(slot)
        try:
            future = pool.submit(call_run_fn, self.run_fn, task)
        except BrokenProcessPool:
            self._discard_broken_pool(slot, pool)
            pool = self._ensure_pool(slot)
            future = pool.submit(call_run_fn, self.run_fn, task)
        self._tasks[future] = (slot, pool, task)
        return future

    def wait_any(self, handles: list[Future]) -> list[tuple[Future, Outcome]]:
        done, _ = wait(handles, return_when=FIRST_COMPLETED)
        results = []
        for future in done:
            slot, pool, task = self._tasks.pop(future)
            try:
                results.append((future, future.result()))
            except BrokenProcessPool as error:
                self._discard_broken_pool(slot, pool)
                results.append((future, lost_outcome(task, f"worker process died ({error})")))
        return results

    def _discard_broken_pool(self, slot: int, pool: ProcessPoolExecutor) -> None:
        pool.shutdown(wait=False, cancel_futures=True)
        if self._pools[slot] is pool:
            self._pools[slot] = None

    def close(self) -> None:
        for slot, pool in enumerate(self._pools):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                self._pools[slot] = None


class RayExecutor:
    """Each run a Ray task declaring ``num_cpus`` and ``num_gpus`` (default
    ``gpus_per_run``; :func:`~scalinglab.sweep.devices.ray_task_options`); a run of
    ``gpus_per_run`` above 1 is a torchrun job over the task's GPUs. ``address`` is
    ``"auto"`` (a running cluster on this machine), ``"HOST:PORT"``, or ``None`` (start a
    local Ray instance for this process). Ray's own retries are off: the driver counts
    attempts."""

    name = "ray"

    def __init__(
        self,
        address: str | None = "auto",
        *,
        num_cpus: float = 1.0,
        num_gpus: float | None = None,
        gpus_per_run: int | None = None,
        workers: int | None = None,
        run_fn: str = DEFAULT_RUN_FN,
    ) -> None:
        import ray

        options = ray_task_options(num_cpus, num_gpus, gpus_per_run)
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            ray.init(address=address, log_to_driver=False, ignore_reinit_error=True)
        except (ConnectionError, RuntimeError) as error:
            raise ScalingLabError(
                f"cannot connect to a Ray cluster at {address!r} ({error}); start one with "
                "`ray start --head` or pass --address HOST:PORT"
            ) from error
        self._ray = ray
        self.slots = workers or ray_slots(ray.cluster_resources(), options)
        self.threads = max(1, int(num_cpus))
        self.ranks = gpus_per_run or 1
        self.run_fn = run_fn
        self._remote = ray.remote(**options)(_ray_call)
        self._tasks: dict[Any, Task] = {}

    def submit(self, task: Task) -> Any:
        task = {**task, "threads": self.threads, "ranks": self.ranks}
        ref = self._remote.remote(self.run_fn, task)
        self._tasks[ref] = task
        return ref

    def wait_any(self, handles: list[Any]) -> list[tuple[Any, Outcome]]:
        done, _ = self._ray.wait(handles, num_returns=1)
        results = []
        for ref in done:
            task = self._tasks.pop(ref)
            try:
                results.append((ref, self._ray.get(ref)))
            except self._ray.exceptions.RayError as error:
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
                results.append((ref, lost_outcome(task, f"Ray task lost: {first_line}")))
        return results

    def close(self) -> None:
        self._ray.shutdown()


def _ray_call(run_fn: str, task: Task) -> Outcome:
    outcome = call_run_fn(run_fn, task)
    import ray

    node = ray.get_runtime_context().get_node_id()
    if outcome.get("worker"):
        outcome["worker"] = f"ray:{node[:8]}:{outcome['worker']}"
    return outcome
