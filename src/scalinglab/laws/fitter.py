"""Fit a law form to data: many starts optimised together, the best polished, diagnosed.

:func:`fit_law` is the one entry point. The default objective is the summed Huber loss
(``delta`` 1e-3) of log residuals, as Hoffmann et al. 2022; ``"huber_likelihood"`` is
the Huber log-likelihood with a learned scale of Besiroglu et al. 2024. The search:

1. every start of the grid (each form's ``default_starts``) runs batched trust-region
   Gauss-Newton with Huber (IRLS) weights until its relative gain per step is < 1e-3;
2. the end points are clustered (internal parameters rounded to 0.01): starts in one
   cluster share a basin; clusters whose objective is within 2x of the best continue
   with batched exact Newton (quadratic convergence) to a relative gain < 1e-10;
3. the best ``n_polish`` distinct minima are polished by scipy's L-BFGS-B with
   analytic gradients; the lowest objective wins.

``n_starts_in_best_basin`` counts the starts whose cluster ends within a relative 1e-6 of
the best objective: a lower bound, as only the clusters of stage 2 are refined.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize

from scalinglab.errors import ScalingLabError
from scalinglab.laws.forms import FORMS, LawForm
from scalinglab.laws.forms.base import starts_from
from scalinglab.laws.forms.chinchilla import CHINCHILLA_PUBLISHED
from scalinglab.laws.log_model import LogModel
from scalinglab.laws.newton import newton_batch
from scalinglab.laws.objectives import HuberLikelihood, HuberObjective

OBJECTIVES = ("huber", "huber_likelihood")
BASIN_RTOL = 1e-6
COARSE_RTOL = 1e-3
FLAT_STEP = 0.1
FLAT_RISE = 1e-3
MAX_REFINED = 256
#: A polish counts as an improvement only below ``(1 - POLISH_RTOL)`` x Newton's value:
#: recomputing the objective at the same point differs in the last bits.
POLISH_RTOL = 1e-12
#: Tables longer than this search the start grid on a seeded random subsample of this
#: many rows, then refine the subsample's distinct minima on every row (see fit_law).
SEARCH_ROWS = 4000


@dataclass(frozen=True)
class ResidualStats:
    """Statistics of the log residuals ``log predicted - log observed`` (natural log)."""

    n: int
    mean: float
    std: float
    rmse: float
    max_abs: float

    @classmethod
    def of(cls, residuals: np.ndarray) -> ResidualStats:
        r = np.asarray(residuals, dtype=float)
        return cls(
            n=int(r.size),
            mean=float(r.mean()),
            std=float(r.std()),
            rmse=float(np.sqrt(np.mean(r * r))),
            max_abs=float(np.abs(r).max()),
        )


@dataclass
class FitResult:
    """Outcome of :func:`fit_law`, in the style of ``scipy.optimize.OptimizeResult``.

    ``value`` is the objective at ``law`` (summed Huber loss, or the negative
    log-likelihood for ``huber_likelihood``, whose learned scale is ``scale``).
    ``local_minima`` holds the distinct minima of the Huber objective the search found,
    best first, as natural parameters (``minima x params``); the bootstrap starts there.
    ``n_starts_in_best_basin`` is a lower bound on the starts that reach the best basin
    (only clusters within 2x of the best after the coarse stage are refined).
    """

    law: LawForm
    objective: str
    value: float
    converged: bool
    message: str
    n_starts: int
    n_starts_in_best_basin: int
    residuals: ResidualStats
    warnings: list[str] = field(default_factory=list)
    delta: float = 1e-3
    scale: float | None = None
    local_minima: np.ndarray | None = None

    @property
    def params(self) -> dict[str, float]:
        """The fitted parameters by name."""
        return self.law.params

    def predict(self, **inputs: Any) -> np.ndarray:
        """The fitted law's prediction (see the form's ``predict``)."""
        return self.law.predict(**inputs)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of the result."""
        return {
            **self.law.to_dict(),
            "objective": self.objective,
            "value": self.value,
            "delta": self.delta,
            "scale": self.scale,
            "converged": self.converged,
            "message": self.message,
            "n_starts": self.n_starts,
            "n_starts_in_best_basin": self.n_starts_in_best_basin,
            "residuals": vars(self.residuals).copy(),
            "warnings": list(self.warnings),
        }


