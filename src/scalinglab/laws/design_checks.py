"""Design checks run before any fit: refuse tables that cannot determine the law.

A law in ``N`` fitted to runs of a single model size has no information about its
``N`` exponent, yet an optimiser happily returns one (and a "converged" flag). Every
variable that a method uses must therefore take at least :data:`MIN_DISTINCT` distinct
values in the runs it fits, both on the whole table and on what a hold-out leaves to
fit. Values closer than a relative :data:`RTOL` count as one (a size written as
``1e8`` in one row and ``100000000.00001`` in another is one size).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from scalinglab.errors import ScalingLabError

MIN_DISTINCT = 3
RTOL = 1e-6
#: The columns each method reads: N and D for every method (the allocation is in both),
#: C for the methods that group or fit by compute.
VARIABLES_OF_METHOD: dict[str, tuple[str, ...]] = {
    "approach1": ("N", "D", "C"),
    "approach2": ("N", "D", "C"),
    "approach3": ("N", "D"),
    "kaplan": ("N", "D", "C"),
}
_UNITS = {"N": "parameters", "D": "tokens", "C": "FLOPs"}
_WHAT = {"N": "model sizes", "D": "token counts", "C": "compute budgets"}


def distinct_values(values: np.ndarray, rtol: float = RTOL) -> np.ndarray:
    """The sorted distinct positive values, merging neighbours within relative ``rtol``."""
    ordered = np.sort(np.asarray(values, dtype=float).ravel())
    if ordered.size == 0:
        return ordered
    keep = np.concatenate([[True], np.diff(np.log(ordered)) > np.log1p(rtol)])
    return ordered[keep]


def variables_of(methods: Iterable[str]) -> tuple[str, ...]:
    """The union of the columns the given methods read, in N, D, C order."""
    used = {name for method in methods for name in VARIABLES_OF_METHOD.get(method, ())}
    return tuple(name for name in ("N", "D", "C") if name in used)


def check_design(
    arrays: Mapping[str, np.ndarray], variables: Iterable[str], *, context: str = ""
) -> None:
    """Raise a one-line :class:`ScalingLabError` when a variable has < 3 distinct values.

    ``context`` says which runs were checked (e.g. "after holding out the 2 largest
    sizes"); the message names the column, its distinct values and what to add.
    """
    for name in variables:
        distinct = distinct_values(arrays[name])
        if len(distinct) < MIN_DISTINCT:
            shown = ", ".join(f"{v:.4g}" for v in distinct)
            where = f" {context}" if context else ""
            raise ScalingLabError(
                f"column {name} has {len(distinct)} distinct value(s){where} ({shown} "
                f"{_UNITS[name]}): a law in {name} cannot be fitted from fewer than "
                f"{MIN_DISTINCT}; add runs at {MIN_DISTINCT} or more {_WHAT[name]} "
                "(spread over a decade or more)"
            )


def check_holdout_design(
    arrays: Mapping[str, np.ndarray], mask: np.ndarray, variables: Iterable[str], k: int, by: str
) -> None:
    """Like :func:`check_design` on the runs a hold-out leaves to fit (``~mask``)."""
    kept = {name: np.asarray(values)[~mask] for name, values in arrays.items()}
    unit = "runs" if by == "C" else "model sizes"
    check_design(kept, variables, context=f"after holding out the {k} largest {unit}")
