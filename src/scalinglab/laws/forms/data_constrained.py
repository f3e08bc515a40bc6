"""Muennighoff et al. 2023's data-constrained law: Chinchilla's form on effective data
and parameters when tokens repeat, with its log model and start grid."""

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
from scalinglab.laws.forms.chinchilla import ChinchillaLaw
from scalinglab.laws.log_model import AnalyticLogModel, Inputs, LogModel


def lse3(z1: np.ndarray, z2: np.ndarray, z3: np.ndarray) -> tuple[np.ndarray, ...]:
    """``log(exp z1 + exp z2 + exp z3)`` and the softmax weights, computed stably."""
    m = np.maximum(np.maximum(z1, z2), z3)
    e1, e2, e3 = np.exp(z1 - m), np.exp(z2 - m), np.exp(z3 - m)
    total = e1 + e2 + e3
    return m + np.log(total), e1 / total, e2 / total, e3 / total


class DataConstrainedModel(AnalyticLogModel):
    """Muennighoff et al. 2023 in log-sum-exp form on effective ``N'`` and ``D'``.

    Internal ``(e, a, b, alpha, beta, log R_D*, log R_N*)``;
    ``log L = LSE(a - alpha log N', b - beta log D', e)``.
    """

    def prepare(self, data: Mapping[str, np.ndarray]) -> Inputs:
        N = np.asarray(data["N"], dtype=float)
        D = np.asarray(data["D"], dtype=float)
        U = np.asarray(data["unique_tokens"], dtype=float)
        return {"N": N, "logN": np.log(N), "logU": np.log(U), "U": U, "R": np.maximum(D / U - 1, 0)}

    def value_jac(self, theta: np.ndarray, X: Inputs) -> tuple[np.ndarray, np.ndarray]:
        e, a, b, alpha, beta, lrd, lrn = (theta[:, i : i + 1] for i in range(7))
        rd, rn = np.exp(lrd), np.exp(lrn)
        U, R, N, logU = X["U"], X["R"], X["N"], X["logU"]
        # Effective data D' and its derivative in log R_D*.
        qd = np.exp(-R / rd)
        Dp = U + U * rd * (1.0 - qd)
        dDp_lrd = U * rd * ((1.0 - qd) - (R / rd) * qd)
        # U_N: log U_N = (log alpha - log beta + a - b + beta log U_D) / alpha.
        M = np.log(alpha) - np.log(beta) + a - b + beta * logU
        logUN = M / alpha
        excess = logUN < X["logN"]
        UN = np.exp(np.minimum(logUN, X["logN"]))
        t = N / UN - 1.0
        qn = np.exp(-t / rn)
        Np = np.where(excess, UN * (1.0 + rn * (1.0 - qn)), N)
        dNp_logUN = np.where(excess, Np - qn * N, 0.0)
        dNp_lrn = np.where(excess, UN * rn * ((1.0 - qn) - (t / rn) * qn), 0.0)
        logNp, logDp = np.log(Np), np.log(Dp)
        f, p1, p2, p3 = lse3(a - alpha * logNp, b - beta * logDp, np.broadcast_to(e, (len(e), 1)))
        dlogN = -alpha * p1 / Np * dNp_logUN  # d log L / d log U_N
        dUN = {
            "a": 1.0 / alpha,
            "b": -1.0 / alpha,
            "alpha": 1.0 / alpha**2 - logUN / alpha,
            "beta": (-1.0 / beta + logU) / alpha,
        }
        J = np.stack(
            [
                p3,
                p1 + dlogN * dUN["a"],
                p2 + dlogN * dUN["b"],
                -logNp * p1 + dlogN * dUN["alpha"],
                -logDp * p2 + dlogN * dUN["beta"],
                -beta * p2 / Dp * dDp_lrd,
                -alpha * p1 / Np * dNp_lrn,
            ],
            axis=-1,
        )
        return f, J


@register_form
@dataclass(frozen=True)
class DataConstrainedLaw(LawForm):
    """Muennighoff et al. 2023: Chinchilla's form on effective data and parameters.

    With ``U_D`` unique tokens and ``R_D = D / U_D - 1`` repeats, the effective data is
    ``D' = U_D + U_D R_D* (1 - exp(-R_D / R_D*))``. Parameters beyond ``U_N``, the
    compute-optimal size for ``U_D`` tokens (from this law's own Chinchilla terms), decay
    the same way with ``R_N*``. The loss is ``E + A / N'**alpha + B / D'**beta``.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    rd_star: float
    rn_star: float

    form: ClassVar[str] = "data_constrained"
    inputs: ClassVar[tuple[str, ...]] = ("N", "D", "unique_tokens")
    bounds: ClassVar[dict[str, Bound]] = {
        **ChinchillaLaw.bounds,
        "rd_star": Bound(1e-2, 1e4, log=True),
        "rn_star": Bound(1e-2, 1e4, log=True),
    }
    log_model_class: ClassVar[type[LogModel]] = DataConstrainedModel

    @classmethod
    def default_starts(cls, target: np.ndarray) -> np.ndarray:
        return product_grid(
            [-0.5, 0.5],
            [0.0, 5.0, 10.0, 20.0],
            [0.0, 5.0, 10.0, 20.0],
            [0.2, 0.5, 1.0],
            [0.2, 0.5, 1.0],
            np.log([3.0, 15.0, 60.0]),
            np.log([3.0, 15.0, 60.0]),
        )

    def chinchilla_terms(self) -> ChinchillaLaw:
        return self.base

    @classmethod
    def plans(cls) -> bool:
        return True

    def loss_nd(self, N: ArrayLike, D: ArrayLike) -> np.ndarray:
        """Loss on ``D`` fresh tokens: the Chinchilla terms alone."""
        return self.base.predict(N, D)

    @property
    def base(self) -> ChinchillaLaw:
        """The Chinchilla terms alone (no repetition)."""
        return ChinchillaLaw(self.E, self.A, self.B, self.alpha, self.beta)

    def unique_params(self, unique_tokens: ArrayLike) -> np.ndarray:
        """``U_N``: the compute-optimal parameter count whose optimal data is ``U_D``."""
        base = self.base
        G = (base.alpha * base.A / (base.beta * base.B)) ** (1.0 / (base.alpha + base.beta))
        return G * (G * as_array(unique_tokens)) ** (base.beta / base.alpha)

    def effective_data(self, D: ArrayLike, unique_tokens: ArrayLike) -> np.ndarray:
        """``D'``: tokens worth of fresh data that ``D`` tokens over ``U_D`` unique give.

        Less than one epoch sees only ``D`` distinct tokens, so ``U_D = min(unique, D)``.
        """
        D = as_array(D)
        U = np.minimum(as_array(unique_tokens), D)
        repeats = D / U - 1.0
        return U + U * self.rd_star * (1.0 - np.exp(-repeats / self.rd_star))

    def effective_params(self, N: ArrayLike, unique_tokens: ArrayLike) -> np.ndarray:
        """``N'``: parameters beyond ``U_N`` count with a decaying value (``R_N*``)."""
        N = as_array(N)
        U_N = np.minimum(N, self.unique_params(unique_tokens))
        excess = np.maximum(N / U_N - 1.0, 0.0)
        return U_N + U_N * self.rn_star * (1.0 - np.exp(-excess / self.rn_star))

    def predict(  # type: ignore[override]
        self, N: ArrayLike, D: ArrayLike, unique_tokens: ArrayLike
    ) -> np.ndarray:
        return self.base.predict(
            self.effective_params(N, unique_tokens), self.effective_data(D, unique_tokens)
        )
