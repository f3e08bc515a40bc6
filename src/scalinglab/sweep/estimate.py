"""A design's plan with times: every run's N, D, C and shape, the total compute, and a
wall-time estimate from the throughput calibration of :mod:`scalinglab.sweep.calibrate`.

A run's time is its training steps (FLOPs over the calibrated FLOP/s), its evaluations
(as many as its resolved ``eval_every`` makes, each of ``val_tokens`` validation tokens
costing ``EVAL_COST`` training tokens, as :mod:`scalinglab.train.defaults` assumes) and
its own start-up and wrap-up (data, model, checkpoints, summary, export, registry). The
sweep's wall time adds the start of the command and of its workers (processes spawned,
torch imported, the first run of each worker reading the corpus), then the runs as the
workers take them in the design's start order (largest first), each the next run as soon
as it is free.

Start-up costs are counted in units of :func:`~scalinglab.sweep.calibrate.startup_seconds`
(a fresh process importing torch and the trainer, timed on this machine): measured on a
2-core machine under load (one import 12.9 s), each run added 0.1-0.15 of it, the first
run of each worker one more, and the command, its pool and the final exports three.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from pathlib import Path

from scalinglab.models.counting import flops_per_token
from scalinglab.sweep.calibrate import Throughput, calibrate, flops_per_second, startup_seconds
from scalinglab.sweep.design import PlannedRun, SweepDesign
from scalinglab.sweep.executors import default_workers
from scalinglab.train.config import TrainConfig
from scalinglab.train.defaults import EVAL_COST, resolve, total_steps

#: Start-ups (see the module docstring) each run spends outside training and evaluation.
RUN_STARTS = 0.2
#: Start-ups the first run of each worker adds (a fresh process reading the corpus).
WORKER_STARTS = 1.0
#: Start-ups of the command itself: its imports, the pool, the registry, the exports.
SWEEP_STARTS = 3.0


@dataclass(frozen=True)
class PlannedRow:
    """One planned run with its estimated seconds on one worker: ``seconds`` in all, of
    which ``train_seconds`` training steps and ``eval_seconds`` evaluations."""

    run_id: str
    n_params_nonembed: int
    n_params: int
    tokens: int
    flops: float
    budget: float | None
    shape: str
    branches: tuple[int, ...]
    seconds: float
    train_seconds: float
    eval_seconds: float


@dataclass(frozen=True)
class DesignEstimate:
    """The plan of a design: rows, total FLOPs, seconds of all runs on one worker
    (``serial_seconds``) and with ``workers`` workers in parallel (``wall_seconds``: the
    sweep's start and the runs shared out in start order, see the module docstring),
    and the calibrated ``startup_seconds``."""

    design: SweepDesign
    rows: tuple[PlannedRow, ...]
    total_flops: float
    serial_seconds: float
    wall_seconds: float
    workers: int
    threads: int
    calibration: tuple[Throughput, ...]
    startup_seconds: float


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
    startup = startup_seconds(cache_dir)
    rows = tuple(_row(run, measured, RUN_STARTS * startup) for run in design.runs)
    seconds = {row.run_id: row.seconds for row in rows}
    serial = sum(row.seconds for row in rows)
    begin = (SWEEP_STARTS + WORKER_STARTS) * startup
    return DesignEstimate(
        design=design,
        rows=rows,
        total_flops=design.total_flops,
        serial_seconds=serial,
        wall_seconds=begin
        + makespan([seconds[run.run_id] for run in design.start_order()], workers),
        workers=workers,
        threads=threads,
        calibration=tuple(measured),
        startup_seconds=startup,
    )


def _row(run: PlannedRun, measured: list[Throughput], overhead: float) -> PlannedRow:
    rate = flops_per_second(run.shape, measured)
    train = run.flops / rate
    scored = evaluations(run) * _resolved(run).val_tokens  # validation tokens
    evaluate = scored * EVAL_COST * flops_per_token(run.shape).exact / rate
    return PlannedRow(
        run_id=run.run_id,
        n_params_nonembed=run.n_params_nonembed,
        n_params=run.n_params,
        tokens=run.tokens,
        flops=run.flops,
        budget=run.budget,
        shape=f"L{run.shape.n_layer} d{run.shape.d_model} h{run.shape.n_head}",
        branches=run.branches,
        seconds=train + evaluate + overhead,
        train_seconds=train,
        eval_seconds=evaluate,
    )


def _resolved(run: PlannedRun) -> TrainConfig:
    """The run's training configuration with its defaults filled in (for a WSD run, the
    one its stable run and branches share, resolved for the largest budget)."""
    config = {k: v for k, v in run.config.items() if k != "branches"}
    if run.branches:
        config.update(schedule="wsd", tokens=max(run.branches))
    return resolve(TrainConfig.from_dict(config))


def evaluations(run: PlannedRun) -> int:
    """How many evaluations ``run`` makes: every ``eval_every`` steps and at the last step
    (a WSD run, approximately: over the steps of its stable run and cooldowns, plus the
    stop of the stable run and the end of each branch)."""
    config = _resolved(run)
    assert config.batch_size is not None
    assert config.eval_every is not None
    if not run.branches:
        steps = total_steps(config)
        return steps // config.eval_every + (steps % config.eval_every != 0)
    step_tokens = config.batch_size * run.shape.n_ctx
    steps = round(run.flops / (flops_per_token(run.shape).exact * step_tokens))
    return steps // config.eval_every + 1 + len(run.branches)


def makespan(seconds: list[float], workers: int) -> float:
    """Seconds until the last of jobs of ``seconds`` ends when ``workers`` workers take
    them in order, each the next one as soon as it is free."""
    free = [0.0] * max(1, min(workers, len(seconds)))
    for job in seconds:
        heapq.heappush(free, heapq.heappop(free) + job)
    return max(free)
