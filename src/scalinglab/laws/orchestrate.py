"""Orchestrates a fit of a runs table: ``fit_runs``, the one call behind ``scalinglab fit``,
and its JSON-ready :class:`FitReport` (not the HTML report of :mod:`scalinglab.report`).

>>> import pandas as pd
>>> from scalinglab.laws import fit_runs
>>> table = pd.read_csv("tests/data/chinchilla_epoch_2024.csv")  # doctest: +SKIP
>>> fit_runs(table, method="approach3").to_json_dict()["params"]["alpha"]  # doctest: +SKIP
0.347...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.laws.approaches import (
    ApproachResult,
    approach1,
    approach2,
    approach3,
    kaplan,
    kaplan_allocation,
)
from scalinglab.laws.bootstrap import (
    BootstrapResult,
    bootstrap_law,
    bootstrap_statistic,
    percentile_interval,
    resample_groups,
)
from scalinglab.laws.compare import Comparison, compare_methods
from scalinglab.laws.crossval import FormSelection, select_form
from scalinglab.laws.design_checks import check_design, check_holdout_design, variables_of
from scalinglab.laws.extrapolation import DECADES, allocation_rows, extrapolation_warnings
from scalinglab.laws.forms import ChinchillaLaw, KaplanND
from scalinglab.laws.holdout import HOLDOUT_RESAMPLES, holdout_fit, holdout_frontier, holdout_mask
from scalinglab.laws.influence import Influence, influential_rows_by_refit, influential_runs

METHODS = ("approach1", "approach2", "approach3", "kaplan")
CI_LEVEL = 0.95
_FORM_NAMES = {
    "approach1": "envelope_power_laws",
    "approach2": "isoflop_power_laws",
    "approach3": ChinchillaLaw.form,
    "kaplan": KaplanND.form,
}


@dataclass
class MethodReport:
    """One method's result with its bootstrap samples and held-out scores."""

    result: ApproachResult | None
    error: str | None = None
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    failed_resamples: int = 0
    holdout: list[dict[str, Any]] = field(default_factory=list)
    holdout_error: str | None = None
    influence: Influence | None = None
    checks: list[str] = field(default_factory=list)
    allocation: list[dict[str, Any]] = field(default_factory=list)

    def intervals(self, level: float = CI_LEVEL) -> dict[str, tuple[float, float]]:
        return {k: percentile_interval(v, level) for k, v in self.samples.items() if v.size}


@dataclass
class FitReport:
    """What ``fit_runs`` found: one :class:`MethodReport` per method that was run."""

    method: str
    n_points: int
    objective: str
    methods: dict[str, MethodReport]
    bootstrap: int = 0
    bootstrap_by: str = "run"
    comparison: Comparison | None = None
    form_selection: FormSelection | None = None

    @property
    def results(self) -> dict[str, ApproachResult]:
        """The approach results of the methods that succeeded."""
        return {k: m.result for k, m in self.methods.items() if m.result is not None}

    def _method_json(self, name: str) -> dict[str, Any]:
        report = self.methods[name]
        if report.result is None:
            return {"method": name, "error": report.error}
        result = report.result
        fit = result.fit
        warnings = list(fit.warnings) if fit else []
        for fit_name, other in list(result.fits.items())[1:]:
            warnings += [f"{fit_name}: {w}" for w in other.warnings]
        warnings += [
            f"budget C={d['C']:.3g} skipped: {d['skipped']}"
            for d in result.details
            if "skipped" in d
        ]
        if report.holdout_error:
            warnings.append(f"no hold-out: {report.holdout_error}")
        warnings += report.checks
        if report.failed_resamples:
            warnings.append(
                f"{report.failed_resamples} bootstrap resamples failed and were left out"
            )
        out: dict[str, Any] = {
            "method": name,
            "form": _FORM_NAMES[name],
            "params": result.params,
            "a": result.a,
            "b": result.b,
            "ci": {k: list(v) for k, v in report.intervals().items()},
            "ci_level": CI_LEVEL,
            "n_points": self.n_points,
            "objective": self.objective if result.fits else "least_squares",
            "converged": all(f.converged for f in result.fits.values()),
            "warnings": warnings,
        }
        if self.bootstrap > 0:
            out["bootstrap_by"] = self.bootstrap_by
            out["bootstrap_params"] = {k: v.tolist() for k, v in report.samples.items()}
        out["holdout"] = report.holdout
        out["allocation"] = report.allocation
        if report.influence is not None:
            out["influential"] = report.influence.runs
            out["influence"] = report.influence.to_json_dict()
        return out

    def to_json_dict(self) -> dict[str, Any]:
        """The ``scalinglab fit --json`` document (see docs/fitting.md for the schema)."""
        if self.method != "all":
            return self._method_json(self.method)
        return {
            "method": "all",
            "fits": {name: self._method_json(name) for name in self.methods},
            "n_points": self.n_points,
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
            "form_selection": (
                None if self.form_selection is None else self.form_selection.to_dict()
            ),
        }


