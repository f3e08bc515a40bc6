"""``scalinglab sweep run`` under faults: two drivers started together on one registry
train each run exactly once; a driver SIGKILLed mid-sweep takes its worker with it, and
the next driver finishes the sweep without training a finished run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from scalinglab.registry import Registry

pytestmark = pytest.mark.slow


def _driver(env: dict[str, str], design: Path, db: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "scalinglab", "sweep", "run", str(design),
               "--registry", str(db), "--workers", "1"]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def _metrics_steps(run_dir: str) -> list[int]:
    lines = (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines]


def test_two_drivers_train_each_run_exactly_once(env, sweep_file, tmp_path):
    design, db = sweep_file("pair", tokens=10_000), tmp_path / "r.db"
    drivers = [_driver(env, design, db) for _ in range(2)]
    outputs = [driver.communicate(timeout=600) for driver in drivers]
    for driver, (_, stderr) in zip(drivers, outputs, strict=True):
        assert driver.returncode == 0, stderr
    with Registry(db) as registry:
        runs = registry.runs("pair")
        attempts = {run.run_id: registry.attempts(run.run_id) for run in runs}
    assert len(runs) == 4
    for run in runs:
        assert (run.status, run.attempts, run.lease_owner) == ("completed", 1, None)
        assert [a.outcome for a in attempts[run.run_id]] == ["completed"]
        steps = _metrics_steps(run.out_dir)
        assert steps == sorted(set(steps))
        assert steps[-1] == run.summary["steps"]
    trained = [int(out.split("trained ")[1].split(",")[0]) for out, _ in outputs]
    assert sum(trained) == 4  # between them, every run once
    print(f"drivers trained {trained}; exit codes {[d.returncode for d in drivers]}")


def test_a_killed_driver_takes_its_worker_and_the_next_one_finishes(env, sweep_file, tmp_path):
    design, db = sweep_file("killed", tokens=20_000), tmp_path / "r.db"
    driver = _driver(env, design, db)
    deadline = time.monotonic() + 600
    while True:
        assert driver.poll() is None, driver.communicate()[1]
        assert time.monotonic() < deadline
        with Registry(db) as registry:
            done = {r.run_id: r for r in registry.runs("killed") if r.status == "completed"}
        workers = psutil.Process(driver.pid).children(recursive=True)
        if done and any(w.status() != psutil.STATUS_ZOMBIE for w in workers):
            break
        time.sleep(0.1)
    os.kill(driver.pid, signal.SIGKILL)  # the driver alone, not its process group
    driver.communicate()
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert alive == [], f"workers outlived their driver: {alive}"
    again = subprocess.run(
        [sys.executable, "-m", "scalinglab", "sweep", "run", str(design), "--registry", str(db)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    with Registry(db) as registry:
        after = {r.run_id: r for r in registry.runs("killed")}
    assert all(run.status == "completed" for run in after.values())
    for run_id, before in done.items():
        assert after[run_id].attempts == 1
        assert after[run_id].ended_at == before.ended_at
    for run in after.values():
        steps = _metrics_steps(run.out_dir)
        assert steps == sorted(set(steps))
