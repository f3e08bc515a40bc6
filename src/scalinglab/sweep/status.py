"""Progress of sweeps in a registry: counts per status and each run's latest state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from scalinglab.errors import ScalingLabError
from scalinglab.registry import Registry, RunRecord

#: Where sweeps keep their registry unless told otherwise (``$SCALINGLAB_REGISTRY``).
DEFAULT_REGISTRY = "scalinglab-runs/registry.db"


def default_registry() -> Path:
    """``$SCALINGLAB_REGISTRY``, else ``scalinglab-runs/registry.db`` in the working folder."""
    return Path(os.environ.get("SCALINGLAB_REGISTRY", DEFAULT_REGISTRY))


@dataclass(frozen=True)
class SweepStatus:
    """One sweep: its design kind, planned runs, counts per status, and the runs."""

    name: str
    kind: str
    planned: int
    counts: dict[str, int]
    total_flops: float
    runs: tuple[RunRecord, ...]

    @property
    def done(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("completed", "diverged", "failed"))


def sweep_status(registry_path: str | Path, sweep: str | None = None) -> list[SweepStatus]:
    """Status of ``sweep``, or of every sweep in the registry."""
    path = Path(registry_path)
    if not path.exists():
        raise ScalingLabError(
            f"no registry at {path}; run `scalinglab sweep run FILE --registry {path}` first"
        )
    with Registry(path) as registry:
        names = [sweep] if sweep is not None else registry.sweeps()
        statuses = []
        for name in names:
            registry.require_sweep(name)
            design = registry.sweep_design(name)
            statuses.append(
                SweepStatus(
                    name=name,
                    kind=str(design.get("kind", "")),
                    planned=len(design.get("runs", [])),
                    counts=registry.progress(name),
                    total_flops=float(design.get("total_flops", 0.0)),
                    runs=tuple(registry.runs(name)),
                )
            )
    return statuses
