"""Influential runs: which rows, removed, move the fitted headline, and by how much.

The headline of a Chinchilla fit is its allocation: the exponent ``a`` (``N* ∝ C**a``)
and tokens per parameter ``D*/N*`` at the data's largest budget. A robust (Huber) fit
bounds each run's pull, so outliers that sit on one side mask one another: removing
any one of them moves the headline a little, removing them together moves it a lot.
:func:`influential_runs` therefore searches greedily, in the manner of
Broderick et al. 2020's "most influential set": at each step it refits without each
remaining candidate (all candidates at once, as rows of one batched Newton problem
started at the current fit), removes the run whose removal moves the headline furthest
from the full-data fit, and stops when the step's own effect falls below the threshold
(``|Δa| < threshold_a`` and ``|Δ(D*/N*)| < threshold_tpp`` relative) or after
:data:`MAX_INFLUENTIAL` runs. Each named run's ``effect`` is its own step's change;
``after`` is the headline once it and the runs named before it are removed.

Tables of more than :data:`EXACT_ROWS` runs are screened first: a one-step Newton
approximation of every run's leave-one-out effect keeps the :data:`SCREENED` largest as
candidates, so the search stays a few batched fits however long the table.

A Huber fit also hides the runs it down-weights: a run far off the law may move the
headline by less than the threshold because its pull is bounded. Parametric fits
therefore also name their **outliers**, the runs whose log-loss residual has a modified
z-score (``0.6745 (r - median r) / MAD``, Iglewicz and Hoaglin 1993) above
:func:`outlier_cutoff`: :data:`OUTLIER_Z`, the published cutoff of that rule, raised on
long tables to the Bonferroni normal quantile that keeps the chance of naming any run of
a clean Gaussian table near :data:`OUTLIER_ALPHA` (3.5 up to about 100 runs, 3.71 at
245, 5.03 at 100,000). Each named run carries its
``reasons`` (``"headline"``, ``"outlier"`` or both) and its ``residual_z``; an outlier
that does not move the headline on the greedy path gets the effect of removing it alone
from the full-data fit, and no ``after``.

Parametric fits (Chinchilla's approach 3, Kaplan's ``L(N, D)``) refit as above;
approaches 1 and 2, which fit no law, rerun the whole approach without each candidate
(:func:`influential_rows_by_refit`, tables up to :data:`REFIT_ROWS` runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.laws.fitter import FitResult, make_problem
from scalinglab.laws.forms import ChinchillaLaw, KaplanND, LawForm
from scalinglab.laws.newton import newton_batch
from scalinglab.laws.objectives import HuberObjective

THRESHOLD_A = 0.01
THRESHOLD_TPP = 0.05
MAX_INFLUENTIAL = 10
EXACT_ROWS = 2000
SCREENED = 64
REFIT_ROWS = 1000
FLOPS_PER_PARAM_TOKEN = 6.0
OUTLIER_Z = 3.5
OUTLIER_ALPHA = 0.05
MAD_TO_SIGMA = 0.6745


@dataclass
class Influence:
    """The search's result: named runs, the headline with and without them, the rule."""

    budget: float
    a: float
    tokens_per_param: float
    runs: list[dict[str, Any]] = field(default_factory=list)
    threshold_a: float = THRESHOLD_A
    threshold_tpp: float = THRESHOLD_TPP
    candidates: int = 0
    outlier_cutoff: float | None = None

    @property
    def headline_runs(self) -> list[dict[str, Any]]:
        """The runs named because their removal moves the headline, in greedy order."""
        return [run for run in self.runs if "headline" in run["reasons"]]

    @property
    def outliers(self) -> list[dict[str, Any]]:
        """The runs named because their residual is an outlier of the fit."""
        return [run for run in self.runs if "outlier" in run["reasons"]]

    def to_json_dict(self) -> dict[str, Any]:
        """The ``influence`` summary of ``scalinglab fit --json`` (runs under ``influential``)."""
        headline = self.headline_runs
        last = headline[-1]["after"] if headline else None
        outlier_rule = (
            f"|modified z-score of the leave-one-out log-loss residual| > {self.outlier_cutoff:.3g}"
            if self.outlier_cutoff is not None
            else None
        )
        return {
            "budget_C": self.budget,
            "a": self.a,
            "tokens_per_param": self.tokens_per_param,
            "threshold": {"a": self.threshold_a, "tokens_per_param": self.threshold_tpp},
            "candidates": self.candidates,
            "without_influential": last,
            "rule": "greedy most-influential set; each step's own effect above the threshold",
            "outlier_rule": outlier_rule,
            "outliers": [run["line"] for run in self.outliers],
        }


