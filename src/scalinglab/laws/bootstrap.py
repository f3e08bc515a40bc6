"""Bootstrap: refit on resampled runs or model sizes for intervals on parameters and predictions.

Runs of one model size share that size's error (its architecture, its tuning, its own
deviation from the law), so they are not independent draws. ``by="size"`` resamples
whole model sizes with replacement (a cluster bootstrap; every run of a drawn size comes
with it), ``by="run"`` resamples rows; ``"auto"`` (the default) resamples sizes when some
size has more than one run. Sizes within 5% of each other are one size (tables read off
a figure carry small noise on ``N``).

A resample draws ``n`` rows with replacement; it is the same objective with integer
weights (how often each row was drawn), so all resamples are optimised together as rows
of one batched problem (:mod:`scalinglab.laws.newton`), split across ``n_jobs``
processes. Each resample starts from every distinct local minimum that the full-data
grid search found (its best few), and keeps the lowest: a resample's objective is a
reweighting of the full one, so its minima sit near the full-data minima, and starting
from each of them covers every basin the grid search found at a fraction of the cost.

A prediction interval for a new run adds to each resample's prediction the log
residual of runs that resample left out (out of bag): those runs, sizes under
``by="size"``, played no part in its fit, so their errors include the size-level error
that a new size will have, which in-sample residuals hide.

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
from scalinglab.laws.forms.base import starts_from
from scalinglab.laws.newton import newton_batch
from scalinglab.laws.objectives import HuberObjective

ROWS_PER_WORKER = 4000
BOOTSTRAP_BY = ("auto", "run", "size")
#: Model sizes whose ``N`` differ by at most this (relative) are one size.
SIZE_RTOL = 0.05
#: Out-of-bag residuals drawn per resample for a prediction interval.
RESIDUAL_DRAWS = 20


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval holding ``level`` of ``samples`` (NaNs ignored)."""
    tail = 50.0 * (1.0 - level)
    lo, hi = np.nanpercentile(samples, [tail, 100.0 - tail])
    return float(lo), float(hi)


def size_groups(N: Any, rtol: float = SIZE_RTOL) -> np.ndarray:
    """Size index of each run: sorted ``N`` split wherever neighbours differ by > ``rtol``."""
    values = np.asarray(N, dtype=float)
    order = np.argsort(values, kind="stable")
    new_size = np.concatenate([[0], (np.diff(np.log(values[order])) > np.log1p(rtol))])
    groups = np.empty(len(values), dtype=int)
    groups[order] = np.cumsum(new_size)
    return groups


def resample_groups(by: str, N: Any) -> np.ndarray | None:
    """Group of each run for :func:`resample_counts`: None (each run alone) for ``"run"``,
    model sizes for ``"size"``; ``"auto"`` is ``"size"`` when some size has several runs
    and there are at least 3 sizes."""
    if by not in BOOTSTRAP_BY:
        raise ScalingLabError(
            f"bootstrap by {by!r} is unknown; use one of {', '.join(BOOTSTRAP_BY)}"
        )
    if by == "run":
        return None
    groups = size_groups(N)
    n_sizes = int(groups.max()) + 1 if len(groups) else 0
    if by == "auto":
        return groups if 3 <= n_sizes < len(groups) else None
    if n_sizes < 3:
        raise ScalingLabError(
            f"a bootstrap by size needs at least 3 model sizes, found {n_sizes}; "
            "use --bootstrap-by run"
        )
    return groups