@dataclass
class Problem:
    """A form's model, prepared inputs, log targets and point weights (internal use)."""

    model: LogModel
    X: dict[str, np.ndarray]
    log_y: np.ndarray
    n_points: int
    weights: np.ndarray | None = None

    def subset(self, rows: np.ndarray) -> Problem:
        """The same problem on the points ``rows`` only."""
        X = {name: values[rows] for name, values in self.X.items()}
        weights = None if self.weights is None else self.weights[rows]
        return Problem(self.model, X, self.log_y[rows], len(rows), weights)

    def huber(self, delta: float, weights: np.ndarray | None = None) -> HuberObjective:
        """The summed Huber objective; ``weights`` default to the problem's point weights."""
        chosen = self.weights if weights is None else weights
        return HuberObjective(self.model, self.X, self.log_y, delta, chosen)


def resolve_form(form: str | type[LawForm]) -> type[LawForm]:
    """The form class for a name such as ``"chinchilla"`` (or the class itself)."""
    if isinstance(form, str):
        if form not in FORMS:
            raise ScalingLabError(f"unknown law form {form!r}; use one of: {', '.join(FORMS)}")
        return FORMS[form]
    return form


def make_problem(
    form: type[LawForm], data: Any, target: str = "loss", weights: Any = None
) -> Problem:
    """Validate ``data`` (DataFrame or dict of arrays) and ``weights`` for ``form``."""
    columns = (*form.inputs, target)
    arrays: dict[str, np.ndarray] = {}
    for name in columns:
        try:
            column = data[name]
        except (KeyError, IndexError) as missing:
            raise ScalingLabError(
                f"fitting form {form.form!r} needs a column {name!r}; "
                f"give columns {', '.join(columns)}"
            ) from missing
        values = np.asarray(column, dtype=float).ravel()
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise ScalingLabError(
                f"column {name!r} must hold finite positive numbers to fit form {form.form!r}"
            )
        arrays[name] = values
    n = len(arrays[target])
    if any(len(v) != n for v in arrays.values()):
        raise ScalingLabError("all columns must have the same length")
    p = len(form.parameter_names())
    if n < p:
        raise ScalingLabError(
            f"form {form.form!r} has {p} parameters but only {n} points were given; "
            f"give at least {p} points"
        )
    model = form.log_model()
    return Problem(model, model.prepare(arrays), np.log(arrays[target]), n, _weights(weights, n))


def _weights(weights: Any, n: int) -> np.ndarray | None:
    """Point weights as a float array of length ``n`` (finite, >= 0, not all 0), or None."""
    if weights is None:
        return None
    values = np.asarray(weights, dtype=float).ravel()
    if len(values) != n:
        raise ScalingLabError(
            f"{len(values)} weights were given for {n} points; give one per point"
        )
    if not np.all(np.isfinite(values)) or np.any(values < 0) or not np.any(values > 0):
        raise ScalingLabError("weights must be finite, >= 0 and not all 0")
    return values


def fit_law(
    form: str | type[LawForm],
    data: Any,
    *,
    target: str = "loss",
    objective: str = "huber",
    delta: float = 1e-3,
    starts: str | Mapping[str, float] | LawForm | np.ndarray | Sequence | None = None,
    max_iter: int = 200,
    tol: float = 1e-10,
    n_polish: int = 5,
    weights: Any = None,
) -> FitResult:
    """Fit ``form`` (a name in ``FORMS`` or a form class) to ``data``.

    ``data``: a pandas DataFrame or a dict of arrays with the form's ``inputs`` columns
    and ``target`` (loss in nats/token by default). ``starts``: ``None`` (the form's
    default grid), ``"chinchilla"`` (Hoffmann et al.'s published fit, one start), a dict
    or law (one start) or an array ``starts x params`` of natural parameters.
    ``max_iter`` caps the iterations of each batched stage; ``tol`` is the relative
    objective change at which the final stage stops. ``weights``: one non-negative
    weight per point multiplying its Huber term (``None``: all 1).

    A table of more than :data:`SEARCH_ROWS` points runs the grid search on a seeded
    random subsample of that many points (its minima lie near the full data's) and
    refines the subsample's distinct minima on all points: a 100,000-run table then
    costs a few full-data evaluations per start kept, not per grid start.
    ``n_starts_in_best_basin`` then counts the subsample's starts.

    Raises :class:`ScalingLabError` for an unknown form or objective, a missing or
    non-positive column, or fewer points than parameters.
    """
    form_cls = resolve_form(form)
    if objective not in OBJECTIVES:
        raise ScalingLabError(
            f"unknown objective {objective!r}; use one of {', '.join(OBJECTIVES)}"
        )
    problem = make_problem(form_cls, data, target, weights)
    theta0 = _initial_theta(problem.model, form_cls, starts, np.exp(problem.log_y))
    search = _search(problem, theta0, delta, max_iter=max_iter, tol=tol, n_polish=n_polish)
    if objective == "huber":
        theta, value, scale = search.theta, search.value, None
        converged, message = search.converged, search.message
    else:
        candidates = theta0 if len(theta0) == 1 else search.candidates
        theta, value, scale, converged, message = _likelihood_fit(problem, candidates, delta)
    law = problem.model.law(theta)
    residuals = problem.model.value(theta[None, :], problem.X)[0] - problem.log_y
    return FitResult(
        law=law,
        objective=objective,
        value=value,
        converged=converged,
        message=message,
        n_starts=len(theta0),
        n_starts_in_best_basin=search.n_in_best_basin,
        residuals=ResidualStats.of(residuals),
        warnings=diagnose(problem, theta, law, delta),
        delta=delta,
        scale=scale,
        local_minima=problem.model.to_natural(search.candidates),
    )


