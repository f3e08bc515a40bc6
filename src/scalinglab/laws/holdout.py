"""Held-out extrapolation: fit on the smaller runs, predict the largest ones.

The test every scaling law must pass before a plan trusts it: drop the ``k`` largest
runs (by compute ``C``, or every run of the ``k`` largest model sizes ``N``), fit on the
rest, and compare each held-out run's predicted loss with its measured loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.laws.fitter import fit_law
from scalinglab.laws.forms import ChinchillaLaw, LawForm

HOLDOUT_BY = ("C", "N")


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


def holdout_fit(
    table: Any,
    k: int,
    *,
    by: str = "C",
    form: type[LawForm] = ChinchillaLaw,
    objective: str = "huber",
    **fit_options: Any,
) -> list[dict[str, float]]:
    """Fit ``form`` on all but the held-out rows and score each held-out row.

    Returns one dict per held-out run: its ``N``, ``D``, ``C`` (when present), measured
    ``loss``, ``predicted`` loss and ``rel_error = (predicted - loss) / loss``.
    """
    mask = holdout_mask(table, k, by)
    columns = {
        name: np.asarray(table[name], dtype=float)
        for name in ("N", "D", "C", "loss")
        if _has(table, name)
    }
    train = {name: values[~mask] for name, values in columns.items()}
    fit = fit_law(form, train, objective=objective, **fit_options)
    held = {name: values[mask] for name, values in columns.items()}
    predicted = fit.law.predict(**{name: held[name] for name in form.inputs})
    rows = []
    for i in range(int(mask.sum())):
        row = {name: float(held[name][i]) for name in ("N", "D", "C") if name in held}
        loss = float(held["loss"][i])
        row.update(
            loss=loss, predicted=float(predicted[i]), rel_error=float(predicted[i] / loss - 1)
        )
        rows.append(row)
    return rows


def _has(table: Any, name: str) -> bool:
    try:
        table[name]
    except (KeyError, IndexError):
        return False
    return True
