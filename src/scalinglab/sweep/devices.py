"""Which GPUs each local sweep worker trains on, and what a Ray task asks for.

A local sweep on a machine with GPUs gives every worker its own disjoint set of
``gpus_per_run`` GPUs, by setting ``CUDA_VISIBLE_DEVICES`` in the worker's environment
before torch starts CUDA there: each run then sees its GPUs as ``cuda:0 .. cuda:K-1``,
and a run with ``K > 1`` is launched as a ``torchrun`` job of ``K`` ranks
(:mod:`scalinglab.sweep.torchrun`). Without GPUs the workers train on CPU cores as before.

GPU ids are written as ``CUDA_VISIBLE_DEVICES`` takes them (indices or ``GPU-...``
UUIDs); by default the ones this process may use: its own ``CUDA_VISIBLE_DEVICES``, else
every GPU torch counts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from scalinglab.errors import ScalingLabError

#: Values of ``--gpus`` that mean "train on CPU cores, use no GPU".
NO_GPUS = ("none", "")


@dataclass(frozen=True)
class DevicePlan:
    """Local workers and their GPUs: ``gpu_sets[i]`` is worker ``i``'s
    ``CUDA_VISIBLE_DEVICES`` (empty: CPU workers, ``workers`` then ``None`` for one per
    core); each run is ``ranks_per_run`` processes (a torchrun job when above 1)."""

    workers: int | None
    gpu_sets: tuple[tuple[str, ...], ...] = ()
    ranks_per_run: int = 1


def parse_gpu_list(spec: str) -> list[str]:
    """``"0,1,2,3"`` -> ``["0", "1", "2", "3"]``; ``"none"`` -> ``[]``. A repeated id
    is an error (two workers would share a GPU)."""
    if spec.strip().lower() in NO_GPUS:
        return []
    ids = [part.strip() for part in spec.split(",")]
    if any(not part for part in ids):
        raise ScalingLabError(f"--gpus {spec!r} has an empty entry; write ids like 0,1,2,3")
    repeated = sorted({part for part in ids if ids.count(part) > 1})
    if repeated:
        raise ScalingLabError(f"--gpus {spec!r} names GPU {repeated[0]} twice")
    return ids


def visible_gpus(
    spec: str | None = None,
    environ: Mapping[str, str] | None = None,
    count: Callable[[], int] | None = None,
) -> list[str]:
    """The GPUs a sweep may use: ``spec`` (``--gpus``) when given, else this process's
    ``CUDA_VISIBLE_DEVICES``, else ``0 .. n-1`` for the ``n`` GPUs torch counts
    (``count``; none where torch is absent or built without CUDA)."""
    if spec is not None:
        return parse_gpu_list(spec)
    environ = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in environ:
        ids = [part.strip() for part in environ["CUDA_VISIBLE_DEVICES"].split(",")]
        # CUDA stops at the first invalid entry ("-1" hides every GPU)
        valid = []
        for part in ids:
            if not part or part.startswith("-"):
                break
            valid.append(part)
        return valid
    return [str(i) for i in range((count or _torch_gpu_count)())]


def _torch_gpu_count() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count()


def plan_devices(gpus: list[str], gpus_per_run: int | None, workers: int | None) -> DevicePlan:
    """Split ``gpus`` into disjoint sets of ``gpus_per_run``, one per worker.

    ``workers`` defaults to as many as the GPUs allow (GPUs left over stay idle). Asking
    for more GPUs per run than there are, for more workers than the GPUs hold at
    ``gpus_per_run`` each, or for GPUs on a machine without any, is an error. Only
    where ``gpus_per_run`` is left out and more ``workers`` are asked for than there are
    GPUs do workers share: worker ``i`` gets GPU ``i mod n`` (small runs, such as the
    quickstart's, then still spread over every GPU instead of piling on the first)."""
    if gpus_per_run is not None and gpus_per_run < 1:
        raise ScalingLabError(f"--gpus-per-run must be at least 1, got {gpus_per_run}")
    if workers is not None and workers < 1:
        raise ScalingLabError(f"--workers must be at least 1, got {workers}")
    if not gpus:
        if gpus_per_run is not None:
            raise ScalingLabError(
                f"--gpus-per-run {gpus_per_run} needs GPUs, but none is visible (torch counts "
                "none, or CUDA_VISIBLE_DEVICES / --gpus hides them); leave the option out to "
                "train on CPU cores"
            )
        return DevicePlan(workers=workers)
    per_run = gpus_per_run or 1
    if per_run > len(gpus):
        raise ScalingLabError(
            f"--gpus-per-run {per_run} exceeds the {len(gpus)} GPU(s) visible ({','.join(gpus)})"
        )
    fit = len(gpus) // per_run
    if gpus_per_run is None and workers is not None and workers > fit:
        shared = tuple((gpus[i % len(gpus)],) for i in range(workers))
        return DevicePlan(workers=workers, gpu_sets=shared, ranks_per_run=1)
    if workers is not None and workers > fit:
        raise ScalingLabError(
            f"--workers {workers} x --gpus-per-run {per_run} needs {workers * per_run} GPUs, "
            f"{len(gpus)} visible ({','.join(gpus)}); use --workers {fit} or fewer"
        )
    count = fit if workers is None else workers
    sets = tuple(tuple(gpus[i * per_run : (i + 1) * per_run]) for i in range(count))
    return DevicePlan(workers=count, gpu_sets=sets, ranks_per_run=per_run)


def ray_task_options(
    num_cpus: float, num_gpus: float | None, gpus_per_run: int | None
) -> dict[str, float | int]:
    """The resources one Ray run task declares (``ray.remote`` options): ``num_gpus``
    defaults to ``gpus_per_run`` (Ray then sets the task's ``CUDA_VISIBLE_DEVICES`` to
    GPUs no other task holds); fewer GPUs than the run's ranks is an error. Ray's own
    retries are off: the sweep driver counts attempts."""
    if num_cpus <= 0:
        raise ScalingLabError(f"--num-cpus must be above 0, got {num_cpus}")
    if gpus_per_run is not None and gpus_per_run < 1:
        raise ScalingLabError(f"--gpus-per-run must be at least 1, got {gpus_per_run}")
    gpus = float(gpus_per_run or 0) if num_gpus is None else float(num_gpus)
    if gpus < 0:
        raise ScalingLabError(f"--num-gpus must be 0 or more, got {num_gpus}")
    if gpus_per_run is not None and gpus < gpus_per_run:
        raise ScalingLabError(
            f"--num-gpus {num_gpus:g} is fewer than the {gpus_per_run} GPUs a run of "
            f"--gpus-per-run {gpus_per_run} trains on; leave --num-gpus out"
        )
    return {"num_cpus": num_cpus, "num_gpus": gpus, "max_retries": 0}


def ray_slots(resources: Mapping[str, float], options: Mapping[str, float | int]) -> int:
    """Runs a Ray cluster with ``resources`` (``ray.cluster_resources()``) holds at once
    for tasks declaring ``options``: the fewest over CPUs and (when asked for) GPUs."""
    slots = int(resources.get("CPU", 1) // float(options["num_cpus"]))
    if float(options["num_gpus"]) > 0:
        slots = min(slots, int(resources.get("GPU", 0) // float(options["num_gpus"])))
    return max(1, slots)
