"""Compute-optimal allocation from runs: Chinchilla's approaches 1, 2 and 3, and Kaplan's.

Each returns an :class:`ApproachResult`: ``N*(C) = n_coef * C**a`` and
``D*(C) = d_coef * C**b`` (``N`` parameters, ``D`` tokens, ``C`` FLOPs), the exponents,
the per-budget details the plots draw, and for parametric methods the fitted law(s).

* Approach 1 (envelope): bin the runs by ``C`` (log-spaced bins), keep the lowest loss
  in each bin, and fit power laws of that run's ``N`` and ``D`` against ``C``.
* Approach 2 (IsoFLOP): group runs of one compute budget, fit a parabola of loss against
  ``log N``, take its minimum ``N*``, read ``D*`` from the rows' ``D`` at ``N*``
  (interpolated in log-log), then fit ``N* ∝ C**a`` and ``D* ∝ C**b``.
* Approach 3 (parametric): fit ``L(N, D) = E + A/N**alpha + B/D**beta``;
  ``a = beta/(alpha+beta)``, ``b = alpha/(alpha+beta)``, with ``C = 6 N D``.
* Kaplan: fit Kaplan's joint ``L(N, D)`` (eq. 1.5) to all runs and ``L(C)`` (eq. 1.3)
  to the compute frontier; minimising ``L(N, C/(6N))`` gives
  ``a = alphaD / (alphaN + alphaD)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.laws.fitter import FitResult, fit_law
from scalinglab.laws.forms import ChinchillaLaw, KaplanC, KaplanND

FLOPS_PER_PARAM_TOKEN = 6.0


@dataclass
class ApproachResult:
    """Compute-optimal allocation ``N*(C) = n_coef C**a``, ``D*(C) = d_coef C**b``."""

    method: str
    a: float
    b: float
    n_coef: float
    d_coef: float
    details: list[dict[str, Any]] = field(default_factory=list)
    fits: dict[str, FitResult] = field(default_factory=dict)

    def n_opt(self, C: Any) -> np.ndarray:
        """Compute-optimal parameters at ``C`` FLOPs."""
        return self.n_coef * np.asarray(C, dtype=float) ** self.a

    def d_opt(self, C: Any) -> np.ndarray:
        """Compute-optimal training tokens at ``C`` FLOPs."""
        return self.d_coef * np.asarray(C, dtype=float) ** self.b

    def tokens_per_param(self, C: Any) -> np.ndarray:
        """``D* / N*`` at ``C`` FLOPs (about 20 for Chinchilla near 1e23-1e24)."""
        return self.d_opt(C) / self.n_opt(C)

    @property
    def fit(self) -> FitResult | None:
        """The main parametric fit (approach 3's Chinchilla law, Kaplan's L(N, D))."""
        return next(iter(self.fits.values()), None)

    @property
    def frontier_fit(self) -> FitResult | None:
        """The fit whose law draws the frontier: a law of ``C`` alone where the approach
        fitted one to the frontier itself (Kaplan's ``L(C)``), else :attr:`fit`."""
        return next((f for f in self.fits.values() if f.law.inputs == ("C",)), self.fit)

    @property
    def params(self) -> dict[str, float]:
        """Parameters to report: the law's for parametric methods, else the power laws."""
        out: dict[str, float] = {}
        for fit in self.fits.values():
            out.update(fit.params)
        if not out:
            out = {"n_coef": self.n_coef, "a": self.a, "d_coef": self.d_coef, "b": self.b}
        return out


def _columns(table: Any, *names: str) -> list[np.ndarray]:
    try:
        return [np.asarray(table[name], dtype=float) for name in names]
    except KeyError as missing:
        raise ScalingLabError(
            f"the runs table lacks column {missing}; it needs {', '.join(names)}"
        ) from missing


def power_law_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least squares of ``log y = log k + e log x``; returns ``(k, e)``."""
    if len(np.unique(x)) < 2:
        raise ScalingLabError("a power law needs at least two distinct compute budgets")
    e, log_k = np.polyfit(np.log(x), np.log(y), 1)
    return float(np.exp(log_k)), float(e)


def envelope(table: Any, *, n_bins: int | None = None) -> list[dict[str, float]]:
    """The lowest-loss run in each log-spaced compute bin: ``{C, N, D, loss}`` per bin.

    ``n_bins`` defaults to one bin per 0.1 decade of ``C`` over the table's range.
    """
    N, D, C, loss = _columns(table, "N", "D", "C", "loss")
    logC = np.log10(C)
    span = logC.max() - logC.min()
    bins = n_bins or max(2, int(np.ceil(span / 0.1)))
    edges = np.linspace(logC.min(), logC.max() + 1e-12, bins + 1)
    which = np.clip(np.digitize(logC, edges) - 1, 0, bins - 1)
    details = []
    for k in np.unique(which):
        rows = np.flatnonzero(which == k)
        best = rows[np.argmin(loss[rows])]
        details.append(
            {
                "C": float(C[best]),
                "N": float(N[best]),
                "D": float(D[best]),
                "loss": float(loss[best]),
            }
        )
    return details


def approach1(table: Any, *, n_bins: int | None = None) -> ApproachResult:
    """Approach 1: the lowest loss per log-spaced compute bin, then power laws in ``C``.

    ``n_bins`` defaults to one bin per 0.1 decade of ``C`` over the table's range.
    """
    details = envelope(table, n_bins=n_bins)
    frontier = {key: np.array([d[key] for d in details]) for key in ("C", "N", "D")}
    n_coef, a = power_law_fit(frontier["C"], frontier["N"])
    d_coef, b = power_law_fit(frontier["C"], frontier["D"])
    return ApproachResult("approach1", a, b, n_coef, d_coef, details)


def group_budgets(C: np.ndarray, rtol: float = 0.05) -> np.ndarray:
    """Budget index of each run: sorted ``C`` split wherever neighbours differ by > ``rtol``."""
    order = np.argsort(C)
    logC = np.log(C[order])
    new_group = np.concatenate([[0], (np.diff(logC) > np.log1p(rtol)).astype(int)])
    groups = np.empty(len(C), dtype=int)
    groups[order] = np.cumsum(new_group)
    return groups


def isoflop_minimum(
    N: np.ndarray, D: np.ndarray, loss: np.ndarray, min_points: int = 3
) -> dict[str, Any]:
    """The minimum of a parabola of loss against ``log N`` over one budget's runs.

    Returns ``{"parabola", "N_opt", "D_opt", "loss_opt"}`` (``D*`` read from the runs'
    ``D`` at ``N*``, interpolated in log-log), or ``{"skipped": reason}`` when there are
    fewer than ``min_points`` sizes, the parabola opens downwards or its minimum lies
    outside the sizes tried.
    """
    logN = np.log(N)
    if len(np.unique(logN)) < min_points:
        return {"skipped": f"fewer than {min_points} model sizes"}
    coef = np.polyfit(logN, loss, 2)
    entry: dict[str, Any] = {"parabola": [float(c) for c in coef]}
    if coef[0] <= 0:
        return {**entry, "skipped": "parabola opens downwards (no minimum)"}
    log_n_star = -coef[1] / (2 * coef[0])
    if not logN.min() <= log_n_star <= logN.max():
        return {**entry, "skipped": "minimum outside the sizes tried"}
    slope, intercept = np.polyfit(logN, np.log(D), 1)
    return {
        **entry,
        "N_opt": float(np.exp(log_n_star)),
        "D_opt": float(np.exp(intercept + slope * log_n_star)),
        "loss_opt": float(np.polyval(coef, log_n_star)),
    }


def approach2(table: Any, *, budget_rtol: float = 0.05, min_points: int = 3) -> ApproachResult:
    """Approach 2: a parabola of loss against ``log N`` per compute budget.

    Runs whose ``C`` differ by at most ``budget_rtol`` (relative) share a budget. Budgets
    whose parabola has no minimum inside the sizes tried (see :func:`isoflop_minimum`)
    are skipped (listed in ``details`` with a ``skipped`` reason).
    """
    N, D, C, loss = _columns(table, "N", "D", "C", "loss")
    groups = group_budgets(C, budget_rtol)
    details, minima = [], []
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        budget = float(np.exp(np.mean(np.log(C[rows]))))
        entry = {"C": budget, "n_runs": int(rows.size)}
        entry.update(isoflop_minimum(N[rows], D[rows], loss[rows], min_points))
        details.append(entry)
        if "skipped" not in entry:
            minima.append((budget, entry["N_opt"], entry["D_opt"]))
    if len(minima) < 2:
        raise ScalingLabError(
            "approach 2 needs at least two compute budgets with a loss minimum inside their "
            f"range of sizes; found {len(minima)}. Add IsoFLOP runs either side of the optimum"
        )
    Cs, Ns, Ds = (np.array(col) for col in zip(*minima, strict=True))
    n_coef, a = power_law_fit(Cs, Ns)
    d_coef, b = power_law_fit(Cs, Ds)
    return ApproachResult("approach2", a, b, n_coef, d_coef, details)


def approach3_from_law(law: ChinchillaLaw, fit: FitResult | None = None) -> ApproachResult:
    """Approach 3's allocation from a fitted :class:`ChinchillaLaw` (``C = 6 N D``)."""
    n_one, d_one = law.compute_optimal(1.0, FLOPS_PER_PARAM_TOKEN)
    fits = {"chinchilla": fit} if fit is not None else {}
    return ApproachResult("approach3", law.a, law.b, float(n_one), float(d_one), [], fits)


def approach3(table: Any, *, objective: str = "huber", **fit_options: Any) -> ApproachResult:
    """Approach 3: fit the Chinchilla law to all runs (see :func:`fit_law` for options)."""
    fit = fit_law(ChinchillaLaw, table, objective=objective, **fit_options)
    return approach3_from_law(fit.law, fit)  # type: ignore[arg-type]


def kaplan_allocation(law: KaplanND) -> tuple[float, float, float, float]:
    """``(a, b, n_coef, d_coef)`` minimising Kaplan's ``L(N, C / (6N))`` at fixed ``C``."""
    p = law.alphaN / law.alphaD
    a = 1.0 / (p + 1.0)
    n_coef = (p * law.Nc**p / (FLOPS_PER_PARAM_TOKEN * law.Dc)) ** a
    return a, 1.0 - a, float(n_coef), float(1.0 / (FLOPS_PER_PARAM_TOKEN * n_coef))


def kaplan(table: Any, *, objective: str = "huber", **fit_options: Any) -> ApproachResult:
    """Kaplan 2020: ``L(N, D)`` on all runs and ``L(C)`` on the approach-1 frontier."""
    joint = fit_law(KaplanND, table, objective=objective, **fit_options)
    frontier = approach1(table).details
    compute = fit_law(
        KaplanC,
        {"C": [d["C"] for d in frontier], "loss": [d["loss"] for d in frontier]},
        objective=objective,
        **fit_options,
    )
    a, b, n_coef, d_coef = kaplan_allocation(joint.law)  # type: ignore[arg-type]
    fits = {"kaplan_nd": joint, "kaplan_c": compute}
    return ApproachResult("kaplan", a, b, n_coef, d_coef, frontier, fits)


APPROACHES = {
    "approach1": approach1,
    "approach2": approach2,
    "approach3": approach3,
    "kaplan": kaplan,
}
