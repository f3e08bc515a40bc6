"""Sweep workers on their own GPUs and runs launched as torchrun jobs, on CPU: the
``CUDA_VISIBLE_DEVICES`` each local worker trains under (CPU torch ignores it, the
registry records it), a run trained by a 2-rank torchrun job (gloo) that matches a
single-process run, and a torchrun job that dies with its worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scalinglab.registry import Registry
from scalinglab.sweep import load_design, run_sweep
from scalinglab.sweep.designfile import design_from_dict
from scalinglab.sweep.executors import LocalExecutor

psutil = pytest.importorskip("psutil")
pytest.importorskip("torch")

pytestmark = pytest.mark.slow


def _one_run_design(name: str, cache: Path, tokens: int = 20_000) -> dict:
    return {
        "sweep": {"name": name, "design": "explicit", "vocab_size": 384, "n_ctx": 32},
        "train": {"val_tokens": 2048, "batch_size": 8, "export_hf": False,
                  "cache_dir": str(cache), "device": "cpu", "eval_every": 5},
        "runs": [{"n_layer": 1, "d_model": 32, "tokens": tokens}],
    }  # fmt: skip


def test_each_local_worker_trains_under_its_own_gpus(tmp_path, tiny_design_file) -> None:
    design = load_design(tiny_design_file())
    pool = LocalExecutor(gpu_sets=(("0", "1"), ("2", "3")))
    result = run_sweep(design, tmp_path / "r.db", executor=pool, progress=False)
    assert result.counts == {"completed": 4}
    with Registry(tmp_path / "r.db") as registry:
        workers = [run.worker for run in registry.runs("tiny")]
    gpus_of_pid: dict[str, set[str]] = {}
    for worker in workers:
        _host, pid, gpus = worker.split(":")
        gpus_of_pid.setdefault(pid, set()).add(gpus)
    assert set().union(*gpus_of_pid.values()) == {"gpu0,1", "gpu2,3"}
    assert all(len(sets) == 1 for sets in gpus_of_pid.values())  # a worker keeps its GPUs


def test_a_run_as_a_two_rank_torchrun_job_matches_one_process(tmp_path, data_cache) -> None:
    design = design_from_dict(_one_run_design("ddp", data_cache))
    single = run_sweep(design, tmp_path / "one" / "r.db", workers=1, gpus="none", progress=False)
    pool = LocalExecutor(workers=1, ranks_per_run=2)
    ddp = run_sweep(design, tmp_path / "two" / "r.db", executor=pool, progress=False)
    assert single.counts == ddp.counts == {"completed": 1}
    with Registry(tmp_path / "one" / "r.db") as one, Registry(tmp_path / "two" / "r.db") as two:
        (run_one,), (run_two,) = one.runs("ddp"), two.runs("ddp")
        evals_one, evals_two = one.evaluations(run_one.run_id), two.evaluations(run_two.run_id)
    assert run_two.summary["world_size"] == 2
    assert run_one.summary["world_size"] == 1
    assert "torchrun x2" in run_two.worker
    assert run_two.summary["tokens"] == run_one.summary["tokens"]
    assert [e["step"] for e in evals_two] == [e["step"] for e in evals_one]
    assert len(evals_one) >= 2
    for a, b in zip(evals_two, evals_one, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
    assert (Path(run_two.out_dir) / "torchrun.log").exists()


WORKER = """
import json, sys
from scalinglab.sweep.worker import execute_run
execute_run(json.loads(sys.argv[1]))
"""


def _descendants(pid: int) -> list:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _is_rank(process) -> bool:
    """A rank of a sweep torchrun job (not its launcher)."""
    try:
        command = " ".join(process.cmdline())
    except psutil.NoSuchProcess:
        return False
    return "scalinglab.sweep.torchrun" in command and "torch.distributed.run" not in command


def test_the_torchrun_job_dies_with_its_worker(tmp_path, data_cache) -> None:
    """SIGKILL the worker mid-run: the launcher and both ranks end too (none keeps the
    run folder's lock or trains on unseen), so a retry can take the folder at once."""
    design = design_from_dict(_one_run_design("die", data_cache, tokens=400_000))
    run = design.runs[0]
    out_dir = tmp_path / "runs" / "die" / run.run_id
    task = {"run_id": run.run_id, "config": run.config, "out_dir": str(out_dir),
            "threads": 2, "ranks": 2}  # fmt: skip
    worker = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(task)])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ranks = [p for p in _descendants(worker.pid) if _is_rank(p)]
        if len(ranks) == 2 and (out_dir / "metrics.jsonl").exists():
            break
        assert worker.poll() is None, "the worker ended before its job started"
        time.sleep(0.2)
    else:
        pytest.fail("the torchrun job did not start training")
    job = _descendants(worker.pid)
    assert len(job) >= 3  # the launcher and two ranks
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    _, alive = psutil.wait_procs(job, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
    assert not (out_dir / "summary.json").exists()
    from scalinglab.train.runlock import run_folder_lock

    with run_folder_lock(out_dir):  # would raise if a rank still held it
        pass
