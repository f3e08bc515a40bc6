"""Synthetic runs from a known law: IsoFLOP designs for tests, benchmarks and bias studies.

>>> from scalinglab.laws import ChinchillaLaw
>>> law = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
>>> runs = isoflop_design(law, [1e18, 1e19, 1e20], sizes_per_budget=7)
>>> sorted(runs), len(runs["N"])
(['C', 'D', 'N', 'loss'], 21)
>>> grid = size_token_grid(law, [1e6, 1e7], [10.0, 20.0, 40.0])
>>> len(grid["N"]), grid["D"][:3].tolist()
(6, [10000000.0, 20000000.0, 40000000.0])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scalinglab.laws.forms import ChinchillaLaw

FLOPS_PER_PARAM_TOKEN = 6.0


def isoflop_design(
    law: ChinchillaLaw,
    budgets: Sequence[float],
    *,
    sizes_per_budget: int = 9,
    span: float = 4.0,
    offset: float | Sequence[float] = 1.0,
    noise: float = 0.0,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Runs on an IsoFLOP grid around the law's own optimum, with multiplicative noise.

    For each budget ``C`` (FLOPs), ``sizes_per_budget`` model sizes log-spaced over
    ``[N*/span, N*·span] · offset`` (``N*`` the law's compute-optimal size; ``offset`` != 1
    centres the grid off the optimum; one offset per budget lets the centre drift, as
    when the grid follows a guessed ``N*(C)`` with a wrong exponent), ``D = C / (6 N)``
    tokens and
    ``loss = law(N, D) · (1 + noise · z)`` with ``z`` standard normal (seeded).
    """
    rng = np.random.default_rng(seed)
    C = np.repeat(np.asarray(budgets, dtype=float), sizes_per_budget)
    n_star, _ = law.compute_optimal(C, FLOPS_PER_PARAM_TOKEN)
    ratios = np.geomspace(1.0 / span, span, sizes_per_budget)
    offsets = np.repeat(
        np.broadcast_to(np.asarray(offset, dtype=float), (len(budgets),)), sizes_per_budget
    )
    N = n_star * offsets * np.tile(ratios, len(budgets))
    D = C / (FLOPS_PER_PARAM_TOKEN * N)
    loss = law.predict(N, D) * (1.0 + noise * rng.standard_normal(len(C)))
    return {"N": N, "D": D, "C": C, "loss": loss}


def size_token_grid(
    law: ChinchillaLaw,
    sizes: Sequence[float],
    tokens_per_param: Sequence[float],
    *,
    noise: float = 0.0,
    size_noise: float = 0.0,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Runs on a full grid of model sizes ``N`` x token budgets ``D = r N`` (one run per
    size and ratio ``r``, as a ladder or a WSD design trains), with the noise of
    :func:`isoflop_design`; ``C = 6 N D``.

    ``size_noise`` misspecifies the law by size: every run of a size shares that size's
    factor ``exp(size_noise · u)``, ``u`` standard normal (seeded), as when each size has
    its own architecture or tuning, so runs of one size are not independent draws.
    """
    rng = np.random.default_rng(seed)
    N = np.repeat(np.asarray(sizes, dtype=float), len(tokens_per_param))
    D = N * np.tile(np.asarray(tokens_per_param, dtype=float), len(sizes))
    loss = law.predict(N, D) * (1.0 + noise * rng.standard_normal(len(N)))
    offsets = np.exp(size_noise * rng.standard_normal(len(sizes)))
    loss = loss * np.repeat(offsets, len(tokens_per_param))
    return {"N": N, "D": D, "C": FLOPS_PER_PARAM_TOKEN * N * D, "loss": loss}
