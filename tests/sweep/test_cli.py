"""End to end: `scalinglab sweep design|run|status` and `scalinglab runs export`, and a
sweep driver killed with SIGKILL part-way then run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab.cli.app import app
from scalinglab.registry import Registry

pytest.importorskip("torch")

EXAMPLES = Path(__file__).parents[2] / "examples"
SCALINGLAB = str(Path(sys.executable).parent / "scalinglab")


def test_sweep_design_prints_runs_compute_and_time(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path))
    result = CliRunner().invoke(
        app, ["sweep", "design", str(EXAMPLES / "explicit.toml"), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "sweep explicit-demo (explicit)" in result.output
    assert "2 runs, total compute 1.22e+12 FLOPs" in result.output
    assert "estimated training time" in result.output
    cache = json.loads((tmp_path / "throughput.json").read_text())
    assert len(cache) == 2
    again = CliRunner().invoke(
        app, ["sweep", "design", str(EXAMPLES / "explicit.toml"), "--workers", "1"]
    )
    assert "(cached)" in again.output


def test_sweep_design_names_the_points_left_out_past_max_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path))
    design = tmp_path / "capped.toml"
    design.write_text(
        '[sweep]\nname = "capped"\ndesign = "isoflop"\nn_ctx = 64\nvocab_size = 512\n'
        "[isoflop]\nbudgets = [1e12, 3e12]\nsizes_per_budget = 5\nmax_tokens = 5.3e6\n"
    )
    result = CliRunner().invoke(app, ["sweep", "design", str(design), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "7 runs" in result.output
    assert "left out past max_tokens 5.3e+06: capped-C3e12-" in result.output


def test_bad_design_file_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[sweep]\nname = "x"\ndesign = "nope"\n')
    completed = subprocess.run(
        [SCALINGLAB, "sweep", "design", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2
    assert "design is 'nope'" in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.slow
def test_run_status_export(tmp_path, tiny_design_file):
    db = tmp_path / "r.db"
    design = tiny_design_file("cli", tokens=10_000)
    runner = CliRunner()
    result = runner.invoke(app, ["sweep", "run", str(design), "--registry", str(db)])
    assert result.exit_code == 0, result.output
    assert "trained 4, skipped 0" in result.output
    again = runner.invoke(app, ["sweep", "run", str(design), "--registry", str(db)])
    assert "trained 0, skipped 4" in again.output
    status = runner.invoke(app, ["sweep", "status", "--registry", str(db), "--sweep", "cli"])
    assert status.exit_code == 0
    assert "4/4 done" in status.output
    out = tmp_path / "runs.csv"
    export = runner.invoke(
        app, ["runs", "export", "--sweep", "cli", "--registry", str(db), "--out", str(out)]
    )
    assert export.exit_code == 0, export.output
    table = pd.read_csv(out)
    assert len(table) == 4
    assert {"N", "D", "C", "loss", "n_params_nonembed", "unique_tokens", "epochs", "run_id",
            "status"} <= set(table.columns)  # fmt: skip
    assert (table["loss"] > 0).all()


def _counts(db: Path) -> dict[str, int]:
    if not db.exists():
        return {}
    with Registry(db) as registry:
        return registry.progress("kill") if "kill" in registry.sweeps() else {}


@pytest.mark.slow
def test_sigkilled_sweep_resumes_without_retraining(tmp_path, tiny_design_file):
    db = tmp_path / "r.db"
    design = tiny_design_file("kill", tokens=30_000)
    command = [SCALINGLAB, "sweep", "run", str(design), "--registry", str(db), "--workers", "2"]
    process = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 600
    while _counts(db).get("completed", 0) < 1:
        assert process.poll() is None, "the sweep ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    with Registry(db) as registry:
        before = {r.run_id: r for r in registry.runs("kill")}
    done_before = {k: r for k, r in before.items() if r.status == "completed"}
    assert 1 <= len(done_before) < 4
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    with Registry(db) as registry:
        after = registry.runs("kill")
    assert len(after) == len({r.run_id for r in after}) == 4
    assert all(r.status == "completed" for r in after)
    for run in after:
        if run.run_id in done_before:
            assert run.attempts == done_before[run.run_id].attempts == 1
            assert run.ended_at == done_before[run.run_id].ended_at
        else:
            assert run.started_at > max(r.ended_at for r in done_before.values())
