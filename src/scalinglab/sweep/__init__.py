"""Sweeps: designs (IsoFLOP, ladder, WSD, explicit), their TOML files, the driver that
trains them through a local or Ray executor into the registry, and the runs-table export.

>>> from scalinglab.sweep import isoflop_grid
>>> design = isoflop_grid("iso", [1e13, 4e13], sizes_per_budget=5, n_ctx=64)
>>> design.kind, len(design.runs) > 5
('isoflop', True)
"""

from scalinglab.sweep.design import (
    DesignCommon,
    PlannedRun,
    SweepDesign,
    explicit_runs,
    isoflop_grid,
    model_ladder,
    wsd_design,
)
from scalinglab.sweep.designfile import load_design
from scalinglab.sweep.export import export_runs, runs_dataframe
from scalinglab.sweep.runner import SweepResult, run_sweep

__all__ = [
    "DesignCommon",
    "PlannedRun",
    "SweepDesign",
    "SweepResult",
    "explicit_runs",
    "export_runs",
    "isoflop_grid",
    "load_design",
    "model_ladder",
    "run_sweep",
    "runs_dataframe",
    "wsd_design",
]
