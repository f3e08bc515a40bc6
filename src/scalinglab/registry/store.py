"""The run registry: one SQLite file holding sweeps, runs, their attempts, evaluations
and artifacts.

Sweep drivers write it; workers return their results to their driver. The file is opened
in WAL mode with a busy timeout, so readers (``scalinglab sweep status``, a report, a
notebook) never block a writer and never see half a write.

Several drivers may work on one registry at once: a driver trains a run only after
claiming it (:meth:`Registry.claim_run`), which takes the run's *lease* in one write
transaction. A lease names its driver (``host:pid:token``) and expires unless renewed
(:meth:`Registry.renew_leases`, a heartbeat); a run leased by a live driver cannot be
claimed by another, so no run is ever trained twice at once. A lease whose driver is
gone (its expiry passed, or its process no longer exists on this machine) is free.

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
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.processes import process_alive
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
#: Statuses a driver may claim: never started, interrupted, or failed in an earlier sweep.
CLAIMABLE_STATUSES: tuple[str, ...] = ("pending", "running", "failed")
#: Seconds a lease lasts unless its driver renews it.
LEASE_SECONDS = 60.0


def new_lease_owner() -> str:
    """A driver's identity in leases: ``host:pid:token`` (the token tells apart two
    drivers that one process runs one after the other)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_owner_alive(owner: str) -> bool:
    """Whether the driver ``owner`` may still be alive: on this machine, whether its
    process exists; on another machine, assumed (its lease's expiry decides)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    return process_alive(int(pid))


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
    lease_owner: str | None = None
    lease_expires: float | None = None


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt at a run: the driver that claimed it, the worker that trained it, its
    times (Unix seconds), its outcome (``None`` while it runs or when it was lost with
    its driver) and its error."""

    run_id: str
    attempt: int
    driver: str | None
    worker: str | None
    started_at: float | None
    ended_at: float | None
    outcome: str | None
    error: str | None


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

    def claim_run(
        self,
        run_id: str,
        owner: str,
        *,
        worker: str,
        out_dir: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
    ) -> RunRecord | None:
        """Start a new attempt of ``run_id`` for the driver ``owner``, or return ``None``
        when the run is finished or leased by another live driver.

        In one write transaction: the run must be claimable (pending, running or failed)
        and its lease free (none, expired, its driver gone, or ``owner``'s own); it then
        becomes ``running`` with ``attempts`` + 1, leased to ``owner`` for
        ``lease_seconds``, and its attempt gets a row in ``attempts``."""
        now = time.time()
        with transaction(self._db):
            row = self._db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise ScalingLabError(f"no run {run_id!r} in {self.path}")
            if row["status"] not in CLAIMABLE_STATUSES or not _lease_free(row, owner, now):
                return None
            self._db.execute(
                "UPDATE runs SET status = 'running', attempts = attempts + 1, worker = ?, "
                "started_at = ?, ended_at = NULL, lease_owner = ?, lease_expires = ?, "
                "out_dir = COALESCE(?, out_dir) WHERE run_id = ?",
                (worker, now, owner, now + lease_seconds, out_dir, run_id),
            )
            self._db.execute(
                "INSERT OR REPLACE INTO attempts (run_id, attempt, driver, worker, started_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (run_id, row["attempts"] + 1, owner, worker, now),
            )
        return self.run(run_id)

    def renew_leases(self, owner: str, lease_seconds: float = LEASE_SECONDS) -> int:
        """The heartbeat of driver ``owner``: extend every lease it holds; their count."""
        with transaction(self._db):
            cursor = self._db.execute(
                "UPDATE runs SET lease_expires = ? WHERE lease_owner = ?",
                (time.time() + lease_seconds, owner),
            )
        return cursor.rowcount

    def release_leases(self, owner: str) -> None:
        """Driver ``owner`` stops: its runs not yet finished wait as ``pending`` for any
        driver, and their open attempts end without an outcome."""
        with transaction(self._db):
            self._db.execute(
                "UPDATE attempts SET ended_at = ? WHERE driver = ? AND ended_at IS NULL",
                (time.time(), owner),
            )
            self._db.execute(
                "UPDATE runs SET status = CASE WHEN status = 'running' THEN 'pending' "
                "ELSE status END, lease_owner = NULL, lease_expires = NULL "
                "WHERE lease_owner = ?",
                (owner,),
            )

    def mark_pending(self, run_id: str, error: str | None = None) -> None:
        """The attempt failed without a final result; the run waits for a retry by the
        driver that holds its lease. The attempt's error stays in ``attempts``."""
        with transaction(self._db):
            self._db.execute(
                "UPDATE runs SET status = 'pending', error = ? WHERE run_id = ?",
                (error, run_id),
            )
            self._end_attempt(run_id, "failed", error, None)

    def _end_attempt(
        self, run_id: str, outcome: str, error: str | None, worker: str | None
    ) -> None:
        self._db.execute(
            "UPDATE attempts SET ended_at = ?, outcome = ?, error = ?, "
            "worker = COALESCE(?, worker) WHERE run_id = ? AND attempt = "
            "(SELECT attempts FROM runs WHERE run_id = ?)",
            (time.time(), outcome, error, worker, run_id, run_id),
        )

    def attempts(self, run_id: str) -> list[AttemptRecord]:
        """Every attempt at ``run_id``, first to last."""
        rows = self._db.execute(
            "SELECT * FROM attempts WHERE run_id = ? ORDER BY attempt", (run_id,)
        )
        return [AttemptRecord(**dict(row)) for row in rows]

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
        one transaction; the run's lease is released."""
        if status not in FINAL_STATUSES:
            raise ScalingLabError(f"a run ends as one of {', '.join(FINAL_STATUSES)}, not {status}")
        rows = [
            (run_id, *(evaluation.get(name) for name in EVALUATION_FIELDS))
            for evaluation in evaluations
        ]
        with transaction(self._db):
            self._db.execute(
                "UPDATE runs SET status = ?, summary = ?, error = ?, ended_at = ?, "
                "worker = COALESCE(?, worker), lease_owner = NULL, lease_expires = NULL "
                "WHERE run_id = ?",
                (
                    status,
                    None if summary is None else json.dumps(summary, sort_keys=True, default=str),
                    error,
                    time.time(),
                    worker,
                    run_id,
                ),
            )
            self._end_attempt(run_id, status, error, worker)
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
        lease_owner=row["lease_owner"],
        lease_expires=row["lease_expires"],
    )


def _lease_free(row: sqlite3.Row, owner: str, now: float) -> bool:
    """Whether the run of ``row`` may be claimed by ``owner`` at time ``now``."""
    holder = row["lease_owner"]
    if holder is None or holder == owner:
        return True
    return (
        row["lease_expires"] is None
        or row["lease_expires"] < now
        or not (lease_owner_alive(holder))
    )
