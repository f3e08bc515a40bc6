"""The run registry (stdlib ``sqlite3`` only): sweeps, runs, evaluations, artifacts."""

from scalinglab.registry.schema import RUN_STATUSES, SCHEMA_VERSION
from scalinglab.registry.store import Registry, RunRecord, config_hash

__all__ = ["RUN_STATUSES", "SCHEMA_VERSION", "Registry", "RunRecord", "config_hash"]