def _table_arrays(table: Any) -> dict[str, np.ndarray]:
    try:
        return {k: np.asarray(table[k], dtype=float) for k in ("N", "D", "C", "loss")}
    except KeyError as missing:
        raise ScalingLabError(
            f"the runs table lacks column {missing}; fit_runs needs N, D, C and loss"
        ) from missing


def _bootstrap_samples(
    method: str,
    result: ApproachResult,
    arrays: dict[str, np.ndarray],
    k: int,
    seed: int,
    n_jobs: int,
    delta: float,
    by: str,
) -> tuple[dict[str, np.ndarray], int]:
    if method in ("approach3", "kaplan"):
        form = ChinchillaLaw if method == "approach3" else KaplanND
        boot: BootstrapResult = bootstrap_law(
            form, arrays, k, seed=seed, n_jobs=n_jobs, delta=delta, by=by
        )
        samples = boot.param_samples()
        if method == "kaplan":
            alloc = np.array([kaplan_allocation(law) for law in boot.laws()])  # type: ignore[arg-type]
            samples.update(a=alloc[:, 0], b=alloc[:, 1])
        return samples, 0
    approach = approach1 if method == "approach1" else approach2

    def statistic(index: np.ndarray) -> dict[str, float]:
        res = approach({name: v[index] for name, v in arrays.items()})
        return {"n_coef": res.n_coef, "a": res.a, "d_coef": res.d_coef, "b": res.b}

    groups = resample_groups(by, arrays["N"])
    return bootstrap_statistic(statistic, len(arrays["loss"]), k, seed=seed, groups=groups)


def fit_runs(
    table: Any,
    *,
    method: str = "approach3",
    bootstrap: int = 0,
    holdout_largest: int = 0,
    holdout_by: str = "C",
    seed: int = 0,
    objective: str = "huber",
    n_jobs: int = 2,
    delta: float = 1e-3,
    bootstrap_by: str = "auto",
    weights: Any = None,
    lines: Any = None,
    influence: bool = True,
    decades: int = DECADES,
    progress: Callable[[str], None] | None = None,
) -> FitReport:
    """Fit a runs table (columns ``N``, ``D``, ``C``, ``loss``) by one method or all.

    ``method``: approach1 | approach2 | approach3 | kaplan | all. ``bootstrap``: number
    of resamples for 95% percentile intervals (0 for none), of whole model sizes or of
    runs (``bootstrap_by``: size | run | auto, sizes when some size has several runs; see
    :mod:`scalinglab.laws.bootstrap`). ``holdout_largest``: hold out that many largest
    runs (``holdout_by="C"``) or model sizes (``"N"``), fit on the rest and score each
    method by its own prediction with a 95% prediction interval (see
    :mod:`scalinglab.laws.holdout`; ``bootstrap`` resamples, or 200 when it is 0).
    ``method="all"`` adds a side-by-side :class:`Comparison` of the allocations, which
    warns when approaches disagree, and a :class:`FormSelection` of the parametric form.

    Before any fit, every column a method reads (N, D, C) must take 3 or more distinct
    values, also in what a hold-out leaves (:mod:`~scalinglab.laws.design_checks`).
    ``weights``: one weight per run for approach 3's Huber fit. ``influence``: search
    each method's influential runs (:mod:`~scalinglab.laws.influence`), named by ``lines``
    (file lines; default the 0-based row index). ``decades``: how far past the largest
    budget the ``allocation`` rows go. ``progress(stage)`` is called as each stage starts.
    """
    if method != "all" and method not in METHODS:
        raise ScalingLabError(f"unknown method {method!r}; use one of {', '.join(METHODS)}, all")
    if bootstrap < 0 or holdout_largest < 0:
        raise ScalingLabError("bootstrap and holdout_largest must be >= 0")
    if weights is not None and (bootstrap or holdout_largest):
        raise ScalingLabError(
            "per-run weights are not combined with --bootstrap or --holdout-largest yet; "
            "fit with weights alone, or filter the runs (--exclude-lines, --max-loss) instead"
        )
    arrays = _table_arrays(table)
    used_by = "run"
    if bootstrap or holdout_largest:  # a choice that cannot be made fails before any fit
        used_by = "run" if resample_groups(bootstrap_by, arrays["N"]) is None else "size"
    names = METHODS if method == "all" else (method,)
    check_design(arrays, variables_of(names))
    if holdout_largest:
        mask = holdout_mask(arrays, holdout_largest, holdout_by)  # bad options fail first
        check_holdout_design(arrays, mask, ("N", "D"), holdout_largest, holdout_by)
    extras = {
        "weights": weights,
        "lines": np.arange(len(arrays["loss"])) if lines is None else np.asarray(lines),
        "influence": influence,
        "decades": decades,
        "progress": progress or (lambda stage: None),
    }
    reports: dict[str, MethodReport] = {}
    for name in names:
        try:
            reports[name] = _run_method(
                name,
                arrays,
                bootstrap,
                holdout_largest,
                holdout_by,
                seed,
                objective,
                n_jobs,
                delta,
                bootstrap_by,
                **extras,
            )
        except ScalingLabError as error:
            if method != "all":
                raise
            reports[name] = MethodReport(None, error=str(error))
    report = FitReport(method, len(arrays["loss"]), objective, reports, bootstrap, used_by)
    if method == "all":
        _compare(report, arrays, objective, delta)
    return report


