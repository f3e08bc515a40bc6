"""Fitting objectives on log-loss residuals, vectorised over many parameter vectors at once.

A fit searches an *internal* parameter vector ``theta``: a law's parameters with every
scale parameter (``Bound.log``) replaced by its natural log, so that e.g. Chinchilla's
``log L = LSE(a - alpha log N, b - beta log D, e)`` with ``A = exp(a)``, ``B = exp(b)``,
``E = exp(e)``. Each :class:`LogModel` gives the log-prediction of one form for ``K``
vectors at once (arrays ``K x n`` for ``n`` points) with its analytic Jacobian and the
contracted second derivatives that a Newton step needs.

The objectives:

* ``huber``: ``sum_i w_i huber_delta(log pred_i - log y_i)`` (summed, not averaged;
  ``delta`` 1e-3 by default, as Hoffmann et al. 2022), with ``huber_delta(r) = r**2 / 2``
  for ``|r| <= delta`` and ``delta (|r| - delta / 2)`` beyond.
* ``huber_likelihood``: the negative log-likelihood of the residuals under a Huber
  density with a learned scale ``s = exp(sigma)`` (Besiroglu et al. 2024):
  ``sum_i w_i [huber_delta(r_i / s) + log Z(delta) + log s]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.special import erfc

from scalinglab.errors import ScalingLabError
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

Inputs = dict[str, np.ndarray]


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


class LogModel:
    """Log-prediction of one law form over internal parameters, with derivatives.

    Subclasses implement :meth:`value` and :meth:`value_jac`; :meth:`weighted_hessian`
    (``sum_i c_i d2 f_i / dtheta2``) defaults to forward differences of the analytic
    Jacobian and is analytic where it matters for speed (Chinchilla).
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
        return self.value_jac(theta, X)[0]

    def value_jac(
        self, theta: np.ndarray, X: Inputs
    ) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        """Log-predictions ``K x n`` and their Jacobian ``K x n x p``."""
        raise NotImplementedError

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


def _lse3(z1: np.ndarray, z2: np.ndarray, z3: np.ndarray) -> tuple[np.ndarray, ...]:
    """``log(exp z1 + exp z2 + exp z3)`` and the softmax weights, computed stably."""
    m = np.maximum(np.maximum(z1, z2), z3)
    e1, e2, e3 = np.exp(z1 - m), np.exp(z2 - m), np.exp(z3 - m)
    total = e1 + e2 + e3
    return m + np.log(total), e1 / total, e2 / total, e3 / total


