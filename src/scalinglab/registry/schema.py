"""The registry's SQLite schema and its migrations, one numbered step per schema version.

The schema version lives in SQLite's ``PRAGMA user_version``. Opening a database applies
every step above its version, in order, each in its own transaction, so a database written
by an older scalinglab is brought up to date in place and never loses rows.

- version 1: ``sweeps``, ``runs`` (without ``out_dir``) and ``evaluations``.
- version 2: ``runs.out_dir`` (the run folder, where its checkpoints live) and the
  ``artifacts`` table (files a run wrote: summary, metrics, checkpoints).
- version 3: the lease of a run (``runs.lease_owner``, ``runs.lease_expires``: which
  driver trains it, until when unless renewed) and the ``attempts`` table (one row per
  attempt with its worker, times, outcome and error, so no attempt's error is lost). The
  step copies each run's last attempt, as far as version 2 knew it, into ``attempts``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

RUN_STATUSES: tuple[str, ...] = ("pending", "running", "completed", "diverged", "failed")

_V1 = """
CREATE TABLE sweeps (
    name TEXT PRIMARY KEY,
    design TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    sweep TEXT NOT NULL REFERENCES sweeps(name),
    config TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'diverged', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    started_at REAL,
    ended_at REAL,
    summary TEXT,
    error TEXT,
    UNIQUE (sweep, config_hash)
);
CREATE INDEX runs_by_sweep ON runs (sweep, status);
CREATE TABLE evaluations (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    step INTEGER NOT NULL,
    tokens REAL,
    flops REAL,
    flops_6nd REAL,
    train_loss REAL,
    val_loss REAL,
    lr REAL,
    wall_seconds REAL,
    tokens_per_second REAL,
    mfu REAL,
    PRIMARY KEY (run_id, step)
);
"""

_V2 = """
ALTER TABLE runs ADD COLUMN out_dir TEXT;
CREATE TABLE artifacts (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (run_id, path)
);
"""

_V3 = """
ALTER TABLE runs ADD COLUMN lease_owner TEXT;
ALTER TABLE runs ADD COLUMN lease_expires REAL;
CREATE TABLE attempts (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    attempt INTEGER NOT NULL,
    driver TEXT,
    worker TEXT,
    started_at REAL,
    ended_at REAL,
    outcome TEXT,
    error TEXT,
    PRIMARY KEY (run_id, attempt)
);
INSERT INTO attempts (run_id, attempt, worker, started_at, ended_at, outcome, error)
    SELECT run_id, attempts, worker, started_at, ended_at,
        CASE WHEN status IN ('completed', 'diverged', 'failed') THEN status END, error
    FROM runs WHERE attempts > 0;
"""

#: Migration steps: ``MIGRATIONS[v]`` takes a database from version ``v - 1`` to ``v``.
MIGRATIONS: dict[int, str] = {1: _V1, 2: _V2, 3: _V3}
SCHEMA_VERSION: int = max(MIGRATIONS)


def schema_version(connection: sqlite3.Connection) -> int:
    """The schema version recorded in the database (0 for a new, empty file)."""
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def migrate(connection: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply every migration step above the database's version up to ``target``.

    Each step and its version bump commit together, so a crash mid-migration leaves the
    database at the previous version; the version is read under the write lock, so two
    processes opening a new file at once migrate it once. Returns the version reached.
    """
    while True:
        with transaction(connection):
            current = schema_version(connection)
            if current >= target:
                break
            version = current + 1
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {version}")
    return schema_version(connection)


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """An explicit write transaction on an autocommit connection (``isolation_level=None``):
    ``BEGIN IMMEDIATE`` takes the write lock up front, so a busy database waits (busy
    timeout) instead of failing half-way."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
