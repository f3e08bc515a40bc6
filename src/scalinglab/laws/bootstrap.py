"""Bootstrap over runs: refit on resampled rows for intervals on parameters and predictions.

A resample draws ``n`` rows with replacement; it is the same objective with integer
weights (how often each row was drawn), so all resamples are optimised together as rows
of one batched problem (:mod:`scalinglab.laws.newton`), split across ``n_jobs``
processes. Each resample starts from every distinct local minimum that the full-data
grid search found (its best few), and keeps the lowest: a resample's objective is a
reweighting of the full one, so its minima sit near the full-data minima, and starting
from each of them covers every basin the grid search found at a fraction of the cost.

Seeded: the same ``seed`` gives the same resamples and intervals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.laws.fitter import Problem, make_problem, multistart, resolve_form
from scalinglab.laws.forms import LawForm
from scalinglab.laws.newton import newton_batch
from scalinglab.laws.objective import HuberObjective, model_for
from scalinglab.laws.starts import default_starts, starts_from

ROWS_PER_WORKER = 4000


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval holding ``level`` of ``samples`` (NaNs ignored)."""
    tail = 50.0 * (1.0 - level)
    lo, hi = np.nanpercentile(samples, [tail, 100.0 - tail])
    return float(lo), float(hi)


@dataclass
class BootstrapResult:
    """Parameter samples of a law refitted on ``n_resamples`` resampled tables."""

    form: type[LawForm]
    samples: np.ndarray
    seed: int

    @property
    def names(self) -> tuple[str, ...]:
        return self.form.parameter_names()

    @property
    def n_resamples(self) -> int:
        return len(self.samples)

    def laws(self) -> list[LawForm]:
        """One law per resample."""
        return [self.form(*row) for row in self.samples]

    def param_samples(self) -> dict[str, np.ndarray]:
        """Samples by parameter name, plus ``a`` and ``b`` for forms that define them."""
        out = {name: self.samples[:, i] for i, name in enumerate(self.names)}
        if {"alpha", "beta"} <= set(self.names):
            total = out["alpha"] + out["beta"]
            out["a"], out["b"] = out["beta"] / total, out["alpha"] / total
        return out

    def intervals(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Percentile intervals of every parameter (and of ``a``, ``b``)."""
        return {k: percentile_interval(v, level) for k, v in self.param_samples().items()}

    def predict_interval(self, level: float = 0.95, **inputs: Any) -> tuple[np.ndarray, ...]:
        """``(lower, upper)`` percentile band of the law's prediction at ``inputs``."""
        predictions = np.stack([law.predict(**inputs) for law in self.laws()])
        tail = 50.0 * (1.0 - level)
        lo, hi = np.nanpercentile(predictions, [tail, 100.0 - tail], axis=0)
        return lo, hi


def resample_counts(n_points: int, n_resamples: int, seed: int) -> np.ndarray:
    """How often each row is drawn in each resample (``n_resamples x n_points``)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_points, size=(n_resamples, n_points))
    counts = np.zeros((n_resamples, n_points))
    np.add.at(counts, (np.arange(n_resamples)[:, None], draws), 1.0)
    return counts


def _fit_resamples(
    form_name: str,
    X: dict[str, np.ndarray],
    log_y: np.ndarray,
    counts: np.ndarray,
    starts: np.ndarray,
    delta: float,
    max_iter: int,
) -> np.ndarray:
    """Internal parameters of the best start per resample (runs in a worker process)."""
    from scalinglab.laws.forms import FORMS

    model = model_for(FORMS[form_name])
    S = len(starts)
    weights = np.repeat(counts, S, axis=0)
    theta0 = np.tile(starts, (len(counts), 1))
    objective = HuberObjective(model, X, log_y, delta, weights)
    result = newton_batch(
        objective, theta0, model.lower, model.upper, ftol=1e-10, max_iter=max_iter
    )
    values = result.value.reshape(len(counts), S)
    best = np.argmin(np.where(np.isfinite(values), values, np.inf), axis=1)
    return result.theta.reshape(len(counts), S, -1)[np.arange(len(counts)), best]


def bootstrap_law(
    form: str | type[LawForm],
    data: Any,
    n_resamples: int = 1000,
    *,
    seed: int = 0,
    target: str = "loss",
    delta: float = 1e-3,
    n_jobs: int = 2,
    n_starts: int = 4,
    starts: np.ndarray | Mapping[str, float] | None = None,
    max_iter: int = 200,
) -> BootstrapResult:
    """Refit ``form`` (summed Huber objective) on ``n_resamples`` bootstrap resamples.

    Starts: ``starts`` (natural parameters, ``starts x params``; pass a full fit's
    ``FitResult.local_minima`` to skip the search) or else the distinct minima of a
    full-data grid search; at most ``n_starts`` of them. Each resample runs batched
    exact Newton from every start and keeps its lowest objective. ``n_jobs`` worker
    processes share the resamples (1 runs them in this process).
    """
    if n_resamples < 1:
        raise ScalingLabError("the bootstrap needs at least one resample")
    form_cls = resolve_form(form)
    problem = make_problem(form_cls, data, target)
    if starts is None:
        search = multistart(problem, default_starts(form_cls, np.exp(problem.log_y)), delta)
        theta_starts = search.candidates
    else:
        theta_starts = problem.model.to_internal(starts_from(form_cls, starts))
    counts = resample_counts(problem.n_points, n_resamples, seed)
    theta = _run_chunks(
        problem, form_cls.form, counts, theta_starts[:n_starts], delta, max_iter, n_jobs
    )
    return BootstrapResult(form_cls, problem.model.to_natural(theta), seed)


def _run_chunks(
    problem: Problem,
    form_name: str,
    counts: np.ndarray,
    starts: np.ndarray,
    delta: float,
    max_iter: int,
    n_jobs: int,
) -> np.ndarray:
    # A worker pays for its start-up (about a second on a busy machine); give each at
    # least ROWS_PER_WORKER resample x start rows, else run in this process.
    workers = min(n_jobs, len(counts) * len(starts) // ROWS_PER_WORKER)
    chunks = np.array_split(counts, max(1, workers))
    args = [(form_name, problem.X, problem.log_y, c, starts, delta, max_iter) for c in chunks]
    if len(chunks) == 1:
        return _fit_resamples(*args[0])
    with ProcessPoolExecutor(max_workers=len(chunks)) as pool:
        parts = list(pool.map(_fit_resamples, *zip(*args, strict=True)))
    return np.concatenate(parts)


def bootstrap_statistic(
    statistic: Callable[[np.ndarray], dict[str, float]],
    n_points: int,
    n_resamples: int,
    *,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], int]:
    """Apply ``statistic(row_indices)`` to resampled row sets (for non-parametric methods).

    Returns samples by name and how many resamples failed (a :class:`ScalingLabError`,
    e.g. an IsoFLOP budget without a minimum), which are left out.
    """
    rng = np.random.default_rng(seed)
    rows: dict[str, list[float]] = {}
    failed = 0
    for _ in range(n_resamples):
        index = rng.integers(0, n_points, size=n_points)
        try:
            values = statistic(index)
        except ScalingLabError:
            failed += 1
            continue
        for key, value in values.items():
            rows.setdefault(key, []).append(value)
    return {key: np.array(v) for key, v in rows.items()}, failed
