"""Start grids for multi-start fits, in each form's internal coordinates.

The Chinchilla grid is Hoffmann et al.'s (2022, appendix D.2) as Besiroglu et al. (2024)
ran it: ``e`` in {-1, -0.5, 0, 0.5, 1}, ``a, b`` in {0, 5, ..., 25}, ``alpha, beta`` in
{0, 0.5, ..., 2}, i.e. 4,500 starts. Other forms get grids of the same spirit: every
scale parameter over many orders of magnitude, every exponent over its plausible range.
Internal coordinates are the natural log of scale parameters (``Bound.log``) and the
value itself otherwise (see :mod:`scalinglab.laws.objective`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np

from scalinglab.laws.forms import (
    ChinchillaLaw,
    DataConstrainedLaw,
    KaplanC,
    KaplanD,
    KaplanN,
    KaplanND,
    LawForm,
    PowerLawOffset,
    SigmoidAccuracy,
    TaskLossFromLM,
)

#: Hoffmann et al. 2022's published fit, the start Besiroglu et al. 2024 used for their
#: likelihood fit and bootstrap (their exact unrounded values).
CHINCHILLA_PUBLISHED = {
    "E": float(np.exp(0.5267228)),
    "A": float(np.exp(6.0073404)),
    "B": float(np.exp(6.0179186)),
    "alpha": 0.33917084,
    "beta": 0.2849083,
}


def _product(*axes: Sequence[float]) -> np.ndarray:
    return np.array(list(itertools.product(*axes)), dtype=float)


def chinchilla_grid() -> np.ndarray:
    """The 4,500 starts ``(e, a, b, alpha, beta)`` of Hoffmann et al.'s grid."""
    e = np.arange(-1.0, 1.5, 0.5)
    ab = np.arange(0.0, 30.0, 5.0)
    exps = np.arange(0.0, 2.5, 0.5)
    return _product(e, ab, ab, exps, exps)


def default_starts(form: type[LawForm], target: np.ndarray) -> np.ndarray:
    """The default start grid of ``form`` in internal coordinates (``starts x params``).

    ``target`` (the values being fitted) places the offset grid of forms with a linear
    offset below the smallest observation.
    """
    low = float(np.min(target))
    if form is ChinchillaLaw:
        return chinchilla_grid()
    if form is PowerLawOffset:
        return _product(
            low * np.array([0.0, 0.25, 0.5, 0.75, 0.9, 0.97]),
            np.arange(0.0, 45.0, 5.0),
            [0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0, 2.0],
        )
    if form in (KaplanN, KaplanD):
        return _product(np.arange(5.0, 46.0, 5.0), [0.02, 0.05, 0.1, 0.2, 0.5, 1.0])
    if form is KaplanC:
        return _product(np.arange(10.0, 91.0, 5.0), [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0])
    if form is KaplanND:
        scales = np.arange(10.0, 46.0, 5.0)
        return _product(scales, scales, [0.03, 0.1, 0.3, 1.0], [0.03, 0.1, 0.3, 1.0])
    if form is DataConstrainedLaw:
        return _product(
            [-0.5, 0.5],
            [0.0, 5.0, 10.0, 20.0],
            [0.0, 5.0, 10.0, 20.0],
            [0.2, 0.5, 1.0],
            [0.2, 0.5, 1.0],
            np.log([3.0, 15.0, 60.0]),
            np.log([3.0, 15.0, 60.0]),
        )
    if form is TaskLossFromLM:
        return _product(np.arange(-3.0, 3.5, 1.0), [0.0, 0.5, 1.0, 2.0, 4.0, 8.0])
    if form is SigmoidAccuracy:
        return _product(
            [0.25, 0.5, 0.75],
            [0.0, 0.25, 0.5],
            [-1.0, -5.0, -20.0],
            np.quantile(target, [0.25, 0.5, 0.75]),
        )
    raise ValueError(f"no default grid for form {form.form!r}")


def starts_from(
    form: type[LawForm], starts: Mapping[str, float] | LawForm | np.ndarray | Sequence
) -> np.ndarray:
    """Natural-parameter starts (a dict, a law, or an array ``starts x params``) as an array."""
    names = form.parameter_names()
    if isinstance(starts, LawForm):
        starts = starts.params
    if isinstance(starts, Mapping):
        return np.array([[float(starts[name]) for name in names]])
    array = np.atleast_2d(np.asarray(starts, dtype=float))
    if array.shape[1] != len(names):
        raise ValueError(f"starts need {len(names)} columns ({', '.join(names)})")
    return array
