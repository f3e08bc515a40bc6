"""A run killed with SIGKILL mid-way and resumed ends exactly where an unkilled run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scalinglab.train import run_training
from scalinglab.train.checkpoint import latest_checkpoint

CHILD = """
import json, sys
from scalinglab.train import TrainConfig, run_training
run_training(TrainConfig.from_dict(json.loads(sys.argv[1])), progress=False)
"""


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(tiny) -> None:
    steps = 80
    killed = tiny("killed", tokens=8 * 32 * steps, eval_every=20, checkpoint_every=2)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(killed.to_dict())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        folder = latest_checkpoint(killed.out_dir)
        if folder is not None and int(folder.name.split("-")[1]) >= 30:
            break
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)  # mid-run, most likely mid-checkpoint-write
    child.wait()
    assert child.returncode == -signal.SIGKILL
    stopped_at = int(latest_checkpoint(killed.out_dir).name.split("-")[1])  # type: ignore[union-attr]
    assert 30 <= stopped_at < steps
    assert not (Path(killed.out_dir) / "summary.json").exists()

    resumed = run_training(killed, progress=False)
    straight = run_training(killed.replace(out_dir=killed.out_dir + "-straight"), progress=False)
    assert resumed.status == straight.status == "completed"
    assert resumed.steps == straight.steps == steps
    assert resumed.final_val_loss == pytest.approx(straight.final_val_loss, rel=1e-4)
    evals = [json.loads(x) for x in (Path(killed.out_dir) / "metrics.jsonl").open()]
    assert [e["step"] for e in evals] == list(range(20, steps + 1, 20))


def test_half_written_checkpoints_are_ignored(tiny) -> None:
    cfg = tiny("partial", stop_at_step=12, checkpoint_every=5)
    run_training(cfg, progress=False)
    root = Path(cfg.out_dir) / "checkpoints"
    assert latest_checkpoint(cfg.out_dir) == root / "step-00000012"
    (root / ".tmp-step-00000013-999").mkdir()  # a save killed before its rename
    (root / "step-00000014").mkdir()  # a folder without its state.json
    (root / "latest").write_text("step-00000014")  # pointing at it
    assert latest_checkpoint(cfg.out_dir) == root / "step-00000012"
    resumed = run_training(cfg.replace(stop_at_step=None), progress=False)
    assert resumed.status == "completed"