def _compare(
    report: FitReport, arrays: dict[str, np.ndarray], objective: str, delta: float
) -> None:
    """Add the form selection and the side-by-side comparison to a ``method="all"`` report."""
    fits = {r.fit.law.form: r.fit for r in report.results.values() if r.fit is not None}
    try:
        report.form_selection = select_form(arrays, fits, objective=objective, delta=delta)
    except ScalingLabError:
        report.form_selection = None
    chosen = None if report.form_selection is None else report.form_selection.chosen
    if report.results:
        report.comparison = compare_methods(report.results, float(arrays["C"].max()), chosen)


def _influence(
    name: str,
    result: ApproachResult,
    arrays: dict[str, np.ndarray],
    lines: np.ndarray,
    weights: Any,
) -> Influence:
    """The influential-runs search of one method (see :mod:`scalinglab.laws.influence`)."""
    if name in ("approach1", "approach2"):
        approach = approach1 if name == "approach1" else approach2
        return influential_rows_by_refit(approach, arrays, lines)
    fit = result.fit
    assert fit is not None  # approach 3 and Kaplan always carry their L(N, D) fit
    return influential_runs(fit, arrays, lines, weights=weights if name == "approach3" else None)


def _run_method(
    name: str,
    arrays: dict[str, np.ndarray],
    bootstrap: int,
    holdout_largest: int,
    holdout_by: str,
    seed: int,
    objective: str,
    n_jobs: int,
    delta: float,
    bootstrap_by: str,
    *,
    weights: Any,
    lines: np.ndarray,
    influence: bool,
    decades: int,
    progress: Callable[[str], None],
) -> MethodReport:
    progress(f"{name}: fit")
    if name == "approach3":
        result = approach3(arrays, objective=objective, delta=delta, weights=weights)
    elif name == "kaplan":
        result = kaplan(arrays, objective=objective, delta=delta)
    else:
        result = approach1(arrays) if name == "approach1" else approach2(arrays)
    report = MethodReport(result)
    report.checks = extrapolation_warnings(result, arrays)
    if weights is not None and name != "approach3":
        report.checks.append("per-run weights are used by approach 3 only; this fit used none")
    report.allocation = allocation_rows(result, arrays["C"], decades)
    if influence:
        progress(f"{name}: influential runs")
        report.influence = _influence(name, result, arrays, lines, weights)
    if bootstrap:
        progress(f"{name}: bootstrap")
        report.samples, report.failed_resamples = _bootstrap_samples(
            name, result, arrays, bootstrap, seed, n_jobs, delta, bootstrap_by
        )
    if holdout_largest:
        progress(f"{name}: hold-out")
        resamples = bootstrap or HOLDOUT_RESAMPLES
        if name in ("approach1", "approach2"):
            try:
                report.holdout = holdout_frontier(
                    arrays,
                    holdout_largest,
                    method=name,
                    by=holdout_by,
                    bootstrap=resamples,
                    seed=seed,
                )
            except ScalingLabError as error:
                report.holdout_error = str(error)
        else:
            report.holdout = holdout_fit(
                arrays,
                holdout_largest,
                by=holdout_by,
                form=KaplanND if name == "kaplan" else ChinchillaLaw,
                objective=objective,
                delta=delta,
                bootstrap=resamples,
                bootstrap_by=bootstrap_by,
                seed=seed,
                n_jobs=n_jobs,
            )
    return report
