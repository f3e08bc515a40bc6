"""A design's plan with times: every run's N, D, C and shape, the total compute, and a
wall-time estimate from the throughput calibration of :mod:`scalinglab.sweep.calibrate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scalinglab.sweep.calibrate import Throughput, calibrate, flops_per_second
from scalinglab.sweep.design import SweepDesign
from scalinglab.sweep.executors import default_workers


@dataclass(frozen=True)
class PlannedRow:
    """One planned run with its estimated training seconds on one worker."""

    run_id: str
    n_params_nonembed: int
    n_params: int
    tokens: int
    flops: float
    budget: float | None
    shape: str
    branches: tuple[int, ...]
    seconds: float


@dataclass(frozen=True)
class DesignEstimate:
    """The plan of a design: rows, total FLOPs, seconds of training on one worker
    (``serial_seconds``) and with ``workers`` workers in parallel (``wall_seconds``,
    the serial time divided by the workers, since runs are independent)."""

    design: SweepDesign
    rows: tuple[PlannedRow, ...]
    total_flops: float
    serial_seconds: float
    wall_seconds: float
    workers: int
    threads: int
    calibration: tuple[Throughput, ...]


def estimate_design(
    design: SweepDesign,
    *,
    workers: int | None = None,
    cache_dir: str | Path | None = None,
) -> DesignEstimate:
    """Calibrate this machine on the design's extreme shapes, then time every run."""
    workers = workers or default_workers()
    threads = max(1, default_workers() // workers)
    measured = calibrate([run.shape for run in design.runs], threads=threads, cache_dir=cache_dir)
    rows = tuple(
        PlannedRow(
            run_id=run.run_id,
            n_params_nonembed=run.n_params_nonembed,
            n_params=run.n_params,
            tokens=run.tokens,
            flops=run.flops,
            budget=run.budget,
            shape=f"L{run.shape.n_layer} d{run.shape.d_model} h{run.shape.n_head}",
            branches=run.branches,
            seconds=run.flops / flops_per_second(run.shape, measured),
        )
        for run in design.runs
    )
    serial = sum(row.seconds for row in rows)
    return DesignEstimate(
        design=design,
        rows=rows,
        total_flops=design.total_flops,
        serial_seconds=serial,
        wall_seconds=serial / min(workers, max(1, len(rows))),
        workers=workers,
        threads=threads,
        calibration=tuple(measured),
    )
