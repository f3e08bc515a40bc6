"""A one-variable law with an offset, ``L(x) = E + A * x**(-alpha)``, and its log model.

Used for the compute frontier (x = C), error versus model size (x = N) and any other
single-input law.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from scalinglab.laws.forms.base import (
    ArrayLike,
    Bound,
    LawForm,
    as_array,
    product_grid,
    register_form,
)
from scalinglab.laws.frontier import TokenCost
from scalinglab.laws.log_model import AnalyticLogModel, Inputs, LogModel, log_inputs


class PowerOffsetModel(AnalyticLogModel):
    """``log L = log(E + exp(a - alpha log x))``; internal ``(E, a, alpha)``."""

    def prepare(self, data: Mapping[str, np.ndarray]) -> Inputs:
        return log_inputs(data, logx="x")

    def value_jac(self, theta: np.ndarray, X: Inputs) -> tuple[np.ndarray, np.ndarray]:
        E, a, alpha = theta[:, 0:1], theta[:, 1:2], theta[:, 2:3]
        term = np.exp(a - alpha * X["logx"])
        total = E + term
        share = term / total
        J = np.stack(
            [np.broadcast_to(1.0 / total, share.shape), share, -X["logx"] * share], axis=-1
        )
        return np.log(total), J


@register_form
@dataclass(frozen=True)
class PowerLawOffset(LawForm):
    """One-variable law with an offset: ``L(x) = E + A * x**(-alpha)``.

    ``variable`` in :func:`law_from_dict` is not a parameter; the input is passed as
    ``x``. As a frontier it is read as a law of ``C``.
    """

    E: float
    A: float
    alpha: float

    form: ClassVar[str] = "power_offset"
    inputs: ClassVar[tuple[str, ...]] = ("x",)
    bounds: ClassVar[dict[str, Bound]] = {
        "E": Bound(0.0, 20.0),
        "A": Bound(1e-6, 1e15, log=True),
        "alpha": Bound(0.0, 3.0),
    }
    log_model_class: ClassVar[type[LogModel]] = PowerOffsetModel

    @classmethod
    def default_starts(cls, target: np.ndarray) -> np.ndarray:
        """The offset below the smallest observation, the scale over 40 e-folds."""
        low = float(np.min(target))
        return product_grid(
            low * np.array([0.0, 0.25, 0.5, 0.75, 0.9, 0.97]),
            np.arange(0.0, 45.0, 5.0),
            [0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0, 2.0],
        )

    def predict(self, x: ArrayLike) -> np.ndarray:  # type: ignore[override]
        return self.E + self.A * as_array(x) ** (-self.alpha)

    def frontier(self, C: np.ndarray, cost: TokenCost) -> np.ndarray:
        return self.predict(C)