@dataclass
class BootstrapResult:
    """Parameter samples of a law refitted on ``n_resamples`` resampled tables.

    ``counts`` (resamples x runs) says how often each run was drawn; ``X`` and ``log_y``
    are the fitted inputs and log targets, kept for out-of-bag residuals.
    """

    form: type[LawForm]
    samples: np.ndarray
    seed: int
    counts: np.ndarray | None = None
    X: dict[str, np.ndarray] | None = None
    log_y: np.ndarray | None = None
    by: str = "run"

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

    def out_of_bag_residuals(self, draws: int = RESIDUAL_DRAWS, seed: int = 0) -> np.ndarray:
        """``draws`` log residuals ``log observed - log predicted`` per resample
        (``resamples x draws``), each of a run that resample left out (of any run when it
        left none out)."""
        if self.counts is None or self.X is None or self.log_y is None:
            raise ScalingLabError("this bootstrap result keeps no data for residuals")
        rng = np.random.default_rng(seed)
        model = self.form.log_model()
        out = np.empty((self.n_resamples, draws))
        for i, (row, counts) in enumerate(zip(self.samples, self.counts, strict=True)):
            left_out = np.flatnonzero(counts == 0)
            pool = left_out if left_out.size else np.arange(len(counts))
            pick = rng.choice(pool, size=draws)
            theta = model.to_internal(row[None, :])
            X = {name: values[pick] for name, values in self.X.items()}
            out[i] = self.log_y[pick] - model.value(theta, X)[0]
        return out

    def prediction_interval(
        self, level: float = 0.95, *, seed: int = 0, **inputs: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` prediction interval of a new run's measured value at ``inputs``.

        Each resample's prediction times ``exp`` of its out-of-bag residuals (see the
        module docstring); the central ``level`` of the pooled values.
        """
        predictions = np.stack([np.atleast_1d(law.predict(**inputs)) for law in self.laws()])
        residuals = self.out_of_bag_residuals(seed=seed)
        pooled = predictions[:, None, :] * np.exp(residuals)[:, :, None]
        pooled = pooled.reshape(-1, predictions.shape[1])
        tail = 50.0 * (1.0 - level)
        lo, hi = np.nanpercentile(pooled, [tail, 100.0 - tail], axis=0)
        return lo, hi


def resample_counts(
    n_points: int, n_resamples: int, seed: int, groups: np.ndarray | None = None
) -> np.ndarray:
    """How often each row is drawn in each resample (``n_resamples x n_points``).

    With ``groups`` (a group label per row) whole groups are drawn with replacement, as
    many as there are groups, and each row counts as often as its group was drawn.
    """
    rng = np.random.default_rng(seed)
    if groups is None:
        draws = rng.integers(0, n_points, size=(n_resamples, n_points))
        counts = np.zeros((n_resamples, n_points))
        np.add.at(counts, (np.arange(n_resamples)[:, None], draws), 1.0)
        return counts
    _, member = np.unique(groups, return_inverse=True)
    n_groups = int(member.max()) + 1
    draws = rng.integers(0, n_groups, size=(n_resamples, n_groups))
    group_counts = np.zeros((n_resamples, n_groups))
    np.add.at(group_counts, (np.arange(n_resamples)[:, None], draws), 1.0)
    return group_counts[:, member]


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

    model = FORMS[form_name].log_model()
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
    by: str = "run",
) -> BootstrapResult:
    """Refit ``form`` (summed Huber objective) on ``n_resamples`` bootstrap resamples.

    ``by``: ``"run"`` resamples rows, ``"size"`` whole model sizes (column ``N``),
    ``"auto"`` sizes when some size has several runs (see :func:`resample_groups`).

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
        search = multistart(problem, form_cls.default_starts(np.exp(problem.log_y)), delta)
        theta_starts = search.candidates
    else:
        theta_starts = problem.model.to_internal(starts_from(form_cls, starts))
    groups = resample_groups(by, data["N"]) if by != "run" else None
    counts = resample_counts(problem.n_points, n_resamples, seed, groups)
    theta = _run_chunks(
        problem, form_cls.form, counts, theta_starts[:n_starts], delta, max_iter, n_jobs
    )
    natural = problem.model.to_natural(theta)
    used = "run" if groups is None else "size"
    return BootstrapResult(form_cls, natural, seed, counts, problem.X, problem.log_y, used)


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
    groups: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], int]:
    """Apply ``statistic(row_indices)`` to resampled row sets (for non-parametric methods).

    ``groups`` resamples whole groups (see :func:`resample_counts`). Returns samples by
    name and how many resamples failed (a :class:`ScalingLabError`, e.g. an IsoFLOP
    budget without a minimum), which are left out.
    """
    counts = resample_counts(n_points, n_resamples, seed, groups).astype(int)
    rows: dict[str, list[float]] = {}
    failed = 0
    for row_counts in counts:
        index = np.repeat(np.arange(n_points), row_counts)
        try:
            values = statistic(index)
        except ScalingLabError:
            failed += 1
            continue
        for key, value in values.items():
            rows.setdefault(key, []).append(value)
    return {key: np.array(v) for key, v in rows.items()}, failed