def allocation(params: np.ndarray, budget: float) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``D*/N*`` at ``budget`` FLOPs for Chinchilla parameter rows ``K x 5``.

    Rows hold ``E, A, B, alpha, beta`` (natural); the closed form is Hoffmann et al.'s
    eq. 4 with ``C = 6 N D``.
    """
    _, A, B, alpha, beta = params.T
    total = alpha + beta
    a = beta / total
    G = (alpha * A / (beta * B)) ** (1.0 / total)
    x = budget / FLOPS_PER_PARAM_TOKEN
    return a, x ** (alpha / total - a) / G**2


def kaplan_allocation(params: np.ndarray, budget: float) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``D*/N*`` at ``budget`` for Kaplan ``L(N, D)`` rows ``Nc, Dc, alphaN,
    alphaD`` (``K x 4``): the minimum of ``L(N, C / (6N))``, as ``approaches.kaplan``."""
    Nc, Dc, alphaN, alphaD = params.T
    p = alphaN / alphaD
    a = 1.0 / (p + 1.0)
    n_coef = (p * Nc**p / (FLOPS_PER_PARAM_TOKEN * Dc)) ** a
    n_star = n_coef * budget**a
    return a, budget / (FLOPS_PER_PARAM_TOKEN * n_star**2)


ALLOCATIONS: dict[type[LawForm], Callable[[np.ndarray, float], tuple[np.ndarray, ...]]] = {
    ChinchillaLaw: allocation,
    KaplanND: kaplan_allocation,
}


def influential_runs(
    fit: FitResult,
    data: Any,
    lines: np.ndarray,
    *,
    weights: Any = None,
    threshold_a: float = THRESHOLD_A,
    threshold_tpp: float = THRESHOLD_TPP,
) -> Influence:
    """Search the runs of ``data`` (``N``, ``D``, ``C``, ``loss``) that move ``fit``'s
    allocation (a Chinchilla or Kaplan ``L(N, D)`` fit); ``lines`` gives each row's file
    line (or row index) for the report."""
    form = type(fit.law)
    allocate = ALLOCATIONS[form]
    problem = make_problem(form, data, "loss", weights)
    model = problem.model
    budget = float(np.max(np.asarray(data["C"], dtype=float)))
    state = {"theta": model.to_internal(np.array([list(fit.law.params.values())]))}
    base_w = np.ones(problem.n_points) if problem.weights is None else problem.weights.copy()

    def refit(pool: np.ndarray, removed: np.ndarray) -> tuple[np.ndarray, ...]:
        W = np.tile(np.where(removed, 0.0, base_w), (pool.size, 1))
        W[np.arange(pool.size), pool] = 0.0
        objective = HuberObjective(model, problem.X, problem.log_y, fit.delta, W)
        result = newton_batch(
            objective,
            np.tile(state["theta"], (pool.size, 1)),
            model.lower,
            model.upper,
            curvature="exact",
            ftol=1e-10,
        )
        state["candidates"] = result.theta
        a, t = allocate(model.to_natural(result.theta), budget)
        bad = ~np.isfinite(result.value)
        return np.where(bad, np.nan, a), np.where(bad, np.nan, t)

    def choose(j: int) -> None:
        state["theta"] = state["candidates"][j : j + 1]

    a0, t0 = (float(v[0]) for v in allocate(model.to_natural(state["theta"]), budget))
    pool = _candidates(problem, state["theta"], base_w, fit.delta, budget, allocate)
    cutoff = outlier_cutoff(int((base_w > 0).sum()))
    result = Influence(budget, a0, t0, [], threshold_a, threshold_tpp, len(pool), cutoff)
    z, alone = _outlier_scores(problem, base_w, refit, state)
    outliers = np.flatnonzero(np.abs(z) > cutoff)
    outliers = outliers[np.argsort(-np.abs(z[outliers]))]
    alone = tuple(v[outliers] for v in alone)
    _greedy(result, data, lines, pool[base_w[pool] > 0], refit, choose)
    _add_outliers(result, data, lines, outliers, z, alone)
    return result


