"""Kaplan et al. 2020's laws: one family ``L(X) = (Xc / X)**alphaX`` for ``X`` = N, D or
C (eqs. 1.1-1.3), and the joint ``L(N, D)`` (eq. 1.5), with their log models.

The one-variable family shares one formula, log model and start grid
(:class:`KaplanPower`); a member is one call of :func:`_member` naming its variable, the
upper bound of its scale and the start values of its scale (internal: ``ln Xc``) and
exponent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, make_dataclass
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
from scalinglab.laws.log_model import AnalyticLogModel, Inputs, LogModel


class KaplanPowerModel(AnalyticLogModel):
    """``log L = alpha (log Xc - log X)``, internal ``(log Xc, alpha)``."""

    def prepare(self, data: Mapping[str, np.ndarray]) -> Inputs:
        return {"logx": np.log(np.asarray(data[self.form.inputs[0]], dtype=float))}

    def value_jac(self, theta: np.ndarray, X: Inputs) -> tuple[np.ndarray, np.ndarray]:
        log_scale, alpha = theta[:, 0:1], theta[:, 1:2]
        gap = log_scale - X["logx"]
        J = np.stack([np.broadcast_to(alpha, gap.shape), gap], axis=-1)
        return alpha * gap, J


class KaplanPower(LawForm):
    """``L(X) = (Xc / X)**alphaX``: the fields are ``(Xc, alphaX)``, the input ``X``.

    The members (:data:`KaplanN`, :data:`KaplanD`, :data:`KaplanC`) are made by
    :func:`_member`; a law of ``C`` is its own frontier.
    """

    log_model_class: ClassVar[type[LogModel]] = KaplanPowerModel
    scale_starts: ClassVar[np.ndarray]
    exponent_starts: ClassVar[tuple[float, ...]]

    @classmethod
    def default_starts(cls, target: np.ndarray) -> np.ndarray:
        return product_grid(cls.scale_starts, cls.exponent_starts)

    def predict(  # type: ignore[override]
        self, x: ArrayLike | None = None, /, **inputs: ArrayLike
    ) -> np.ndarray:
        """Loss at ``x``, given by position or by the input's name (``N=``, ``D=``, ``C=``)."""
        value = inputs[self.inputs[0]] if x is None else x
        scale, exponent = self.values()
        return (scale / as_array(value)) ** exponent

    def frontier(self, C: np.ndarray, cost: TokenCost) -> np.ndarray | None:
        return self.predict(C) if self.inputs == ("C",) else None


def _member(
    name: str,
    variable: str,
    source: str,
    scale_upper: float,
    scale_starts: np.ndarray,
    exponent_starts: tuple[float, ...],
) -> type[KaplanPower]:
    """A registered member ``L(X) = (Xc / X)**alphaX`` of the family for ``X = variable``:
    fields ``Xc`` (bounded by ``[1, scale_upper]``) and ``alphaX`` (in ``[0, 2]``)."""
    scale, exponent = f"{variable}c", f"alpha{variable}"
    namespace = {
        "__doc__": f"Kaplan et al. 2020, {source}: ``L({variable}) = ({scale} / {variable})"
        f"**{exponent}``.",
        "form": f"kaplan_{variable.lower()}",
        "inputs": (variable,),
        "bounds": {scale: Bound(1.0, scale_upper, log=True), exponent: Bound(0.0, 2.0)},
        "scale_starts": scale_starts,
        "exponent_starts": exponent_starts,
    }
    cls = make_dataclass(
        name, [(scale, float), (exponent, float)], bases=(KaplanPower,), namespace=namespace,
        frozen=True,
    )  # fmt: skip
    cls.__module__ = __name__  # where pickle finds it
    return register_form(cls)


_EXPONENTS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
_SCALES = np.arange(5.0, 46.0, 5.0)

KaplanN = _member("KaplanN", "N", "eq. 1.1 (N without embeddings)", 1e20, _SCALES, _EXPONENTS)
KaplanD = _member("KaplanD", "D", "eq. 1.2", 1e20, _SCALES, _EXPONENTS)
KaplanC = _member(
    "KaplanC", "C", "eq. 1.3 (C in FLOPs)", 1e40, np.arange(10.0, 91.0, 5.0), (0.01, *_EXPONENTS)
)


class KaplanNDModel(AnalyticLogModel):
    """``log L = alphaD LSE((alphaN/alphaD)(log Nc - log N), log Dc - log D)``."""

    def prepare(self, data: Mapping[str, np.ndarray]) -> Inputs:
        return {
            "logN": np.log(np.asarray(data["N"], dtype=float)),
            "logD": np.log(np.asarray(data["D"], dtype=float)),
        }

    def value_jac(self, theta: np.ndarray, X: Inputs) -> tuple[np.ndarray, np.ndarray]:
        lnc, ldc, aN, aD = (theta[:, i : i + 1] for i in range(4))
        gapN = lnc - X["logN"]
        u = (aN / aD) * gapN
        v = ldc - X["logD"]
        m = np.maximum(u, v)
        eu, ev = np.exp(u - m), np.exp(v - m)
        S = m + np.log(eu + ev)
        pu, pv = eu / (eu + ev), ev / (eu + ev)
        J = np.stack([aN * pu, aD * pv, pu * gapN, S - pu * u], axis=-1)
        return aD * S, J


@register_form
@dataclass(frozen=True)
class KaplanND(LawForm):
    """Kaplan et al. 2020, eq. 1.5: ``L(N, D) = ((Nc/N)**(alphaN/alphaD) + Dc/D)**alphaD``."""

    Nc: float
    Dc: float
    alphaN: float
    alphaD: float

    form: ClassVar[str] = "kaplan_nd"
    inputs: ClassVar[tuple[str, ...]] = ("N", "D")
    bounds: ClassVar[dict[str, Bound]] = {
        "Nc": Bound(1.0, 1e20, log=True),
        "Dc": Bound(1.0, 1e20, log=True),
        "alphaN": Bound(1e-4, 2.0),
        "alphaD": Bound(1e-4, 2.0),
    }
    log_model_class: ClassVar[type[LogModel]] = KaplanNDModel

    @classmethod
    def default_starts(cls, target: np.ndarray) -> np.ndarray:
        scales = np.arange(10.0, 46.0, 5.0)
        return product_grid(scales, scales, [0.03, 0.1, 0.3, 1.0], [0.03, 0.1, 0.3, 1.0])

    def predict(self, N: ArrayLike, D: ArrayLike) -> np.ndarray:  # type: ignore[override]
        N, D = as_array(N), as_array(D)
        return ((self.Nc / N) ** (self.alphaN / self.alphaD) + self.Dc / D) ** self.alphaD
