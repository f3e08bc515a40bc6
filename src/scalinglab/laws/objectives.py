"""Fitting objectives on log-loss residuals, for any :class:`~scalinglab.laws.log_model.LogModel`.

* ``huber``: ``sum_i w_i huber_delta(log pred_i - log y_i)`` (summed, not averaged;
  ``delta`` 1e-3 by default, as Hoffmann et al. 2022), with ``huber_delta(r) = r**2 / 2``
  for ``|r| <= delta`` and ``delta (|r| - delta / 2)`` beyond (:class:`HuberObjective`,
  vectorised over ``K`` parameter vectors at once).
* ``huber_likelihood``: the negative log-likelihood of the residuals under a Huber
  density with a learned scale ``s = exp(sigma)`` (Besiroglu et al. 2024):
  ``sum_i w_i [huber_delta(r_i / s) + log Z(delta) + log s]`` (:class:`HuberLikelihood`).

A model with a fused ``huber_terms`` method (Chinchilla's,
:mod:`scalinglab.laws.chinchilla_kernel`) computes the Huber terms in one pass.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
from scipy.special import erfc

from scalinglab.laws.log_model import Inputs, LogModel


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber loss of residuals ``r``: quadratic inside ``|r| <= delta``, linear beyond."""
    abs_r = np.abs(r)
    return np.where(abs_r <= delta, 0.5 * r * r, delta * (abs_r - 0.5 * delta))


def _huber_derivatives(r: np.ndarray, delta: float) -> tuple[np.ndarray, ...]:
    first = np.clip(r, -delta, delta)
    value = first * (r - 0.5 * first)
    second = (np.abs(r) <= delta).astype(float)
    return value, first, second


def huber_log_normaliser(delta: float) -> float:
    """``log Z(delta)``: log of the integral of ``exp(-huber_delta(x))`` over the reals."""
    gauss = math.sqrt(2.0 * math.pi) * (1.0 - float(erfc(delta / math.sqrt(2.0))))
    tails = 2.0 * math.exp(-0.5 * delta * delta) / delta
    return math.log(gauss + tails)


class Scratch:
    """Named float buffers reused by the repeated evaluations of one objective.

    The batched optimiser evaluates ``rows x points`` chunks hundreds of times. Allocating
    each half-megabyte temporary afresh made the allocator map and fault in new pages on
    every call, which cost about four times the arithmetic (measured on the Epoch data);
    reusing buffers removes that. Not thread-safe: evaluate one objective from one
    thread at a time.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A float buffer of ``shape`` (contents undefined), reusing ``name``'s memory."""
        size = math.prod(shape)
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size:
            buffer = self._buffers[name] = np.empty(size)
        return buffer[:size].reshape(shape)


class _LogResiduals:
    """What both objectives hold: a model, its prepared inputs, the log targets, the Huber
    ``delta`` and the point weights (unit weights when ``None``)."""

    def __init__(
        self,
        model: LogModel,
        X: Inputs,
        log_y: np.ndarray,
        delta: float = 1e-3,
        weights: np.ndarray | None = None,
    ) -> None:
        self.model = model
        self.X = X
        self.log_y = np.asarray(log_y, dtype=float)
        self.delta = float(delta)
        self.unit_weights = weights is None
        self.weights = np.ones_like(self.log_y) if weights is None else np.asarray(weights, float)


class HuberObjective(_LogResiduals):
    """Summed, weighted Huber loss of log residuals for ``K`` parameter vectors at once.

    ``weights`` is ``n`` (one weighting for all) or ``K x n`` (e.g. bootstrap counts).
    """

    @cached_property
    def scratch(self) -> Scratch:
        """Buffers reused across evaluations (shared with the parts of :meth:`subset`)."""
        return Scratch()

    def subset(self, rows: np.ndarray) -> HuberObjective:
        """The objective for the parameter rows ``rows`` (selects per-row weights)."""
        if self.weights.ndim == 1:
            return self
        part = HuberObjective(self.model, self.X, self.log_y, self.delta, self.weights[rows])
        part.scratch = self.scratch
        return part

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        """Log residuals ``log pred - log y``, ``K x n``."""
        return self.model.value(theta, self.X) - self.log_y

    def value(self, theta: np.ndarray) -> np.ndarray:
        """Objective per row of ``theta``, shape ``K``."""
        return (self.weights * huber(self.residuals(theta), self.delta)).sum(axis=-1)

    def value_grad(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f, J = self.model.value_jac(theta, self.X)
        rho, d1, _ = _huber_derivatives(f - self.log_y, self.delta)
        w = np.broadcast_to(self.weights, rho.shape)
        return (w * rho).sum(axis=-1), np.einsum("kn,knp->kp", w * d1, J)

    def value_grad_hess(
        self, theta: np.ndarray, curvature: str = "exact"
    ) -> tuple[np.ndarray, ...]:
        """Objective ``K``, gradient ``K x p`` and curvature matrix ``K x p x p``.

        ``curvature="exact"`` gives the Hessian; ``"irls"`` the Gauss-Newton matrix
        ``J^T diag(w rho'(r) / r) J`` of iteratively reweighted least squares, which is
        positive semi-definite and majorises the Huber loss.
        """
        fused = getattr(self.model, "huber_terms", None)
        if fused is not None:
            w = None if self.unit_weights else self.weights
            return fused(theta, self.X, self.log_y, w, self.delta, curvature, self.scratch)
        f, J = self.model.value_jac(theta, self.X)
        r = f - self.log_y
        rho, d1, d2 = _huber_derivatives(r, self.delta)
        w = np.broadcast_to(self.weights, rho.shape)
        wd1 = w * d1
        grad = np.einsum("kn,knp->kp", wd1, J)
        if curvature == "irls":
            irls = np.where(d2 > 0, 1.0, d1 / np.where(d2 > 0, 1.0, r))
            hess = np.matmul((J * (w * irls)[..., None]).transpose(0, 2, 1), J)
        else:
            hess = np.matmul((J * (w * d2)[..., None]).transpose(0, 2, 1), J)
            hess += self.model.weighted_hessian(theta, self.X, wd1)
        return (w * rho).sum(axis=-1), grad, hess


class HuberLikelihood(_LogResiduals):
    """Negative log-likelihood of log residuals under a Huber density with learned scale.

    Parameters are the model's internal vector plus ``sigma`` (``scale = exp(sigma)``)
    as the last entry. Works on one vector at a time (scipy's optimisers call it).
    """

    @cached_property
    def log_z(self) -> float:
        """``log Z(delta)`` of the Huber density."""
        return huber_log_normaliser(self.delta)

    def value_grad(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        theta, sigma = params[None, :-1], float(params[-1])
        scale = math.exp(sigma)
        f, J = self.model.value_jac(theta, self.X)
        x = (f[0] - self.log_y) / scale
        rho, d1, _ = _huber_derivatives(x, self.delta)
        w = self.weights
        value = float((w * (rho + self.log_z + sigma)).sum())
        grad_theta = ((w * d1 / scale)[:, None] * J[0]).sum(axis=0)
        grad_sigma = float((w * (1.0 - d1 * x)).sum())
        return value, np.append(grad_theta, grad_sigma)