def outlier_cutoff(n_runs: int) -> float:
    """The modified z-score above which a run of an ``n_runs`` table is an outlier:
    Iglewicz and Hoaglin's 3.5, or the two-sided Bonferroni normal quantile at
    :data:`OUTLIER_ALPHA` over the table if higher (a fixed cutoff would name about 46
    runs of a clean 100,000-run table)."""
    bonferroni = NormalDist().inv_cdf(1.0 - OUTLIER_ALPHA / (2.0 * max(n_runs, 1)))
    return max(OUTLIER_Z, bonferroni)


def _outlier_scores(
    problem: Any,
    weights: np.ndarray,
    refit: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]],
    state: dict[str, Any],
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Each run's modified z-score of its leave-one-out log residual (the run predicted
    by the fit without it), and each run's own leave-one-out ``a`` and ``D*/N*``.

    Leave-one-out, because a Huber fit with a small ``delta`` passes through some runs
    (median-regression-like), which shrinks the plain residuals' MAD and flags ordinary
    runs. Tables of more than :data:`EXACT_ROWS` runs use the plain residuals, whose
    MAD that handful of exact runs no longer shrinks; their runs get NaN effects.
    """
    rows = np.flatnonzero(weights > 0)
    n = problem.n_points
    z = np.zeros(n)
    effects = (np.full(n, np.nan), np.full(n, np.nan))
    if rows.size > EXACT_ROWS:
        predicted = problem.model.value(state["theta"], problem.X)[0]
        z[rows] = residual_z(problem.log_y[rows], predicted[rows])
        return z, effects
    a, t = refit(rows, np.zeros(n, dtype=bool))
    predicted = problem.model.value(state.pop("candidates"), problem.X)[np.arange(rows.size), rows]
    z[rows] = residual_z(problem.log_y[rows], predicted)
    effects[0][rows], effects[1][rows] = a, t
    return z, effects


def residual_z(log_loss: np.ndarray, log_predicted: np.ndarray) -> np.ndarray:
    """Modified z-score of each run's log-loss residual (Iglewicz and Hoaglin 1993):
    ``0.6745 (r - median r) / MAD``, robust to the outliers it looks for; all zeros
    when the median absolute deviation is 0 (a perfect fit has no outliers)."""
    r = log_loss - log_predicted
    deviation = np.abs(r - np.median(r))
    mad = float(np.median(deviation))
    if mad == 0.0:
        return np.zeros_like(r)
    return MAD_TO_SIGMA * (r - np.median(r)) / mad


def _add_outliers(
    result: Influence,
    data: Any,
    lines: np.ndarray,
    outliers: np.ndarray,
    z: np.ndarray,
    alone: tuple[np.ndarray, ...],
) -> None:
    """Mark the greedy path's outliers and append the others with their own effect."""
    by_line = {run["line"]: run for run in result.runs}
    for run in result.runs:
        run["residual_z"] = float(z[np.flatnonzero(lines == run["line"])[0]])
    for j, row in enumerate(outliers):
        named = by_line.get(int(lines[row]))
        if named is not None:
            named["reasons"].append("outlier")
            continue
        a, t = float(alone[0][j]), float(alone[1][j])
        run = _named(data, lines, int(row), a - result.a, t / result.tokens_per_param - 1)
        run.update(reasons=["outlier"], residual_z=float(z[row]))
        result.runs.append(run)


def influential_rows_by_refit(
    approach: Callable[[Any], Any],
    data: Any,
    lines: np.ndarray,
    *,
    threshold_a: float = THRESHOLD_A,
    threshold_tpp: float = THRESHOLD_TPP,
) -> Influence:
    """The same search for a non-parametric approach (1 or 2): each candidate's removal
    reruns ``approach`` on the other rows (tables up to :data:`REFIT_ROWS` runs; longer
    ones get an empty search with ``candidates`` 0). A removal after which the approach
    fails (a budget loses its minimum) is not a candidate."""
    arrays = {k: np.asarray(data[k], dtype=float) for k in ("N", "D", "C", "loss")}
    budget = float(arrays["C"].max())
    base = approach(arrays)
    a0, t0 = base.a, float(base.tokens_per_param(budget))
    n = len(arrays["loss"])
    pool = np.arange(n) if n <= REFIT_ROWS else np.arange(0)
    result = Influence(budget, a0, t0, [], threshold_a, threshold_tpp, len(pool))

    def refit(pool: np.ndarray, removed: np.ndarray) -> tuple[np.ndarray, ...]:
        a, t = np.full(pool.size, np.nan), np.full(pool.size, np.nan)
        for j, row in enumerate(pool):
            keep = ~removed
            keep[row] = False
            try:
                fitted = approach({k: v[keep] for k, v in arrays.items()})
            except ScalingLabError:
                continue
            a[j], t[j] = fitted.a, float(fitted.tokens_per_param(budget))
        return a, t

    _greedy(result, data, lines, pool, refit, lambda j: None)
    return result


