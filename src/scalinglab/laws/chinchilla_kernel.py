"""The fused Chinchilla kernel: Huber objective, gradient and curvature in one pass.

The batched optimiser spends nearly all its time here on Chinchilla's form
``log L = LSE(a - alpha log N, b - beta log D, e)`` (internal ``(e, a, b, alpha, beta)``).
Instead of a ``K x n x 5`` Jacobian, the second derivatives are written as six products
of the softmax weights ``p_j = term_j / L``, each contracted with a per-point basis
(1, log N, log D and their products, :func:`point_basis`) in one matrix product; every
``K x n`` temporary lives in a reused :class:`~scalinglab.laws.objectives.Scratch`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from scalinglab.laws.log_model import Inputs

if TYPE_CHECKING:
    from scalinglab.laws.objectives import Scratch


def point_basis(logN: np.ndarray, logD: np.ndarray) -> np.ndarray:
    """Point weights ``n x 6`` that turn sums of products of the softmax weights into the
    entries of ``J^T diag(c) J`` (see :func:`gram`): 1, log N, log D, their products."""
    one = np.ones_like(logN)
    return np.stack([one, logN, logD, logN * logN, logN * logD, logD * logD], axis=1)


def gram(
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


def diagonal_terms(
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
    # The three terms A / N^alpha, B / D^beta, E (no overflow within the form's bounds).
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
        return value, grad, gram(p1, p2, p3, X, c, work)
    np.less_equal(c, delta, out=c)  # rho''(r)
    if w is not None:
        c *= w
    c -= wd1
    hess = gram(p1, p2, p3, X, c, work)
    return value, grad, hess + diagonal_terms(p1, p2, p3, X, wd1, work)
