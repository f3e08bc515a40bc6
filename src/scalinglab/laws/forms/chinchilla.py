"""Hoffmann et al. 2022's ``L(N, D) = E + A / N**alpha + B / D**beta``, its log model
(analytic derivatives, fused Huber kernel) and its start grid.

>>> law = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
>>> round(float(law.predict(N=70e9, D=1.4e12)), 3)
1.937
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from scalinglab.laws import chinchilla_kernel
from scalinglab.laws.forms.base import (
    ArrayLike,
    Bound,
    LawForm,
    as_array,
    product_grid,
    register_form,
)
from scalinglab.laws.log_model import Inputs, LogModel

#: Hoffmann et al. 2022's published fit, the start Besiroglu et al. 2024 used for their
#: likelihood fit and bootstrap (their exact unrounded values).
CHINCHILLA_PUBLISHED = {
    "E": float(np.exp(0.5267228)),
    "A": float(np.exp(6.0073404)),
    "B": float(np.exp(6.0179186)),
    "alpha": 0.33917084,
    "beta": 0.2849083,
}


def chinchilla_grid() -> np.ndarray:
    """The 4,500 starts ``(e, a, b, alpha, beta)`` of Hoffmann et al.'s grid (appendix
    D.2, as Besiroglu et al. 2024 ran it): ``e`` in {-1, -0.5, ..., 1}, ``a, b`` in
    {0, 5, ..., 25}, ``alpha, beta`` in {0, 0.5, ..., 2}."""
    e = np.arange(-1.0, 1.5, 0.5)
    ab = np.arange(0.0, 30.0, 5.0)
    exps = np.arange(0.0, 2.5, 0.5)
    return product_grid(e, ab, ab, exps, exps)


class ChinchillaModel(LogModel):
    """``log L = LSE(a - alpha log N, b - beta log D, e)``; internal ``(e, a, b, alpha, beta)``."""

    def _exp_terms(self, theta: np.ndarray, X: Inputs) -> tuple[np.ndarray, ...]:
        # Within the bounds E >= 1e-3 and a, b <= log 1e12, so exp never overflows and the
        # sum never underflows: no max-shift is needed.
        e, a, b, alpha, beta = (theta[:, i : i + 1] for i in range(5))
        t1 = np.exp(a - alpha * X["logN"])
        t2 = np.exp(b - beta * X["logD"])
        return t1, t2, np.exp(e)

    def value(self, theta: np.ndarray, X: Inputs) -> np.ndarray:
        t1, t2, t3 = self._exp_terms(theta, X)
        return np.log(t1 + t2 + t3)

    def value_jac(self, theta: np.ndarray, X: Inputs) -> tuple[np.ndarray, np.ndarray]:
        t1, t2, t3 = self._exp_terms(theta, X)
        total = t1 + t2 + t3
        p1, p2 = t1 / total, t2 / total
        p3 = t3 / total
        J = np.stack([p3, p1, p2, -X["logN"] * p1, -X["logD"] * p2], axis=-1)
        return np.log(total), J

    def prepare(self, data: Mapping[str, np.ndarray]) -> Inputs:
        logN = np.log(np.asarray(data["N"], dtype=float))
        logD = np.log(np.asarray(data["D"], dtype=float))
        return {"logN": logN, "logD": logD, "basis": chinchilla_kernel.point_basis(logN, logD)}

    def weighted_hessian(self, theta: np.ndarray, X: Inputs, c: np.ndarray) -> np.ndarray:
        # d2f = sum_j p_j u_j u_j^T - g g^T with u_j the (constant) gradients of the terms.
        t1, t2, t3 = self._exp_terms(theta, X)
        total = t1 + t2 + t3
        p1, p2, p3 = t1 / total, t2 / total, t3 / total
        work = np.empty((6, *c.shape))
        return chinchilla_kernel.diagonal_terms(p1, p2, p3, X, c, work) - chinchilla_kernel.gram(
            p1, p2, p3, X, c, work
        )

    #: Fused Huber objective, gradient and curvature (the batched optimiser's hot loop).
    huber_terms = staticmethod(chinchilla_kernel.huber_terms)


@register_form
@dataclass(frozen=True)
class ChinchillaLaw(LawForm):
    """Hoffmann et al. 2022, approach 3: ``L(N, D) = E + A / N**alpha + B / D**beta``.

    ``E`` is the irreducible loss (nats/token); ``A, alpha`` the parameter term;
    ``B, beta`` the data term.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    form: ClassVar[str] = "chinchilla"
    inputs: ClassVar[tuple[str, ...]] = ("N", "D")
    bounds: ClassVar[dict[str, Bound]] = {
        "E": Bound(1e-3, 20.0, log=True),
        "A": Bound(1e-3, 1e12, log=True),
        "B": Bound(1e-3, 1e12, log=True),
        "alpha": Bound(0.0, 3.0),
        "beta": Bound(0.0, 3.0),
    }
    log_model_class: ClassVar[type[LogModel]] = ChinchillaModel

    @classmethod
    def default_starts(cls, target: np.ndarray) -> np.ndarray:
        return chinchilla_grid()

    def predict(self, N: ArrayLike, D: ArrayLike) -> np.ndarray:  # type: ignore[override]
        """Loss in nats/token after training ``N`` parameters on ``D`` tokens."""
        N, D = as_array(N), as_array(D)
        return self.E + self.A / N**self.alpha + self.B / D**self.beta

    def chinchilla_terms(self) -> ChinchillaLaw:
        return self

    @property
    def a(self) -> float:
        """Exponent of ``N*(C) ∝ C**a``: ``beta / (alpha + beta)``."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of ``D*(C) ∝ C**b``: ``alpha / (alpha + beta)``."""
        return self.alpha / (self.alpha + self.beta)

    def compute_optimal(
        self, C: ArrayLike, flops_per_param_token: float = 6.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(N*, D*)`` minimising loss at compute ``C = k N D`` FLOPs (``k`` = 6 by default).

        Closed form of Hoffmann et al. 2022 (eq. 4): with ``G = (alpha A / (beta B))**(1 /
        (alpha + beta))``, ``N* = G (C/k)**a`` and ``D* = (C/k)**b / G``.
        """
        C = as_array(C)
        G = (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))
        budget = C / flops_per_param_token
        return G * budget**self.a, budget**self.b / G
