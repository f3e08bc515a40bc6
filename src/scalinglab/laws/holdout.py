"""Held-out extrapolation: fit on the smaller runs, predict the largest ones.

The test every scaling law must pass before a plan trusts it: drop the ``k`` largest
runs (by compute ``C``, or every run of the ``k`` largest model sizes ``N``), fit on the
rest, and compare each held-out prediction with what was measured.

Each method is scored by its own prediction:

* a parametric law (approach 3's Chinchilla law, Kaplan's ``L(N, D)``) predicts each
  held-out run's loss (:func:`holdout_fit`);
* approach 1 predicts the compute frontier: the envelope of the training runs (lowest
  loss per compute bin) is fitted with ``L(C) = E + A C**-alpha`` and compared with the
  envelope of the held-out runs (:func:`holdout_frontier`);
* approach 2 predicts the IsoFLOP minimum: the training budgets' parabola minima are
  fitted with the same ``L(C)`` (and ``N*`` with its power law) and compared with the
  minimum at each held-out budget (the parabola's when the held-out runs of that budget
  give one, else their lowest loss).

Every row gets a 95% prediction interval (``lower``, ``upper``) from a bootstrap of the
training fit with out-of-bag residuals (:meth:`BootstrapResult.prediction_interval`):
for a parametric law resampling whole model sizes when sizes have several runs, for a
frontier resampling its points.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.laws.approaches import (
    approach1,
    approach2,
    envelope,
    group_budgets,
    isoflop_minimum,
)
from scalinglab.laws.bootstrap import bootstrap_law
from scalinglab.laws.fitter import fit_law
from scalinglab.laws.forms import ChinchillaLaw, LawForm, PowerLawOffset

HOLDOUT_BY = ("C", "N")
#: Resamples for hold-out prediction intervals when the fit asks for no bootstrap.
HOLDOUT_RESAMPLES = 200
#: Fewest frontier points (training budgets) an ``L(C) = E + A C**-alpha`` fit takes.
MIN_FRONTIER_POINTS = 4


def holdout_mask(table: Any, k: int, by: str = "C") -> np.ndarray:
    """Boolean mask of held-out rows: the ``k`` largest-``C`` rows, or all rows of the
    ``k`` largest distinct ``N``."""
    if by not in HOLDOUT_BY:
        raise ScalingLabError(f"hold out by {by!r} is unknown; use 'C' or 'N'")
    values = np.asarray(table[by], dtype=float)
    if k < 1:
        raise ScalingLabError("hold out at least one run (k >= 1)")
    if by == "C":
        if k >= len(values):
            raise ScalingLabError(f"cannot hold out {k} of {len(values)} runs; keep some to fit")
        mask = np.zeros(len(values), dtype=bool)
        mask[np.argsort(values, kind="stable")[-k:]] = True
        return mask
    sizes = np.unique(values)
    if k >= len(sizes):
        raise ScalingLabError(f"cannot hold out {k} of {len(sizes)} model sizes; keep some to fit")
    return values >= sizes[-k]


def _split(table: Any, mask: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    columns = {
        name: np.asarray(table[name], dtype=float)
        for name in ("N", "D", "C", "loss")
        if _has(table, name)
    }
    train = {name: values[~mask] for name, values in columns.items()}
    held = {name: values[mask] for name, values in columns.items()}
    return train, held


def _scored(
    row: dict[str, float], predicted: float, lower: float, upper: float
) -> dict[str, float]:
    """``row`` with the prediction, its relative error and its prediction interval."""
    loss = row["loss"]
    return {
        **row,
        "predicted": float(predicted),
        "rel_error": float(predicted / loss - 1),
        "lower": float(lower),
        "upper": float(upper),
    }


def holdout_fit(
    table: Any,
    k: int,
    *,
    by: str = "C",
    form: type[LawForm] = ChinchillaLaw,
    objective: str = "huber",
    bootstrap: int = HOLDOUT_RESAMPLES,
    bootstrap_by: str = "auto",
    seed: int = 0,
    level: float = 0.95,
    n_jobs: int = 1,
    **fit_options: Any,
) -> list[dict[str, float]]:
    """Fit ``form`` on all but the held-out rows and score each held-out row.

    Returns one dict per held-out run: its ``N``, ``D``, ``C`` (when present), measured
    ``loss``, ``predicted`` loss, ``rel_error = (predicted - loss) / loss`` and the
    ``level`` prediction interval ``lower``, ``upper`` (nats/token) from ``bootstrap``
    resamples of the training runs, by ``bootstrap_by`` (see
    :func:`scalinglab.laws.bootstrap.resample_groups`).
    """
    if bootstrap < 1:
        raise ScalingLabError("hold-out intervals need at least one bootstrap resample")
    mask = holdout_mask(table, k, by)
    train, held = _split(table, mask)
    fit = fit_law(form, train, objective=objective, **fit_options)
    inputs = {name: held[name] for name in form.inputs}
    predicted = fit.law.predict(**inputs)
    boot = bootstrap_law(
        form,
        train,
        bootstrap,
        seed=seed,
        starts=fit.local_minima,
        n_jobs=n_jobs,
        by=bootstrap_by,
        delta=fit_options.get("delta", 1e-3),
    )
    lower, upper = boot.prediction_interval(level, seed=seed, **inputs)
    rows = []
    for i in range(int(mask.sum())):
        row = {name: float(held[name][i]) for name in ("N", "D", "C", "loss") if name in held}
        rows.append(_scored(row, predicted[i], lower[i], upper[i]))
    return rows


def _held_out_envelope(held: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Approach 1's measured frontier among the held-out runs."""
    return [
        {**point, "measured_as": "envelope (lowest loss in its C bin)"} for point in envelope(held)
    ]