class ChinchillaModel(LogModel):
    """``log L = LSE(a - alpha log N, b - beta log D, e)``; internal ``(e, a, b, alpha, beta)``."""

    def __init__(self) -> None:
        super().__init__(ChinchillaLaw)

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
        one = np.ones_like(logN)
        # Point weights that turn sums of products of the softmax weights into the
        # entries of J^T diag(c) J (see _gram): columns 1, log N, log D, their squares.
        basis = np.stack([one, logN, logD, logN * logN, logN * logD, logD * logD], axis=1)
        return {"logN": logN, "logD": logD, "basis": basis}

    def weighted_hessian(self, theta: np.ndarray, X: Inputs, c: np.ndarray) -> np.ndarray:
        # d2f = sum_j p_j u_j u_j^T - g g^T with u_j the (constant) gradients of the terms.
        t1, t2, t3 = self._exp_terms(theta, X)
        total = t1 + t2 + t3
        p1, p2, p3 = t1 / total, t2 / total, t3 / total
        work = np.empty((6, *c.shape))
        return self._diagonal_terms(p1, p2, p3, X, c, work) - self._gram(p1, p2, p3, X, c, work)

    @staticmethod
    def _gram(
        p1: np.ndarray,
        p2: np.ndarray,
        p3: np.ndarray,
        X: Inputs,
        c: np.ndarray,
        work: np.ndarray,
    ) -> np.ndarray:
        """``sum_i c_i g_i g_i^T`` with ``g = (p3, p1, p2, -p1 log N, -p2 log D)``.

        Six products of softmax weights, each contracted with the point basis in one
        matrix product, instead of a ``K x n x 5`` Jacobian. ``work`` is a ``6 x K x n``
        buffer for the products.
        """
        products = work
        cp1, cp2, cp3 = products[0], products[3], products[5]
        np.multiply(c, p1, out=cp1)
        np.multiply(c, p2, out=cp2)
        np.multiply(c, p3, out=cp3)
        np.multiply(cp1, p2, out=products[1])
        np.multiply(cp1, p3, out=products[2])
        np.multiply(cp2, p3, out=products[4])
        cp1 *= p1
        cp2 *= p2
        cp3 *= p3
        m = products @ X["basis"]  # 6 x K x 6: per product, sums against 1, lN, lD, ...
        one, lN, lD, lN2, lNlD, lD2 = range(6)
        q11, q12, q13, q22, q23, q33 = m
        H = np.empty((c.shape[0], 5, 5))
        entries = {
            (0, 0): q33[:, one],
            (0, 1): q13[:, one],
            (0, 2): q23[:, one],
            (0, 3): -q13[:, lN],
            (0, 4): -q23[:, lD],
            (1, 1): q11[:, one],
            (1, 2): q12[:, one],
            (1, 3): -q11[:, lN],
            (1, 4): -q12[:, lD],
            (2, 2): q22[:, one],
            (2, 3): -q12[:, lN],
            (2, 4): -q22[:, lD],
            (3, 3): q11[:, lN2],
            (3, 4): q12[:, lNlD],
            (4, 4): q22[:, lD2],
        }
        for (i, j), value in entries.items():
            H[:, i, j] = H[:, j, i] = value
        return H

    @staticmethod
    def _diagonal_terms(
        p1: np.ndarray,
        p2: np.ndarray,
        p3: np.ndarray,
        X: Inputs,
        c: np.ndarray,
        work: np.ndarray,
    ) -> np.ndarray:
        """``sum_i c_i sum_j p_ij u_j u_j^T``: each term's own curvature (``work``: ``>= 2 x
        K x n``)."""
        np.multiply(c, p1, out=work[0])
        np.multiply(c, p2, out=work[1])
        s1, s2 = work[:2] @ X["basis"]
        H = np.zeros((c.shape[0], 5, 5))
        np.multiply(c, p3, out=work[0])
        H[:, 0, 0] = work[0].sum(axis=1)
        H[:, 1, 1] = s1[:, 0]
        H[:, 1, 3] = H[:, 3, 1] = -s1[:, 1]
        H[:, 3, 3] = s1[:, 3]
        H[:, 2, 2] = s2[:, 0]
        H[:, 2, 4] = H[:, 4, 2] = -s2[:, 2]
        H[:, 4, 4] = s2[:, 5]
        return H

    def huber_terms(
        self,
        theta: np.ndarray,
        X: Inputs,
        log_y: np.ndarray,
        w: np.ndarray | None,
        delta: float,
        curvature: str,
        scratch: Scratch,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fused Huber objective, gradient and curvature (the batched optimiser's hot loop).

        ``w``: point weights (``n`` or ``K x n``), ``None`` for unit weights. Every
        ``K x n`` temporary lives in ``scratch``, so repeated calls allocate nothing of
        that size.
        """
        shape = (theta.shape[0], log_y.size)
        p1, p2, p3, r, d1, c = (
            scratch.array(name, shape) for name in ("p1", "p2", "p3", "r", "d1", "c")
        )
        work = scratch.array("work", (6, *shape))
        e, a, b, alpha, beta = (theta[:, i : i + 1] for i in range(5))
        # The three terms A / N^alpha, B / D^beta, E (see _exp_terms: no overflow in bounds).
        np.multiply(alpha, X["logN"], out=p1)
        np.subtract(a, p1, out=p1)
        np.exp(p1, out=p1)
        np.multiply(beta, X["logD"], out=p2)
        np.subtract(b, p2, out=p2)
        np.exp(p2, out=p2)
        E = np.exp(e)
        np.add(p1, p2, out=p3)
        p3 += E
        np.log(p3, out=r)
        r -= log_y
        # Softmax weights p_j = term_j / L.
        np.divide(1.0, p3, out=p3)
        p1 *= p3
        p2 *= p3
        p3 *= E
        np.clip(r, -delta, delta, out=d1)  # rho'(r)
        np.multiply(d1, -0.5, out=c)
        c += r
        c *= d1  # rho(r) = rho'(r) (r - rho'(r) / 2)
        if w is not None:
            c *= w
            d1 *= w
        value = c.sum(axis=1)
        wd1 = d1
        np.multiply(wd1, p1, out=work[0])
        np.multiply(wd1, p2, out=work[1])
        np.multiply(wd1, p3, out=work[2])
        s = work[:3] @ X["basis"][:, :3]
        grad = np.stack([s[2, :, 0], s[0, :, 0], s[1, :, 0], -s[0, :, 1], -s[1, :, 2]], axis=1)
        np.abs(r, out=c)
        if curvature == "irls":
            np.maximum(c, delta, out=c)
            np.divide(delta, c, out=c)  # rho'(r) / r = min(1, delta / |r|)
            if w is not None:
                c *= w
            return value, grad, self._gram(p1, p2, p3, X, c, work)
        np.less_equal(c, delta, out=c)  # rho''(r)
        if w is not None:
            c *= w
        c -= wd1
        hess = self._gram(p1, p2, p3, X, c, work)
        return value, grad, hess + self._diagonal_terms(p1, p2, p3, X, wd1, work)


class PowerOffsetModel(LogModel):
    """``log L = log(E + exp(a - alpha log x))``; internal ``(E, a, alpha)``."""

    def __init__(self) -> None:
        super().__init__(PowerLawOffset)

    def prepare(self, data: Mapping[str, np.ndarray]) -> Inputs:
        return {"logx": np.log(np.asarray(data["x"], dtype=float))}

    def value_jac(self, theta: np.ndarray, X: Inputs) -> tuple[np.ndarray, np.ndarray]:
        E, a, alpha = theta[:, 0:1], theta[:, 1:2], theta[:, 2:3]
        term = np.exp(a - alpha * X["logx"])
        total = E + term
        share = term / total
        J = np.stack(
            [np.broadcast_to(1.0 / total, share.shape), share, -X["logx"] * share], axis=-1
        )
        return np.log(total), J


class KaplanOneModel(LogModel):
    """Kaplan's L(N), L(D), L(C): ``log L = alpha (log Xc - log X)``, internal (log Xc, alpha)."""

    def __init__(self, form: type[LawForm]) -> None:
        super().__init__(form)
        self.variable = form.inputs[0]

    def prepare(self, data: Mapping[str, np.ndarray]) -> Inputs:
        return {"logx": np.log(np.asarray(data[self.variable], dtype=float))}

    def value_jac(self, theta: np.ndarray, X: Inputs) -> tuple[np.ndarray, np.ndarray]:
        log_scale, alpha = theta[:, 0:1], theta[:, 1:2]
        gap = log_scale - X["logx"]
        J = np.stack([np.broadcast_to(alpha, gap.shape), gap], axis=-1)
        return alpha * gap, J


class KaplanNDModel(LogModel):
    """``log L = alphaD LSE((alphaN/alphaD)(log Nc - log N), log Dc - log D)``."""

    def __init__(self) -> None:
        super().__init__(KaplanND)

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


class DataConstrainedModel(LogModel):
    """Muennighoff et al. 2023 in log-sum-exp form on effective ``N'`` and ``D'``.

    Internal ``(e, a, b, alpha, beta, log R_D*, log R_N*)``;
    ``log L = LSE(a - alpha log N', b - beta log D', e)``.
    """

    def __init__(self) -> None:
        super().__init__(DataConstrainedLaw)

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
        f, p1, p2, p3 = _lse3(a - alpha * logNp, b - beta * logDp, np.broadcast_to(e, (len(e), 1)))
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


class TaskLossModel(LogModel):
    """``log L_task = a + alpha log L_lm``; internal ``(log A, alpha)``."""

    def __init__(self) -> None:
        super().__init__(TaskLossFromLM)

    def prepare(self, data: Mapping[str, np.ndarray]) -> Inputs:
        return {"logx": np.log(np.asarray(data["loss"], dtype=float))}

    def value_jac(self, theta: np.ndarray, X: Inputs) -> tuple[np.ndarray, np.ndarray]:
        a, alpha = theta[:, 0:1], theta[:, 1:2]
        f = a + alpha * X["logx"]
        J = np.stack([np.ones_like(f), np.broadcast_to(X["logx"], f.shape)], axis=-1)
        return f, J


class SigmoidModel(LogModel):
    """``log acc = log(a sigmoid(-k (L - L0)) + b)``; internal ``(a, b, k, L0)``."""

    def __init__(self) -> None:
        super().__init__(SigmoidAccuracy)

    def value_jac(self, theta: np.ndarray, X: Inputs) -> tuple[np.ndarray, np.ndarray]:
        a, b, k, L0 = (theta[:, i : i + 1] for i in range(4))
        x = X["task_loss"]
        s = 0.5 * (1.0 + np.tanh(-0.5 * k * (x - L0)))
        pred = a * s + b
        slope = a * s * (1.0 - s)
        J = np.stack([s, np.ones_like(s), -slope * (x - L0), slope * k], axis=-1) / pred[..., None]
        return np.log(pred), J


def model_for(form: type[LawForm]) -> LogModel:
    """The :class:`LogModel` of a law form."""
    builders = {
        ChinchillaLaw: ChinchillaModel,
        PowerLawOffset: PowerOffsetModel,
        KaplanND: KaplanNDModel,
        DataConstrainedLaw: DataConstrainedModel,
        TaskLossFromLM: TaskLossModel,
        SigmoidAccuracy: SigmoidModel,
    }
    if form in (KaplanN, KaplanD, KaplanC):
        return KaplanOneModel(form)
    if form not in builders:
        raise ScalingLabError(f"no fitting model for law form {form.form!r}")
    return builders[form]()


class HuberObjective:
    """Summed, weighted Huber loss of log residuals for ``K`` parameter vectors at once.

    ``weights`` is ``n`` (one weighting for all) or ``K x n`` (e.g. bootstrap counts).
    """

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
        self.scratch = Scratch()

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


class HuberLikelihood:
    """Negative log-likelihood of log residuals under a Huber density with learned scale.

    Parameters are the model's internal vector plus ``sigma`` (``scale = exp(sigma)``)
    as the last entry. Works on one vector at a time (scipy's optimisers call it).
    """

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
        self.weights = np.ones_like(self.log_y) if weights is None else np.asarray(weights, float)
        self.log_z = huber_log_normaliser(self.delta)

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
