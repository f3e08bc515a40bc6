"""The run registry (stdlib ``sqlite3`` only): sweeps, runs, attempts, evaluations,
artifacts."""

from scalinglab.registry.schema import RUN_STATUSES, SCHEMA_VERSION
from scalinglab.registry.store import AttemptRecord, Registry, RunRecord, config_hash

__all__ = [
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "AttemptRecord",
    "Registry",
    "RunRecord",
    "config_hash",
]
