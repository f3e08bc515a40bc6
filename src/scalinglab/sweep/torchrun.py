"""One sweep run as a ``torchrun`` job: data-parallel over the worker's GPUs.

A worker given ``K > 1`` GPUs per run (``task["ranks"]``) does not train in its own
process: it writes the task to a file and runs

    python -m torch.distributed.run --standalone --nproc-per-node K \\
        -m scalinglab.sweep.torchrun TASK.json OUTCOME.json

whose ``K`` ranks each train their share of every global batch (DDP: nccl on CUDA, gloo
on CPU) through the same :func:`~scalinglab.sweep.worker.execute_run`; rank 0 writes the
outcome, which the worker hands back. ``--standalone`` gives each job its own rendezvous
on a free local port, so several jobs share a machine.

The lease and lock rules still hold: the run folder's lock is taken by rank 0, and the
job dies with the worker. The launcher is started with ``PR_SET_PDEATHSIG`` tied to the
worker, and each rank ties itself to the launcher, so killing a worker (or its driver,
which kills the worker) ends the whole job and frees the lock for the retry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from scalinglab.io import atomic_write_json
from scalinglab.processes import die_with_parent

#: Lines of the job's log kept in a failed outcome's error.
LOG_TAIL_LINES = 20


def torchrun_command(ranks: int, task_file: Path, outcome_file: Path) -> list[str]:
    """The command that trains ``task_file``'s run as a ``ranks``-process job."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc-per-node", str(ranks), "-m", "scalinglab.sweep.torchrun",
        str(task_file), str(outcome_file),
    ]  # fmt: skip


def run_as_torchrun(task: dict[str, Any]) -> dict[str, Any]:
    """Train ``task`` as a ``task["ranks"]``-process torchrun job; its outcome. The
    job's output goes to ``torchrun.log`` in the run folder (appended per attempt)."""
    ranks = int(task["ranks"])
    out_dir = Path(task["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = max(1, int(task.get("threads") or 1) // ranks)
    with tempfile.TemporaryDirectory(prefix="scalinglab-torchrun-") as tmp:
        task_file, outcome_file = Path(tmp) / "task.json", Path(tmp) / "outcome.json"
        atomic_write_json(task_file, {**task, "ranks": 1, "threads": threads})
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        log_path = out_dir / "torchrun.log"
        worker = os.getpid()
        with log_path.open("a") as log:
            returncode = subprocess.run(
                torchrun_command(ranks, task_file, outcome_file),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=lambda: die_with_parent(worker),
                check=False,
            ).returncode
        if outcome_file.exists():
            outcome = json.loads(outcome_file.read_text())
            outcome["worker"] = f"{outcome.get('worker')} (torchrun x{ranks})"
            return outcome
    tail = log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    raise RuntimeError(
        f"torchrun job of {ranks} ranks exited with status {returncode} and no outcome; "
        f"last lines of {log_path}:\n" + "\n".join(tail)
    )


def main(argv: list[str]) -> int:
    """A rank of the job: train the task (every rank), write the outcome (rank 0). A
    failure on rank 0 is written as a ``failed`` outcome before the rank exits with 1."""
    from scalinglab.sweep.executors import lost_outcome
    from scalinglab.sweep.worker import execute_run

    die_with_parent(os.getppid())  # the torchrun launcher
    task_file, outcome_file = Path(argv[0]), Path(argv[1])
    task = json.loads(task_file.read_text())
    rank = int(os.environ.get("RANK", "0"))
    try:
        outcome = execute_run(task)
    except Exception as error:
        if rank == 0:
            atomic_write_json(
                outcome_file, lost_outcome(task, f"{type(error).__name__}: {error}", lost=False)
            )
        raise
    if rank == 0:
        atomic_write_json(outcome_file, outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