def _greedy(
    result: Influence,
    data: Any,
    lines: np.ndarray,
    pool: np.ndarray,
    refit: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]],
    choose: Callable[[int], None],
) -> None:
    """Remove, one at a time, the candidate whose removal (with those removed before)
    moves the headline furthest from ``result``'s; stop when a step's own effect is
    under both thresholds. ``refit(pool, removed)`` gives each candidate's ``a`` and
    ``D*/N*`` (NaN where the refit failed); ``choose(j)`` keeps candidate ``j``'s state."""
    removed = np.zeros(len(lines), dtype=bool)
    previous = (result.a, result.tokens_per_param)
    for _ in range(MAX_INFLUENTIAL):
        pool = pool[~removed[pool]]
        if pool.size == 0:
            break
        a, t = refit(pool, removed)
        distance = np.maximum(
            np.abs(a - result.a) / result.threshold_a,
            np.abs(t / result.tokens_per_param - 1) / result.threshold_tpp,
        )
        if not np.isfinite(distance).any():
            break
        j = int(np.nanargmax(np.where(np.isfinite(distance), distance, -np.inf)))
        step_a, step_t = a[j] - previous[0], t[j] / previous[1] - 1
        if abs(step_a) < result.threshold_a and abs(step_t) < result.threshold_tpp:
            break
        row = int(pool[j])
        run = _named(data, lines, row, step_a, step_t)
        run["reasons"].append("headline")
        run["after"] = {"a": float(a[j]), "tokens_per_param": float(t[j])}
        result.runs.append(run)
        removed[row] = True
        choose(j)
        previous = (float(a[j]), float(t[j]))


def _named(data: Any, lines: np.ndarray, row: int, step_a: float, step_t: float) -> dict[str, Any]:
    return {
        "line": int(lines[row]),
        "N": float(np.asarray(data["N"])[row]),
        "D": float(np.asarray(data["D"])[row]),
        "loss": float(np.asarray(data["loss"])[row]),
        "effect": {"a": float(step_a), "tokens_per_param": float(step_t)},
        "after": None,
        "reasons": [],
        "residual_z": None,
    }


def _candidates(
    problem: Any,
    theta: np.ndarray,
    w: np.ndarray,
    delta: float,
    budget: float,
    allocate: Callable[[np.ndarray, float], tuple[np.ndarray, ...]],
) -> np.ndarray:
    """Row indices the exact search tries: all rows of a small table, else the
    :data:`SCREENED` rows with the largest one-step Newton estimate of their effect."""
    rows = np.flatnonzero(w > 0)
    if rows.size <= EXACT_ROWS:
        return rows
    model = problem.model
    f, J = model.value_jac(theta, problem.X)
    psi = np.clip(f[0] - problem.log_y, -delta, delta) * w
    _, _, hess = HuberObjective(model, problem.X, problem.log_y, delta, w).value_grad_hess(theta)
    steps = np.linalg.lstsq(hess[0], (psi[:, None] * J[0]).T, rcond=None)[0].T
    gradient = _allocation_gradient(model, theta[0], budget, allocate)
    score = np.abs(steps @ gradient).max(axis=1)
    return rows[np.argsort(-score[rows])[:SCREENED]]


def _allocation_gradient(
    model: Any,
    theta: np.ndarray,
    budget: float,
    allocate: Callable[[np.ndarray, float], tuple[np.ndarray, ...]],
) -> np.ndarray:
    """``p x 2`` central-difference gradient of ``(a / THRESHOLD_A, log tpp /
    THRESHOLD_TPP)`` in internal parameters (the screening's scale)."""
    h = 1e-6
    points = np.concatenate([theta + h * np.eye(len(theta)), theta - h * np.eye(len(theta))])
    a, t = allocate(model.to_natural(points), budget)
    scaled = np.stack([a / THRESHOLD_A, np.log(t) / THRESHOLD_TPP], axis=1)
    half = len(theta)
    return (scaled[:half] - scaled[half:]) / (2 * h)
