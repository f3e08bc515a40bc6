"""A run whose worker process is SIGKILLed is retried by the sweep driver, on the local
process pool and on a real 2-node Ray cluster on 127.0.0.1; a run whose worker dies on
every attempt ends ``failed`` while the other runs of the sweep complete."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from scalinglab.registry import Registry
from scalinglab.sweep import load_design, run_sweep
from scalinglab.sweep.executors import LocalExecutor, RayExecutor

pytest.importorskip("torch")

pytestmark = pytest.mark.slow

RUN_FN = "dying_worker:run"
HERE = Path(__file__).parent


@pytest.fixture
def dying_worker(monkeypatch):
    """The helper module, importable here and in spawned pool workers (they get this
    process's ``sys.path``); the Ray cluster's workers get it from ``PYTHONPATH``."""
    monkeypatch.syspath_prepend(str(HERE))
    return importlib.import_module("dying_worker")


def _sweep_with_deaths(tmp_path, design_file, dying_worker, make_executor):
    """Run a 4-run sweep whose first run dies once and second run dies on every attempt;
    the registry's records by run id, and the sweep folder holding the death markers."""
    design = load_design(design_file)
    once, always = (run.run_id for run in design.runs[:2])
    sweep_dir = tmp_path / "runs" / design.name
    dying_worker.plan_deaths(sweep_dir, {once: 1, always: 99})
    result = run_sweep(
        design,
        tmp_path / "r.db",
        executor=make_executor(),
        runs_dir=tmp_path / "runs",
        max_attempts=2,
        progress=False,
    )
    with Registry(tmp_path / "r.db") as registry:
        runs = {r.run_id: r for r in registry.runs(design.name)}
    assert sorted(runs) == sorted(run.run_id for run in design.runs)
    assert result.failed == [always]
    assert result.counts == {"completed": 3, "failed": 1}
    assert dying_worker.deaths_so_far(sweep_dir, once) == 1
    assert dying_worker.deaths_so_far(sweep_dir, always) == 2
    assert (runs[once].status, runs[once].attempts) == ("completed", 2)
    assert runs[once].summary["final_val_loss"] > 0
    assert (runs[always].status, runs[always].attempts) == ("failed", 2)
    for run_id, run in runs.items():
        if run_id not in (once, always):
            assert (run.status, run.attempts) == ("completed", 1)
    return runs, always


def test_a_dying_local_worker_loses_only_its_own_run(tmp_path, dying_worker):
    started = tmp_path / "started"
    executor = LocalExecutor(workers=2, run_fn="dying_worker:die_or_sleep")
    try:
        alive = executor.submit(
            {"run_id": "alive", "config": {"seconds": 3}, "out_dir": str(tmp_path)}
        )
        doomed = executor.submit(
            {"run_id": "die", "config": {"wait_for": str(started)}, "out_dir": str(tmp_path)}
        )
        outcomes = {}
        while len(outcomes) < 2:
            pending = [h for h in (alive, doomed) if h not in outcomes]
            outcomes.update(executor.wait_any(pending))
        assert outcomes[doomed]["lost"] is True
        assert outcomes[doomed]["error"].startswith("worker process died")
        assert outcomes[alive]["status"] == "completed"
        again = executor.submit(
            {"run_id": "again", "config": {"seconds": 0}, "out_dir": str(tmp_path)}
        )
        [(handle, outcome)] = executor.wait_any([again])
        assert (handle, outcome["status"]) == (again, "completed")
    finally:
        executor.close()


def test_killed_local_worker_is_retried_then_marked_failed(
    tmp_path, tiny_design_file, dying_worker
):
    runs, always = _sweep_with_deaths(
        tmp_path,
        tiny_design_file("dies"),
        dying_worker,
        lambda: LocalExecutor(workers=2, run_fn=RUN_FN),
    )
    assert "worker process died" in runs[always].error


def test_killed_ray_worker_is_retried_then_marked_failed(
    tmp_path, tiny_design_file, dying_worker, ray_cluster
):
    runs, always = _sweep_with_deaths(
        tmp_path,
        tiny_design_file("dies"),
        dying_worker,
        lambda: RayExecutor(address=ray_cluster, run_fn=RUN_FN),
    )
    assert runs[always].error.startswith("Ray task lost: The worker died")
    assert all(r.worker.startswith("ray:") for r in runs.values() if r.status == "completed")
