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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalinglab.laws.fitter import FitResult, make_problem
from scalinglab.laws.forms import ChinchillaLaw
from scalinglab.laws.newton import newton_batch
from scalinglab.laws.objective import HuberObjective

THRESHOLD_A = 0.01
THRESHOLD_TPP = 0.05
MAX_INFLUENTIAL = 10
EXACT_ROWS = 2000
SCREENED = 64
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
    allocation; ``lines`` gives each row's file line (or row index) for the report."""
    problem = make_problem(ChinchillaLaw, data, "loss", weights)
    model = problem.model
    budget = float(np.max(np.asarray(data["C"], dtype=float)))
    theta = model.to_internal(np.array([list(fit.law.params.values())]))
    base_w = np.ones(problem.n_points) if problem.weights is None else problem.weights.copy()
    a0, t0 = (float(v[0]) for v in allocation(model.to_natural(theta), budget))
    pool = _candidates(problem, theta, base_w, fit.delta, budget, threshold_a, threshold_tpp)
    result = Influence(budget, a0, t0, [], threshold_a, threshold_tpp, len(pool))
    w, previous = base_w, (a0, t0)
    for _ in range(MAX_INFLUENTIAL):
        pool = pool[w[pool] > 0]
        if pool.size == 0:
            break
        W = np.tile(w, (pool.size, 1))
        W[np.arange(pool.size), pool] = 0.0
        objective = HuberObjective(model, problem.X, problem.log_y, fit.delta, W)
        refit = newton_batch(
            objective,
            np.tile(theta, (pool.size, 1)),
            model.lower,
            model.upper,
            curvature="exact",
            ftol=1e-10,
        )
        a, t = allocation(model.to_natural(refit.theta), budget)
        total = np.maximum(np.abs(a - a0) / threshold_a, np.abs(t / t0 - 1) / threshold_tpp)
        j = int(np.nanargmax(np.where(np.isfinite(refit.value), total, -np.inf)))
        step_a, step_t = a[j] - previous[0], t[j] / previous[1] - 1
        if abs(step_a) < threshold_a and abs(step_t) < threshold_tpp:
            break
        row = int(pool[j])
        result.runs.append(_named(data, lines, row, step_a, step_t, a[j], t[j]))
        w = w.copy()
        w[row] = 0.0
        theta, previous = refit.theta[j : j + 1], (float(a[j]), float(t[j]))
    return result


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
    threshold_a: float,
    threshold_tpp: float,
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
    gradient = _allocation_gradient(model, theta[0], budget, threshold_a, threshold_tpp)
    score = np.abs(steps @ gradient).max(axis=1)
    return rows[np.argsort(-score[rows])[:SCREENED]]


def _allocation_gradient(
    model: Any, theta: np.ndarray, budget: float, threshold_a: float, threshold_tpp: float
) -> np.ndarray:
    """``p x 2`` central-difference gradient of ``(a / threshold_a, log tpp / threshold_tpp)``
    in internal parameters."""
    h = 1e-6
    points = np.concatenate([theta + h * np.eye(len(theta)), theta - h * np.eye(len(theta))])
    a, t = allocation(model.to_natural(points), budget)
    scaled = np.stack([a / threshold_a, np.log(t) / threshold_tpp], axis=1)
    half = len(theta)
    return (scaled[:half] - scaled[half:]) / (2 * h)