def _held_out_minima(held: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Approach 2's measured IsoFLOP minimum at each held-out budget."""
    groups = group_budgets(held["C"])
    points = []
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        C = float(np.exp(np.mean(np.log(held["C"][rows]))))
        minimum = isoflop_minimum(held["N"][rows], held["D"][rows], held["loss"][rows])
        if "skipped" in minimum:
            best = rows[np.argmin(held["loss"][rows])]
            point = {name: float(held[name][best]) for name in ("N", "D", "loss")}
            how = f"lowest held-out run at this budget (no parabola: {minimum['skipped']})"
        else:
            point = {"N": minimum["N_opt"], "D": minimum["D_opt"], "loss": minimum["loss_opt"]}
            how = "IsoFLOP parabola minimum of the held-out runs"
        points.append({"C": C, **point, "measured_as": how})
    return points


def holdout_frontier(
    table: Any,
    k: int,
    *,
    method: str,
    by: str = "C",
    bootstrap: int = HOLDOUT_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> list[dict[str, Any]]:
    """Score approach 1 (``method="approach1"``) or 2 by its own prediction (see the
    module docstring): one row per held-out frontier point with ``C``, ``N``, ``D``,
    measured ``loss``, ``predicted`` loss, ``rel_error``, the prediction interval
    ``lower``, ``upper``, how the point was measured, and ``N_predicted`` (the
    approach's ``N*`` at that ``C``)."""
    if method not in ("approach1", "approach2"):
        raise ScalingLabError(f"holdout_frontier scores approach1 or approach2, not {method!r}")
    if bootstrap < 1:
        raise ScalingLabError("hold-out intervals need at least one bootstrap resample")
    mask = holdout_mask(table, k, by)
    train, held = _split(table, mask)
    if method == "approach1":
        result = approach1(train)
        frontier = [(d["C"], d["loss"]) for d in result.details]
        points = _held_out_envelope(held)
    else:
        result = approach2(train)
        frontier = [(d["C"], d["loss_opt"]) for d in result.details if "skipped" not in d]
        points = _held_out_minima(held)
    if len(frontier) < MIN_FRONTIER_POINTS:
        raise ScalingLabError(
            f"{method}'s hold-out fits L(C) = E + A C^-alpha to the training frontier and "
            f"needs {MIN_FRONTIER_POINTS} points of it; found {len(frontier)}. Hold out fewer runs"
        )
    data = {"x": np.array([c for c, _ in frontier]), "loss": np.array([v for _, v in frontier])}
    fit = fit_law(PowerLawOffset, data)
    C = np.array([p["C"] for p in points])
    predicted = fit.law.predict(x=C)
    boot = bootstrap_law(
        PowerLawOffset, data, bootstrap, seed=seed, starts=fit.local_minima, n_jobs=1
    )
    lower, upper = boot.prediction_interval(level, seed=seed, x=C)
    rows = []
    for i, point in enumerate(points):
        row = _scored(point, predicted[i], lower[i], upper[i])
        row["N_predicted"] = float(result.n_opt(point["C"]))
        rows.append(row)
    return rows


def _has(table: Any, name: str) -> bool:
    try:
        table[name]
    except (KeyError, IndexError):
        return False
    return True
