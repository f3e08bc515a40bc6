"""The run registry: one SQLite file holding sweeps, runs, their evaluations and artifacts.

One process writes it (the sweep driver); workers return their results to the driver.
The file is opened in WAL mode with a busy timeout, so readers (``scalinglab sweep
status``, a report, a notebook) never block the writer and never see half a write.

Runs are keyed by the hash of their configuration within a sweep: adding the same run
twice returns the existing row, which is what makes re-running a sweep idempotent.

>>> import tempfile, os
>>> with Registry(os.path.join(tempfile.mkdtemp(), "runs.db")) as registry:
...     registry.add_sweep("demo", {"kind": "explicit"})
...     run = registry.add_run("demo", "demo-a", {"tokens": 1000})
...     again = registry.add_run("demo", "demo-a", {"tokens": 1000})
...     (run.run_id == again.run_id, run.status, registry.progress("demo"))
('demo-a', 'pending', {'pending': 1})
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.registry.schema import RUN_STATUSES, SCHEMA_VERSION, migrate, transaction

#: Milliseconds a connection waits for another one's write lock before giving up.
BUSY_TIMEOUT_MS = 30_000

#: Columns of one evaluation, in the order of the ``evaluations`` table (after run_id).
EVALUATION_FIELDS: tuple[str, ...] = (
    "step",
    "tokens",
    "flops",
    "flops_6nd",
    "train_loss",
    "val_loss",
    "lr",
    "wall_seconds",
    "tokens_per_second",
    "mfu",
)
FINAL_STATUSES: tuple[str, ...] = ("completed", "diverged", "failed")


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the configuration's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class RunRecord:
    """One row of ``runs``; ``config`` and ``summary`` decoded from JSON; times in Unix
    seconds."""

    run_id: str
    sweep: str
    config: dict[str, Any]
    config_hash: str
    status: str
    attempts: int
    worker: str | None
    started_at: float | None
    ended_at: float | None
    summary: dict[str, Any] | None
    error: str | None
    out_dir: str | None


def _enable_wal(db: sqlite3.Connection) -> None:
    """Switch ``db`` to WAL mode. The switch needs an exclusive lock, and SQLite may answer
    "database is locked" at once, without its busy handler, while another connection is
    opening the same new file (seen in CI with 8 threads opening one file): so retry for
    up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Registry:
    """A connection to a registry file, created and migrated to the current schema on open.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
            )
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _enable_wal(self._db)
            self._db.execute("PRAGMA foreign_keys = ON")
            version = migrate(self._db)
        except sqlite3.DatabaseError as error:
            raise ScalingLabError(
                f"{self.path}: not a usable scalinglab registry ({error}); "
                "point --registry at a registry file or at a new path"
            ) from error
        if version != SCHEMA_VERSION:
            raise ScalingLabError(
                f"{self.path}: registry schema version {version} is newer than this "
                f"scalinglab's {SCHEMA_VERSION}; upgrade scalinglab"
            )
        self._db.row_factory = sqlite3.Row

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @property
    def journal_mode(self) -> str:
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    # sweeps ---------------------------------------------------------------------------

    def add_sweep(self, name: str, design: Mapping[str, Any]) -> None:
        """Create the sweep, or update its stored design (runs are kept)."""
        now = time.time()
        with transaction(self._db):
            self._db.execute(
                "INSERT INTO sweeps (name, design, created_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET design = excluded.design, "
                "updated_at = excluded.updated_at",
                (name, json.dumps(design, sort_keys=True, default=str), now, now),
            )

    def sweeps(self) -> list[str]:
        """Names of all sweeps, oldest first."""
        rows = self._db.execute("SELECT name FROM sweeps ORDER BY created_at, name")
        return [row["name"] for row in rows]

    def sweep_design(self, name: str) -> dict[str, Any]:
        row = self._db.execute("SELECT design FROM sweeps WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ScalingLabError(self._unknown_sweep(name))
        return json.loads(row["design"])

    def _unknown_sweep(self, name: str) -> str:
        known = ", ".join(self.sweeps()) or "none yet"
        return f"no sweep named {name!r} in {self.path} (sweeps: {known})"

    def require_sweep(self, name: str) -> None:
        """Raise :class:`ScalingLabError` naming the known sweeps if ``name`` is unknown."""
        if name not in self.sweeps():
            raise ScalingLabError(self._unknown_sweep(name))

    # runs -----------------------------------------------------------------------------

    def add_run(self, sweep: str, run_id: str, config: Mapping[str, Any]) -> RunRecord:
        """Register a planned run as ``pending``; idempotent by the config's hash.

        If the sweep already holds a run with the same configuration, that run is returned
        unchanged (whatever its status and id).
        """
        digest = config_hash(config)
        try:
            with transaction(self._db):
                self._db.execute(
                    "INSERT INTO runs (run_id, sweep, config, config_hash) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (sweep, config_hash) DO NOTHING",
                    (run_id, sweep, json.dumps(config, sort_keys=True, default=str), digest),
                )
        except sqlite3.IntegrityError as error:
            raise ScalingLabError(
                f"run id {run_id!r} already exists in {self.path} with another "
                "configuration; give the changed design a new sweep name"
            ) from error
        row = self._db.execute(
            "SELECT * FROM runs WHERE sweep = ? AND config_hash = ?", (sweep, digest)
        ).fetchone()
        return _record(row)

    def run(self, run_id: str) -> RunRecord:
        row = self._db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise ScalingLabError(f"no run {run_id!r} in {self.path}")
        return _record(row)

    def runs(self, sweep: str | None = None, status: str | None = None) -> list[RunRecord]:
        """Runs, optionally of one sweep and/or one status, in the order they were added."""
        query, args = "SELECT * FROM runs WHERE 1 = 1", []
        if sweep is not None:
            query += " AND sweep = ?"
            args.append(sweep)
        if status is not None:
            query += " AND status = ?"
            args.append(status)
        return [_record(row) for row in self._db.execute(query + " ORDER BY rowid", args)]

    def progress(self, sweep: str) -> dict[str, int]:
        """Count of runs per status in ``sweep`` (statuses with no runs omitted)."""
        rows = self._db.execute(
            "SELECT status, COUNT(*) AS n FROM runs WHERE sweep = ? GROUP BY status", (sweep,)
        )
        counts = {row["status"]: row["n"] for row in rows}
        return {status: counts[status] for status in RUN_STATUSES if status in counts}

    def mark_running(self, run_id: str, worker: str, out_dir: str | None = None) -> None:
        """A new attempt starts: status ``running``, ``attempts`` + 1, start time now."""
        with transaction(self._db):
            self._db.execute(
                "UPDATE runs SET status = 'running', attempts = attempts + 1, worker = ?, "
                "started_at = ?, ended_at = NULL, error = NULL, "
                "out_dir = COALESCE(?, out_dir) WHERE run_id = ?",
                (worker, time.time(), out_dir, run_id),
            )

    def mark_pending(self, run_id: str, error: str | None = None) -> None:
        """The attempt ended without a result (the worker died); the run waits for a retry."""
        with transaction(self._db):
            self._db.execute(
                "UPDATE runs SET status = 'pending', error = ? WHERE run_id = ?",
                (error, run_id),
            )

    def finish_run(
        self,
        run_id: str,
        status: str,
        *,
        summary: Mapping[str, Any] | None = None,
        evaluations: Iterable[Mapping[str, Any]] = (),
        artifacts: Iterable[tuple[str, str]] = (),
        error: str | None = None,
        worker: str | None = None,
    ) -> None:
        """Record an attempt's outcome (``completed``, ``diverged`` or ``failed``), its
        summary, its evaluations (upserted by step) and its artifacts ``(path, kind)``, in
        one transaction."""
        if status not in FINAL_STATUSES:
            raise ScalingLabError(f"a run ends as one of {', '.join(FINAL_STATUSES)}, not {status}")
        rows = [
            (run_id, *(evaluation.get(name) for name in EVALUATION_FIELDS))
            for evaluation in evaluations
        ]
        with transaction(self._db):
            self._db.execute(
                "UPDATE runs SET status = ?, summary = ?, error = ?, ended_at = ?, "
                "worker = COALESCE(?, worker) WHERE run_id = ?",
                (
                    status,
                    None if summary is None else json.dumps(summary, sort_keys=True, default=str),
                    error,
                    time.time(),
                    worker,
                    run_id,
                ),
            )
            placeholders = ", ".join("?" * (len(EVALUATION_FIELDS) + 1))
            self._db.executemany(
                f"INSERT OR REPLACE INTO evaluations (run_id, {', '.join(EVALUATION_FIELDS)}) "
                f"VALUES ({placeholders})",
                rows,
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO artifacts (run_id, path, kind) VALUES (?, ?, ?)",
                [(run_id, str(path), kind) for path, kind in artifacts],
            )

    def evaluations(self, run_id: str) -> list[dict[str, Any]]:
        """The run's evaluations, by step."""
        rows = self._db.execute(
            f"SELECT {', '.join(EVALUATION_FIELDS)} FROM evaluations WHERE run_id = ? "
            "ORDER BY step",
            (run_id,),
        )
        return [dict(row) for row in rows]

    def artifacts(self, run_id: str) -> list[tuple[str, str]]:
        """``(path, kind)`` of the run's artifacts."""
        rows = self._db.execute(
            "SELECT path, kind FROM artifacts WHERE run_id = ? ORDER BY path", (run_id,)
        )
        return [(row["path"], row["kind"]) for row in rows]


def _record(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        sweep=row["sweep"],
        config=json.loads(row["config"]),
        config_hash=row["config_hash"],
        status=row["status"],
        attempts=row["attempts"],
        worker=row["worker"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        summary=None if row["summary"] is None else json.loads(row["summary"]),
        error=row["error"],
        out_dir=row["out_dir"],
    )
