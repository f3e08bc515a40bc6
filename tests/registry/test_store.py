"""The registry on a real SQLite file: WAL, idempotent upserts, outcomes, migration."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.registry import SCHEMA_VERSION, Registry, config_hash
from scalinglab.registry.schema import migrate, schema_version
from scalinglab.registry.store import new_lease_owner


def test_new_registry_is_wal_with_current_schema(tmp_path):
    with Registry(tmp_path / "r.db") as registry:
        assert registry.journal_mode == "wal"
        assert registry.schema_version == SCHEMA_VERSION


def test_add_run_is_idempotent_by_config_hash(tmp_path):
    with Registry(tmp_path / "r.db") as registry:
        registry.add_sweep("s", {"kind": "explicit"})
        first = registry.add_run("s", "s-1", {"tokens": 10, "seed": 0})
        again = registry.add_run("s", "s-other-name", {"seed": 0, "tokens": 10})
        other = registry.add_run("s", "s-2", {"tokens": 20, "seed": 0})
        assert again.run_id == first.run_id == "s-1"
        assert first.config_hash == config_hash({"seed": 0, "tokens": 10})
        assert [r.run_id for r in registry.runs("s")] == ["s-1", "s-2"]
        assert other.status == "pending"


def test_same_run_id_with_another_config_is_refused(tmp_path):
    with Registry(tmp_path / "r.db") as registry:
        registry.add_sweep("s", {})
        registry.add_run("s", "s-1", {"tokens": 10})
        with pytest.raises(ScalingLabError, match="new sweep name"):
            registry.add_run("s", "s-1", {"tokens": 11})


def test_attempt_lifecycle_and_evaluations(tmp_path):
    with Registry(tmp_path / "r.db") as registry:
        registry.add_sweep("s", {})
        registry.add_run("s", "s-1", {"tokens": 10})
        assert registry.claim_run("s-1", "d", worker="host:1", out_dir="/runs/s-1")
        registry.mark_pending("s-1", error="worker died")
        assert registry.claim_run("s-1", "d", worker="host:2")
        evaluations = [
            {"step": 10, "tokens": 100, "val_loss": 3.0},
            {"step": 20, "tokens": 200, "val_loss": 2.5, "mfu": 0.1},
        ]
        registry.finish_run(
            "s-1",
            "completed",
            summary={"final_val_loss": 2.5},
            evaluations=evaluations,
            artifacts=[("/runs/s-1/summary.json", "summary")],
        )
        run = registry.run("s-1")
        assert (run.status, run.attempts, run.worker, run.out_dir) == (
            "completed",
            2,
            "host:2",
            "/runs/s-1",
        )
        assert run.summary == {"final_val_loss": 2.5}
        assert run.started_at <= run.ended_at
        rows = registry.evaluations("s-1")
        assert [r["step"] for r in rows] == [10, 20]
        assert rows[1]["mfu"] == 0.1
        assert rows[0]["mfu"] is None
        assert registry.artifacts("s-1") == [("/runs/s-1/summary.json", "summary")]
        assert registry.progress("s") == {"completed": 1}
        attempts = registry.attempts("s-1")
        assert [(a.attempt, a.worker, a.outcome, a.error) for a in attempts] == [
            (1, "host:1", "failed", "worker died"),
            (2, "host:2", "completed", None),
        ]
        assert run.lease_owner is None


def test_finish_rejects_non_final_status(tmp_path):
    with Registry(tmp_path / "r.db") as registry:
        registry.add_sweep("s", {})
        registry.add_run("s", "s-1", {})
        with pytest.raises(ScalingLabError, match="ends as one of"):
            registry.finish_run("s-1", "running")


def test_unknown_sweep_names_known_ones(tmp_path):
    with Registry(tmp_path / "r.db") as registry:
        registry.add_sweep("alpha", {})
        with pytest.raises(ScalingLabError, match="sweeps: alpha"):
            registry.require_sweep("beta")


def test_version_1_database_is_migrated_in_place(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db, target=1) == 1
    db.execute("INSERT INTO sweeps VALUES ('old', '{}', 0, 0)")
    db.execute(
        "INSERT INTO runs (run_id, sweep, config, config_hash, status) "
        "VALUES ('old-1', 'old', '{\"tokens\": 5}', 'h', 'completed')"
    )
    db.execute("INSERT INTO evaluations (run_id, step, val_loss) VALUES ('old-1', 1, 4.0)")
    db.close()
    with Registry(path) as registry:
        assert registry.schema_version == SCHEMA_VERSION == 3
        run = registry.run("old-1")
        assert (run.status, run.config, run.out_dir) == ("completed", {"tokens": 5}, None)
        assert registry.evaluations("old-1")[0]["val_loss"] == 4.0
        assert registry.artifacts("old-1") == []


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(ScalingLabError, match="newer"):
        Registry(path)


def test_not_a_database_is_a_user_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_text("this is not sqlite " * 100)
    with pytest.raises(ScalingLabError, match="not a usable scalinglab registry"):
        Registry(path)


def test_reader_sees_writer_commits_while_open(tmp_path):
    path = tmp_path / "r.db"
    with Registry(path) as writer, Registry(path) as reader:
        writer.add_sweep("s", {})
        writer.add_run("s", "s-1", {})
        assert [r.run_id for r in reader.runs("s")] == ["s-1"]
        assert schema_version(sqlite3.connect(path)) == SCHEMA_VERSION


def test_concurrent_opens_of_a_new_file_migrate_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "race.db"

    def open_and_close(_):
        with Registry(path) as registry:
            return registry.schema_version

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(open_and_close, range(16))) == {SCHEMA_VERSION}


def test_version_2_database_keeps_each_runs_last_attempt(tmp_path):
    path = tmp_path / "v2.db"
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db, target=2) == 2
    db.execute("INSERT INTO sweeps VALUES ('old', '{}', 0, 0)")
    db.execute(
        "INSERT INTO runs (run_id, sweep, config, config_hash, status, attempts, worker, "
        "started_at, ended_at, error) VALUES "
        "('old-1', 'old', '{}', 'h1', 'failed', 2, 'w', 1.0, 2.0, 'boom'), "
        "('old-2', 'old', '{}', 'h2', 'pending', 0, NULL, NULL, NULL, NULL)"
    )
    db.close()
    with Registry(path) as registry:
        (attempt,) = registry.attempts("old-1")
        assert (attempt.attempt, attempt.worker, attempt.outcome, attempt.error) == (
            2,
            "w",
            "failed",
            "boom",
        )
        assert registry.attempts("old-2") == []
        assert registry.run("old-1").lease_owner is None


def _one_run(path):
    registry = Registry(path)
    registry.add_sweep("s", {})
    registry.add_run("s", "s-1", {"tokens": 10})
    return registry


def test_a_leased_run_cannot_be_claimed_by_another_live_driver(tmp_path):
    with _one_run(tmp_path / "r.db") as first, Registry(tmp_path / "r.db") as second:
        me = new_lease_owner()  # this process: alive
        assert first.claim_run("s-1", me, worker="w") is not None
        assert second.claim_run("s-1", "other-driver", worker="w") is None
        assert first.run("s-1").attempts == 1
        first.finish_run("s-1", "completed")
        assert second.claim_run("s-1", "other-driver", worker="w") is None  # finished


def test_an_expired_lease_or_a_dead_driver_frees_the_run(tmp_path):
    with _one_run(tmp_path / "r.db") as registry:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        gone = f"{socket.gethostname()}:{dead.pid}:token"
        assert registry.claim_run("s-1", gone, worker="w") is not None
        assert registry.claim_run("s-1", "next", worker="w", lease_seconds=0.05) is not None
        assert registry.claim_run("s-1", "third", worker="w") is None  # next's lease holds
        time.sleep(0.1)
        assert registry.claim_run("s-1", "third", worker="w") is not None  # expired
        assert [a.driver for a in registry.attempts("s-1")] == [gone, "next", "third"]


def test_heartbeat_renews_and_release_makes_runs_pending(tmp_path):
    with _one_run(tmp_path / "r.db") as registry:
        registry.claim_run("s-1", "d", worker="w", lease_seconds=0.05)
        assert registry.renew_leases("d", lease_seconds=60) == 1
        time.sleep(0.1)
        assert registry.claim_run("s-1", "other", worker="w") is None
        registry.release_leases("d")
        run = registry.run("s-1")
        assert (run.status, run.lease_owner) == ("pending", None)
        assert registry.attempts("s-1")[0].ended_at is not None


def test_claims_from_many_processes_start_one_attempt(tmp_path):
    path = tmp_path / "r.db"
    _one_run(path).close()
    script = (
        "import sys; from scalinglab.registry import Registry\n"
        "with Registry(sys.argv[1]) as r:\n"
        "    print(r.claim_run('s-1', sys.argv[2], worker='w') is not None)\n"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path), f"{socket.gethostname()}:{os.getpid()}:{i}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    answers = [child.communicate(timeout=60)[0].strip() for child in children]
    assert sorted(answers) == ["False"] * 5 + ["True"]
    with Registry(path) as registry:
        assert registry.run("s-1").attempts == 1
