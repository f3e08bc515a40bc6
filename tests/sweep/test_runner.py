"""The sweep driver's bookkeeping (idempotency, retries, export), with an in-process
executor whose outcomes a test scripts; real training runs are in test_executors.py."""

from __future__ import annotations

import pandas as pd
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.registry import Registry
from scalinglab.sweep.design import explicit_runs
from scalinglab.sweep.export import export_runs
from scalinglab.sweep.runner import run_sweep


class ScriptedExecutor:
    """Runs tasks synchronously; ``failures[run_index]`` attempts fail before success."""

    name = "scripted"
    slots = 2

    def __init__(self, failures=None, lost=False):
        self.failures = dict(failures or {})
        self.lost = lost
        self.calls: list[str] = []
        self._pending = {}

    def submit(self, task):
        handle = object()
        self._pending[handle] = task
        return handle

    def wait_any(self, handles):
        handle = handles[0]
        task = self._pending.pop(handle)
        self.calls.append(task["run_id"])
        index = int(task["run_id"].split("-")[1])
        if self.failures.get(index, 0) > 0:
            self.failures[index] -= 1
            return [(handle, {"status": "failed", "error": "boom", "lost": self.lost})]
        tokens = task["config"]["tokens"]
        summary = {
            "status": "completed",
            "final_val_loss": 5.0 - tokens / 1e6,
            "tokens": tokens,
            "flops": 6.0 * 1000 * tokens,
            "flops_6nd": 6.0 * 2000 * tokens,
            "n_params": 2000,
            "n_params_nonembed": 1000,
            "unique_tokens": tokens,
            "epochs": 1.0,
            "shape": {"n_layer": task["config"]["n_layer"], "d_model": 64},
        }
        evaluations = [{"step": 1, "tokens": tokens, "val_loss": summary["final_val_loss"]}]
        return [
            (
                handle,
                {
                    "status": "completed",
                    "summary": summary,
                    "evaluations": evaluations,
                    "artifacts": [(f"{task['out_dir']}/summary.json", "summary")],
                    "worker": "test:1",
                },
            )
        ]

    def close(self):
        pass


def _design(count=3):
    entries = [{"n_layer": 1, "d_model": 64, "tokens": 1000 * (i + 1)} for i in range(count)]
    return explicit_runs("t", entries, vocab_size=256, n_ctx=32)


def test_second_invocation_trains_nothing(tmp_path):
    db = tmp_path / "r.db"
    first = run_sweep(_design(), db, executor=ScriptedExecutor(), progress=False)
    assert len(first.trained) == 3
    assert first.counts == {"completed": 3}
    executor = ScriptedExecutor()
    second = run_sweep(_design(), db, executor=executor, progress=False)
    assert executor.calls == []
    assert second.trained == []
    assert len(second.skipped) == 3
    with Registry(db) as registry:
        assert [r.attempts for r in registry.runs("t")] == [1, 1, 1]
        run = registry.runs("t")[0]
        assert run.out_dir == str(tmp_path.resolve() / "runs" / "t" / run.run_id)


def test_failed_attempt_is_retried_then_completes(tmp_path):
    db = tmp_path / "r.db"
    result = run_sweep(_design(), db, executor=ScriptedExecutor({1: 1}, lost=True), progress=False)
    assert result.failed == []
    with Registry(db) as registry:
        run = registry.runs("t")[1]
        assert (run.status, run.attempts, run.error) == ("completed", 2, None)


def test_run_failing_every_attempt_is_marked_failed_and_rerun_later(tmp_path):
    db = tmp_path / "r.db"
    result = run_sweep(
        _design(), db, executor=ScriptedExecutor({0: 5}), max_attempts=2, progress=False
    )
    assert len(result.failed) == 1
    with Registry(db) as registry:
        run = registry.runs("t")[0]
        assert (run.status, run.attempts, run.error) == ("failed", 2, "boom")
    executor = ScriptedExecutor()
    run_sweep(_design(), db, executor=executor, progress=False)
    assert len(executor.calls) == 1
    with Registry(db) as registry:
        assert registry.progress("t") == {"completed": 3}


def test_export_writes_a_table_that_the_runs_table_reader_accepts(tmp_path):
    from scalinglab.laws.runs_table import read_runs_table

    db = tmp_path / "r.db"
    run_sweep(_design(), db, executor=ScriptedExecutor({2: 9}), progress=False)
    for fmt in ("csv", "parquet", "jsonl"):
        out = tmp_path / f"runs.{fmt}"
        exported = export_runs(db, "t", out)
        assert exported.rows == 2
        assert list(exported.left_out.values()) == ["failed"]
        table = read_runs_table(out)
        assert len(table.df) == 2
    frame = pd.read_csv(tmp_path / "runs.csv")
    assert list(frame["N"]) == [1000, 1000]
    assert set(frame["status"]) == {"completed"}


def test_export_unknown_sweep_and_format(tmp_path):
    db = tmp_path / "r.db"
    run_sweep(_design(1), db, executor=ScriptedExecutor(), progress=False)
    with pytest.raises(ScalingLabError, match="no sweep named 'x'"):
        export_runs(db, "x", tmp_path / "a.csv")
    with pytest.raises(ScalingLabError, match="unknown format"):
        export_runs(db, "t", tmp_path / "a.xlsx")


@pytest.mark.parametrize(
    ("epochs", "said"),
    [(None, False), (0.0, False), (0.6, False), (1.005, False), (1.3, True), (9.0, True)],
)
def test_a_run_past_one_epoch_of_its_data_says_so(epochs, said):
    from scalinglab.registry.store import RunRecord
    from scalinglab.sweep.runner import _describe

    summary = {"final_val_loss": 5.2473, "epochs": epochs}
    record = RunRecord("r", "s", {}, "h", "completed", 1, None, None, None, summary, None, None)
    line = _describe(record)
    assert line.startswith("completed, val loss 5.2473")
    assert ("epochs of its data: repeated tokens count less than new ones" in line) is said
    if said:
        assert f"({epochs:.1f} epochs" in line


def test_runs_start_largest_first(tmp_path):
    executor = ScriptedExecutor()
    run_sweep(_design(4), tmp_path / "r.db", executor=executor, progress=False)
    by_tokens = sorted(_design(4).runs, key=lambda run: -run.tokens)
    assert executor.calls == [run.run_id for run in by_tokens]
