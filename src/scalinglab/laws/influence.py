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

Parametric fits (Chinchilla's approach 3, Kaplan's ``L(N, D)``) refit as above;
approaches 1 and 2, which fit no law, rerun the whole approach without each candidate
(:func:`influential_rows_by_refit`, tables up to :data:`REFIT_ROWS` runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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

    def to_json_dict(self) -> dict[str, Any]:
        """The ``influence`` summary of ``scalinglab fit --json`` (runs under ``influential``)."""
        last = self.runs[-1]["after"] if self.runs else None
        return {
            "budget_C": self.budget,
            "a": self.a,
            "tokens_per_param": self.tokens_per_param,
            "threshold": {"a": self.threshold_a, "tokens_per_param": self.threshold_tpp},
            "candidates": self.candidates,
            "without_influential": last,
            "rule": "greedy most-influential set; each step's own effect above the threshold",
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
    result = Influence(budget, a0, t0, [], threshold_a, threshold_tpp, len(pool))
    _greedy(result, data, lines, pool[base_w[pool] > 0], refit, choose)
    return result


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
        result.runs.append(_named(data, lines, row, step_a, step_t, a[j], t[j]))
        removed[row] = True
        choose(j)
        previous = (float(a[j]), float(t[j]))


def _named(
    data: Any, lines: np.ndarray, row: int, step_a: float, step_t: float, a: float, t: float
) -> dict[str, Any]:
    return {
        "line": int(lines[row]),
        "N": float(np.asarray(data["N"])[row]),
        "D": float(np.asarray(data["D"])[row]),
        "loss": float(np.asarray(data["loss"])[row]),
        "effect": {"a": float(step_a), "tokens_per_param": float(step_t)},
        "after": {"a": float(a), "tokens_per_param": float(t)},
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