def _initial_theta(
    model: LogModel, form: type[LawForm], starts: Any, target: np.ndarray
) -> np.ndarray:
    if starts is None:
        return form.default_starts(target)
    if isinstance(starts, str):
        if starts != "chinchilla" or "alpha" not in form.parameter_names():
            raise ScalingLabError(
                f"unknown starts {starts!r} for form {form.form!r}; give None, 'chinchilla' "
                "(Chinchilla-like forms only) or an array of starting parameters"
            )
        base = dict(CHINCHILLA_PUBLISHED)
        for name in form.parameter_names():
            base.setdefault(name, 5.0)
        starts = base
    try:
        natural = starts_from(form, starts)
    except (KeyError, ValueError) as bad:
        raise ScalingLabError(f"bad starts for form {form.form!r}: {bad}") from bad
    return model.to_internal(natural)


@dataclass
class Search:
    """Result of :func:`multistart` in internal coordinates."""

    theta: np.ndarray
    value: float
    converged: bool
    message: str
    n_in_best_basin: int
    candidates: np.ndarray


def _clusters(theta: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cluster index of each row (internal parameters rounded to 0.01) and each cluster's
    best row."""
    keys = np.round(np.where(np.isfinite(value)[:, None], theta, np.inf), 2)
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    by_value = np.lexsort((np.nan_to_num(value, nan=np.inf), inverse))
    first = np.concatenate([[True], np.diff(inverse[by_value]) > 0])
    return inverse, by_value[first]


def multistart(
    problem: Problem,
    theta0: np.ndarray,
    delta: float,
    *,
    max_iter: int = 200,
    tol: float = 1e-10,
    n_polish: int = 5,
    coarse_tol: float = COARSE_RTOL,
) -> Search:
    """Minimise the summed Huber objective from every row of ``theta0`` (internal).

    Stages: batched IRLS Gauss-Newton on all starts until the relative gain per step is
    below ``coarse_tol``; clustering of the end points; batched exact Newton on the
    clusters within 2x of the best objective until the relative gain is below ``tol``;
    L-BFGS-B polish of the ``n_polish`` best distinct minima. ``candidates`` holds the
    distinct minima found, best first.
    """
    model, objective = problem.model, problem.huber(delta)
    lower, upper = model.lower, model.upper
    coarse = newton_batch(objective, theta0, lower, upper, ftol=coarse_tol, max_iter=max_iter)
    if not np.isfinite(coarse.value).any():
        raise ScalingLabError("every start gave a non-finite objective; check the data")
    inverse, reps = _clusters(coarse.theta, coarse.value)
    promising = reps[coarse.value[reps] <= 2.0 * np.nanmin(coarse.value)]
    promising = promising[np.argsort(coarse.value[promising])][:MAX_REFINED]
    fine = newton_batch(
        objective,
        coarse.theta[promising],
        lower,
        upper,
        curvature="exact",
        ftol=tol,
        max_iter=max_iter,
    )
    _, distinct = _clusters(fine.theta, fine.value)
    distinct = distinct[np.argsort(fine.value[distinct])][: max(1, n_polish)]
    minima = []
    for i in distinct:
        theta, value, ok, message = polish(objective, fine.theta[i], lower, upper)
        # A polish that lowers the objective by rounding alone (it can stop where it
        # started, "ABNORMAL" in its line search) has not improved on Newton's point.
        if not value < fine.value[i] * (1 - POLISH_RTOL):  # also when it ended on a NaN
            theta, value = fine.theta[i], float(fine.value[i])
            ok, message = (
                bool(fine.converged[i]),
                "batched Newton converged; polish found no lower point",
            )
        minima.append((value, theta, ok, message))
    minima.sort(key=lambda item: item[0])
    best_value, best_theta, ok, message = minima[0]
    final = np.full(len(reps), np.inf)
    final[inverse[promising]] = fine.value
    in_basin = final[inverse] <= best_value * (1 + BASIN_RTOL) + 1e-300
    return Search(
        theta=best_theta,
        value=float(best_value),
        converged=ok,
        message=message,
        n_in_best_basin=int(in_basin.sum()),
        candidates=np.array([theta for _, theta, _, _ in minima]),
    )


def _search(problem: Problem, theta0: np.ndarray, delta: float, **options: Any) -> Search:
    """:func:`multistart` on all points, or on a subsample first for long tables."""
    if problem.n_points <= SEARCH_ROWS or len(theta0) <= options["n_polish"]:
        return multistart(problem, theta0, delta, **options)
    rows = np.sort(np.random.default_rng(0).choice(problem.n_points, SEARCH_ROWS, replace=False))
    grid = multistart(problem.subset(rows), theta0, delta, **options)
    full = multistart(problem, grid.candidates, delta, **options)
    full.n_in_best_basin = grid.n_in_best_basin
    full.message = (
        f"grid search on {SEARCH_ROWS} of {problem.n_points} points, minima refined on all: "
        f"{full.message}"
    )
    return full


def polish(
    objective: HuberObjective, theta: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, float, bool, str]:
    """scipy L-BFGS-B from ``theta`` with the analytic gradient, to machine precision."""

    def value_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(all="ignore"):
            f, g = objective.value_grad(x[None, :])
        return float(f[0]), g[0]

    result = minimize(
        value_grad,
        theta,
        jac=True,
        method="L-BFGS-B",
        bounds=list(zip(lower, upper, strict=True)),
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000},
    )
    message = f"L-BFGS-B polish: {result.message}"
    return result.x, float(result.fun), bool(result.success), message


def _likelihood_fit(
    problem: Problem, candidates: np.ndarray, delta: float
) -> tuple[np.ndarray, float, float, bool, str]:
    """Minimise the Huber likelihood (learned scale) from each candidate with BFGS."""
    likelihood = HuberLikelihood(problem.model, problem.X, problem.log_y, delta, problem.weights)

    def value_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore"):
            return likelihood.value_grad(x)

    best: tuple[np.ndarray, float, float, bool, str] | None = None
    for theta in candidates:
        result = minimize(value_grad, np.append(theta, 0.0), jac=True, method="BFGS")
        if np.isfinite(result.fun) and (best is None or result.fun < best[1]):
            message = f"BFGS on the Huber likelihood: {result.message}"
            best = (
                result.x[:-1],
                float(result.fun),
                float(np.exp(result.x[-1])),
                bool(result.success),
                message,
            )
    if best is None:
        raise ScalingLabError("the Huber likelihood fit diverged from every start")
    return best


def diagnose(problem: Problem, theta: np.ndarray, law: LawForm, delta: float) -> list[str]:
    """Warnings about a fit: parameters at bounds, flat directions, too few points."""
    notes = []
    at_bounds = law.parameters_at_bounds()
    if at_bounds:
        notes.append(
            f"parameter(s) {', '.join(at_bounds)} at a bound of the search box: the fit may be "
            "poor or the form wrong for these data"
        )
    value, _, hess = problem.huber(delta).value_grad_hess(theta[None, :], "exact")
    eigval, eigvec = np.linalg.eigh(hess[0])
    top = max(abs(eigval).max(), 1e-300)
    # Objective rise for a step of FLAT_STEP (10% in a scale parameter) along the flattest
    # direction, relative to the objective itself.
    rise = 0.5 * max(eigval[0], 0.0) * FLAT_STEP**2 / max(float(value[0]), 1e-300)
    if eigval[0] <= 1e-9 * top or rise < FLAT_RISE:
        names = problem.model.names
        heavy = [names[i] for i in np.argsort(-np.abs(eigvec[:, 0]))[:2]]
        notes.append(
            f"flat direction in the objective, mostly along {' and '.join(heavy)} (a step of "
            f"{FLAT_STEP} there, 10% in a scale parameter, raises the objective by "
            f"{rise:.1e} of its value; Hessian condition number "
            f"{top / max(eigval[0], 1e-300):.1e}): these parameters trade off and are "
            "poorly determined individually"
        )
    p = len(problem.model.names)
    if problem.n_points < 5 * p:
        notes.append(
            f"only {problem.n_points} points for {p} parameters: intervals will be wide and the "
            "fit fragile; add runs"
        )
    return notes
