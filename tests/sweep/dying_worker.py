"""A run function for sweep tests whose worker process dies by SIGKILL on chosen attempts.

Executors import it as ``"dying_worker:run"`` in their worker processes (tests put this
folder on the workers' ``sys.path``). Which runs die is read from ``deaths.json`` in the
sweep folder (the parent of each task's ``out_dir``): ``{run_id: n}`` kills the first
``n`` attempts of that run. Each death first leaves ``<run_id>.died-<k>`` beside it, so a
test can tell that the attempt really died; an attempt not meant to die trains the run.
``die_or_sleep`` is a run function that trains nothing, for executor-level checks.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from scalinglab.sweep.worker import execute_run

PLAN = "deaths.json"


def plan_deaths(sweep_dir: Path, deaths: dict[str, int]) -> None:
    """Write the plan: the first ``deaths[run_id]`` attempts of each run are killed."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / PLAN).write_text(json.dumps(deaths))


def deaths_so_far(sweep_dir: Path, run_id: str) -> int:
    """How many attempts of ``run_id`` this module has killed."""
    return len(list(sweep_dir.glob(f"{run_id}.died-*")))


def run(task: dict[str, Any]) -> dict[str, Any]:
    """SIGKILL this process if the plan says so, else train the run."""
    sweep_dir = Path(task["out_dir"]).parent
    plan = sweep_dir / PLAN
    wanted = json.loads(plan.read_text()).get(task["run_id"], 0) if plan.exists() else 0
    died = deaths_so_far(sweep_dir, task["run_id"])
    if died < wanted:
        (sweep_dir / f"{task['run_id']}.died-{died + 1}").write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return execute_run(task)


def die_or_sleep(task: dict[str, Any]) -> dict[str, Any]:
    """A run function that trains nothing: first wait (up to 60 s) for the file
    ``config["wait_for"]`` if given; then SIGKILL this process if the run id starts with
    ``die``, else create ``<out_dir>/started``, sleep ``config["seconds"]`` and return a
    completed outcome naming this process."""
    wait_for = task["config"].get("wait_for")
    deadline = time.monotonic() + 60
    while wait_for and not Path(wait_for).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if task["run_id"].startswith("die"):
        os.kill(os.getpid(), signal.SIGKILL)
    Path(task["out_dir"], "started").touch()
    time.sleep(task["config"]["seconds"])
    return {"run_id": task["run_id"], "status": "completed", "worker": str(os.getpid())}
