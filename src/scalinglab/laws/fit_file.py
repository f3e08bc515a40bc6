"""Fit a runs table file end to end: read and validate it, fit, write plots.

This is what ``scalinglab fit`` does, as one call for notebooks and scripts:

>>> result = fit_file(example="chinchilla", method="approach3")  # doctest: +SKIP
>>> result.report.to_json_dict()["params"]["alpha"]  # doctest: +SKIP
0.3473...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.io import atomic_write_text, dumps_strict
from scalinglab.laws import FitReport, fit_runs
from scalinglab.laws.extrapolation import DECADES
from scalinglab.laws.forms import ChinchillaLaw, KaplanND
from scalinglab.laws.runs_table import (
    RunsTable,
    example_runs_table,
    read_runs_table,
    require_points,
)
from scalinglab.laws.table_filters import (
    TableFilters,
    apply_filters,
    location_numbers,
    repeated_pairs_note,
)
from scalinglab.laws.units import check_units

#: The law each method fits, for the minimum number of runs it needs.
LAW_OF_METHOD = {
    "approach1": ("approach 1 power law N*(C) = G C^a", 2),
    "approach2": ("approach 2 power law N*(C) = G C^a", 2),
    "approach3": ("Chinchilla L(N, D)", len(ChinchillaLaw.parameter_names())),
    "kaplan": ("Kaplan L(N, D)", len(KaplanND.parameter_names())),
}


@dataclass
class FileFit:
    """A fit of one runs table: the table as fitted (after ``filters``), the fit report,
    the plots written, and one note per filter or reduction applied."""

    table: RunsTable
    report: FitReport
    plots: list[Path] = field(default_factory=list)
    filters: list[str] = field(default_factory=list)
    rows_read: int = 0

    def write_json(self, path: str | Path) -> Path:
        """Write :meth:`json_dict` to ``path`` (folders created) and return the path."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, dumps_strict(self.json_dict(), indent=2) + "\n")
        except OSError as error:
            raise ScalingLabError(
                f"cannot write {path} ({error.strerror or error}); choose a writable path"
            ) from error
        return path

    def json_dict(self) -> dict[str, Any]:
        """The report's JSON with where the runs came from (``runs_table``) added."""
        return {
            **self.report.to_json_dict(),
            "runs_table": {
                "source": self.table.source,
                "column_mapping": self.table.column_mapping,
                "derived": self.table.derived,
                "notes": self.table.notes,
                "warnings": self.table.warnings,
                "filters": self.filters,
                "n_rows_read": self.rows_read,
                "n_rows_fitted": len(self.table.df),
            },
        }


def fit_file(
    path: str | Path | None = None,
    *,
    example: str | None = None,
    method: str = "approach3",
    bootstrap: int = 0,
    holdout_largest: int = 0,
    holdout_by: str = "C",
    objective: str = "huber",
    seed: int = 0,
    n_jobs: int = 2,
    plot: str | Path | None = None,
    json_out: str | Path | None = None,
    bootstrap_by: str = "auto",
    filters: TableFilters | None = None,
    delta: float = 1e-3,
    influence: bool = True,
    decades: int = DECADES,
    progress: Callable[[str], None] | None = None,
) -> FileFit:
    """Read ``path`` (or the bundled ``example``), fit it with ``method``, write outputs.

    The fitting options are those of :func:`scalinglab.laws.fit_runs`. ``json_out``
    receives :meth:`FileFit.json_dict`. ``plot`` (a ``.png`` path) receives the frontier
    plot and, when the method gives them, the IsoFLOP and ``N*`` plots go next to it
    (``OUT-isoflop.png``, ``OUT-nstar.png``; see
    :func:`scalinglab.laws.plots.write_fit_plots`). Output paths are checked before the
    fit, so a bad one fails fast.

    Before fitting, the units are checked (:mod:`~scalinglab.laws.units`), ``filters``
    (:class:`~scalinglab.laws.table_filters.TableFilters`) are applied and reported in
    :attr:`FileFit.filters`, and repeated ``(N, D)`` pairs are noted. ``delta`` is the
    Huber threshold; ``influence``, ``decades`` and ``progress`` are as in ``fit_runs``.
    """
    if (path is None) == (example is None):
        raise ScalingLabError("give a runs table file or an example name (--example), exactly one")
    if plot is not None and Path(plot).suffix.lower() != ".png":
        raise ScalingLabError(f"the plot file {plot} must end in .png; e.g. fit.png")
    for output in (plot, json_out):
        if output is not None and Path(output).is_dir():
            raise ScalingLabError(f"{output} is a folder; give a file name in it")
    if progress is not None:
        progress("read the runs table")
    table = read_runs_table(path) if path is not None else example_runs_table(str(example))
    table.warnings += check_units(
        table.df, derived_c="C = 6 N D" in table.derived, source=table.source
    )
    rows_read = len(table.df)
    filtered = apply_filters(table, filters or TableFilters())
    table = filtered.table
    repeated = repeated_pairs_note(table)
    if repeated:
        table.warnings.append(repeated)
    methods = list(LAW_OF_METHOD) if method == "all" else [method]
    for name in methods:
        if name not in LAW_OF_METHOD:
            known = ", ".join([*LAW_OF_METHOD, "all"])
            raise ScalingLabError(f"unknown method {name!r}; use one of: {known}")
        law, n_params = LAW_OF_METHOD[name]
        require_points(table, n_params, law)
    report = fit_runs(
        table.df,
        method=method,
        bootstrap=bootstrap,
        holdout_largest=holdout_largest,
        holdout_by=holdout_by,
        seed=seed,
        objective=objective,
        n_jobs=n_jobs,
        bootstrap_by=bootstrap_by,
        delta=delta,
        weights=filtered.weights,
        lines=location_numbers(table),
        influence=influence,
        decades=decades,
        progress=progress,
    )
    plots: list[Path] = []
    if plot is not None:
        from scalinglab.laws.plots import write_fit_plots

        plots = write_fit_plots(report, table.df, plot)
    result = FileFit(table, report, plots, filtered.notes, rows_read)
    if json_out is not None:
        result.write_json(json_out)
    return result
