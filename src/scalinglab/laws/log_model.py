"""Log-space models of law forms over internal parameters, vectorised over many vectors.

A fit searches an *internal* parameter vector ``theta``: a law's parameters with every
scale parameter (``Bound.log``) replaced by its natural log, so that e.g. Chinchilla's
``log L = LSE(a - alpha log N, b - beta log D, e)`` with ``A = exp(a)``, ``B = exp(b)``,
``E = exp(e)``. A :class:`LogModel` gives the log-prediction of one form for ``K``
vectors at once (arrays ``K x n`` for ``n`` points) with its Jacobian and the contracted
second derivatives that a Newton step needs.

The base class needs nothing but the form's ``predict``: it evaluates the form with
``K x 1`` parameter arrays and takes forward differences for the Jacobian, so a new form
fits without writing derivatives. Each built-in form overrides :meth:`LogModel.value_jac`
with its analytic Jacobian (its module, in :mod:`scalinglab.laws.forms`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scalinglab.laws.forms.base import LawForm

Inputs = dict[str, np.ndarray]


class LogModel:
    """Log-prediction of one law form over internal parameters, with derivatives.

    :meth:`value_jac` defaults to forward differences of :meth:`value` (itself the log
    of the form's ``predict``); :meth:`weighted_hessian` (``sum_i c_i d2 f_i /
    dtheta2``) defaults to forward differences of the Jacobian. Subclasses override them
    with analytic derivatives where speed or accuracy matters.
    """

    form: type[LawForm]

    def __init__(self, form: type[LawForm]) -> None:
        self.form = form
        self.names = form.parameter_names()
        self.log_mask = np.array([form.bounds[n].log for n in self.names])
        self.lower = np.array([self._internal_bound(n, "lower") for n in self.names])
        self.upper = np.array([self._internal_bound(n, "upper") for n in self.names])

    def _internal_bound(self, name: str, side: str) -> float:
        bound = self.form.bounds[name]
        value = getattr(bound, side)
        return math.log(value) if bound.log else value

    @property
    def n_params(self) -> int:
        return len(self.names)

    def to_internal(self, params: Mapping[str, float] | np.ndarray) -> np.ndarray:
        """Internal vector(s) from natural parameters (a dict, or an array ``... x p``)."""
        if isinstance(params, Mapping):
            params = np.array([float(params[n]) for n in self.names])
        values = np.asarray(params, dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(self.log_mask, np.log(np.abs(values)), values)

    def to_natural(self, theta: np.ndarray) -> np.ndarray:
        """Natural parameters from internal vector(s) (``... x p``)."""
        theta = np.asarray(theta, dtype=float)
        return np.where(self.log_mask, np.exp(np.where(self.log_mask, theta, 0.0)), theta)

    def law(self, theta: np.ndarray) -> LawForm:
        """The law (a form instance) for one internal vector."""
        return self.form(**dict(zip(self.names, map(float, self.to_natural(theta)), strict=True)))

    def prepare(self, data: Mapping[str, np.ndarray]) -> Inputs:
        """The inputs this model reads, as float arrays (logs precomputed where used)."""
        return {name: np.asarray(data[name], dtype=float) for name in self.form.inputs}

    def value(self, theta: np.ndarray, X: Inputs) -> np.ndarray:
        """Log-predictions ``K x n`` for internal parameters ``theta`` (``K x p``)."""
        natural = self.to_natural(theta)
        columns = {name: natural[:, i : i + 1] for i, name in enumerate(self.names)}
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(self.form(**columns).predict(**X))

    def value_jac(self, theta: np.ndarray, X: Inputs) -> tuple[np.ndarray, np.ndarray]:
        """Log-predictions ``K x n`` and their Jacobian ``K x n x p`` (forward differences)."""
        f0 = self.value(theta, X)
        J = np.empty((*f0.shape, self.n_params))
        for q in range(self.n_params):
            h = 1e-7 * (1.0 + np.abs(theta[:, q]))
            shifted = theta.copy()
            shifted[:, q] += h
            J[..., q] = (self.value(shifted, X) - f0) / h[:, None]
        return f0, J

    def weighted_hessian(self, theta: np.ndarray, X: Inputs, c: np.ndarray) -> np.ndarray:
        """``sum_i c_i * d2 logpred_i / dtheta2`` as ``K x p x p``; ``c`` is ``K x n``."""
        _, J0 = self.value_jac(theta, X)
        base = np.einsum("kn,knp->kp", c, J0)
        out = np.empty((theta.shape[0], self.n_params, self.n_params))
        for q in range(self.n_params):
            h = 1e-6 * (1.0 + np.abs(theta[:, q]))
            shifted = theta.copy()
            shifted[:, q] += h
            _, Jq = self.value_jac(shifted, X)
            out[:, :, q] = (np.einsum("kn,knp->kp", c, Jq) - base) / h[:, None]
        return 0.5 * (out + out.transpose(0, 2, 1))


class AnalyticLogModel(LogModel):
    """A log model whose subclass gives the analytic :meth:`value_jac`; the value is its
    first half (one code path, so values and derivatives always agree)."""

    def value(self, theta: np.ndarray, X: Inputs) -> np.ndarray:
        return self.value_jac(theta, X)[0]

    def value_jac(
        self, theta: np.ndarray, X: Inputs
    ) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError


def log_inputs(data: Mapping[str, np.ndarray], **columns: str) -> Inputs:
    """``{key: log(data[column])}`` for each ``key=column``, as float arrays."""
    return {key: np.log(np.asarray(data[column], dtype=float)) for key, column in columns.items()}
