"""The compute-optimal frontier ``L*(C)`` of a fitted law: one function for every plot.

At compute ``C`` (FLOPs) a model of ``N`` parameters trains on ``D = C / cost(N)``
tokens, ``cost(N)`` being its FLOPs per token. :meth:`TokenCost.from_runs` reads the cost
off the runs table itself (its ``C / D`` at each size, interpolated in log-log), so the
frontier lives in the same ``C`` as the runs drawn beside it: ``6 N`` when the table's
``C`` is ``6ND`` (Epoch's data), the exact count (attention, unembedding) when a sweep
counted its FLOPs exactly. With an ``epochs`` column, no frontier run trains past one
epoch of the corpus (:func:`token_cap`). ``scalinglab fit --plot`` and ``scalinglab
report`` both draw :func:`frontier_loss` of the same runs, hence the same curve.

Units: ``C`` FLOPs, ``N`` parameters, ``D`` tokens, loss in nats per token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from scalinglab.laws.forms.base import LawForm

#: Range of ``ln N`` the frontier search covers (1 to 1e18 parameters).
LOG_N_RANGE = (0.0, float(np.log(1e18)))
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0
_ITERATIONS = 100  # shrinks the range by 0.618**100, below float resolution


@dataclass(frozen=True)
class TokenCost:
    """FLOPs per training token versus model size, piecewise linear in log-log.

    ``log_n`` (ascending) and ``log_flops`` are the knots. Beyond them the cost stays
    proportional to ``N`` at the nearest knot's FLOPs per parameter per token (the
    overheads that lift small models above ``6 N`` shrink with size, so this errs high
    rather than below ``6 N``). ``max_tokens``: most tokens a frontier run may train on.
    """

    log_n: np.ndarray
    log_flops: np.ndarray
    max_tokens: float | None = None

    @classmethod
    def six_nd(cls, max_tokens: float | None = None) -> TokenCost:
        """``C = 6 N D`` (Hoffmann et al.'s approximation)."""
        return cls(np.array([0.0]), np.array([np.log(6.0)]), max_tokens)

    @classmethod
    def from_runs(cls, runs: Any) -> TokenCost:
        """The cost the runs table shows: median ``ln(C / D)`` per size ``N``.

        ``runs`` has columns ``N``, ``D``, ``C`` (and optionally ``epochs``, see
        :func:`token_cap`).
        """
        N = np.asarray(runs["N"], dtype=float)
        per_token = np.log(np.asarray(runs["C"], dtype=float) / np.asarray(runs["D"], dtype=float))
        sizes = np.unique(N)
        log_flops = np.array([np.median(per_token[size == N]) for size in sizes])
        return cls(np.log(sizes), log_flops, token_cap(runs))

    def log_flops_per_token(self, log_n: np.ndarray) -> np.ndarray:
        """``ln`` FLOPs per token at sizes ``exp(log_n)``."""
        nearest = np.clip(log_n, self.log_n[0], self.log_n[-1])
        return np.interp(nearest, self.log_n, self.log_flops) + (log_n - nearest)


def token_cap(runs: Any) -> float | None:
    """The most tokens a predicted run may train on: one epoch of the corpus, i.e. the
    unique tokens of the runs table (columns ``D``, ``epochs``; the median of
    ``D / epochs``). A Chinchilla law counts every token as new; past one epoch repeats
    are worth less, and a law fitted on mostly first-epoch runs overestimates them
    (measured in the quickstart: targets at 2.2 and 3.4 epochs came out 5.5% and 6.6%
    worse than predicted, docs/quickstart.md). ``None`` when the table has no ``epochs``."""
    if "epochs" not in runs or not len(runs):
        return None
    return float(np.median(np.asarray(runs["D"], dtype=float) / np.asarray(runs["epochs"])))


def optimal_loss(
    loss: Callable[[np.ndarray, np.ndarray], np.ndarray], C: np.ndarray, cost: TokenCost
) -> np.ndarray:
    """``min over N of loss(N, C / cost(N))`` at each ``C``, by golden section in ``ln N``.

    ``loss(N, D)`` may broadcast ``C`` against parameter arrays (``K x 1`` bootstrap
    samples give ``K`` frontiers). Runs past ``cost.max_tokens`` are excluded, which
    raises the lower end of the search (fewer tokens need a larger model); the loss of
    a law of ``N`` and ``D`` is unimodal along ``C`` fixed, so the section finds it.
    """
    log_c = np.log(np.asarray(C, dtype=float))

    def at(log_n: np.ndarray) -> np.ndarray:
        return loss(np.exp(log_n), np.exp(log_c - cost.log_flops_per_token(log_n)))

    shape = np.shape(at(np.full_like(log_c, LOG_N_RANGE[0])))
    lo = np.broadcast_to(_smallest_log_n(log_c, cost), shape).copy()
    hi = np.full(shape, LOG_N_RANGE[1])
    lo = np.minimum(lo, hi)
    x1, x2 = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    f1, f2 = at(x1), at(x2)
    for _ in range(_ITERATIONS):
        left = f1 <= f2
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
        x1, x2 = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
        f1, f2 = at(x1), at(x2)
    return at(0.5 * (lo + hi))


def _smallest_log_n(log_c: np.ndarray, cost: TokenCost) -> np.ndarray:
    """Lowest ``ln N`` whose run at ``C`` stays within ``cost.max_tokens`` tokens.

    Found by bisection on the increasing ``ln cost(N)``; the range's bottom without a cap.
    """
    lo = np.full_like(log_c, LOG_N_RANGE[0])
    if cost.max_tokens is None:
        return lo
    needed = log_c - np.log(cost.max_tokens)  # ln FLOPs per token at least this
    hi = np.full_like(log_c, LOG_N_RANGE[1])
    for _ in range(_ITERATIONS):
        mid = 0.5 * (lo + hi)
        enough = cost.log_flops_per_token(mid) >= needed
        hi = np.where(enough, mid, hi)
        lo = np.where(enough, lo, mid)
    return hi


def frontier_loss(law: LawForm, C: np.ndarray, cost: TokenCost | None = None) -> np.ndarray | None:
    """Loss along the compute-optimal frontier ``L*(C)``, or ``None`` if ``law`` has none.

    The form decides (its ``frontier`` hook): a law of ``N`` and ``D`` is minimised
    over ``N`` at each ``C`` under ``cost`` (``6 N D`` by default, see
    :class:`TokenCost`); a law of ``C`` alone is evaluated directly. Parameters may be
    arrays (bootstrap samples, shape ``K x 1``) to get ``K`` curves.
    """
    return law.frontier(np.asarray(C, dtype=float), cost or TokenCost.six_nd())


def frontier_band(
    law: LawForm,
    samples: Mapping[str, Sequence[float]] | None,
    C: np.ndarray,
    ci_level: float = 0.95,
    cost: TokenCost | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Central ``ci_level`` band of the frontier over bootstrap ``samples`` of ``law``.

    ``samples`` maps each parameter name to its ``K`` bootstrap values; the frontier is
    evaluated for every sample at each ``C`` (FLOPs) and the percentiles taken.
    Returns ``(low, high)`` loss arrays, or ``None`` without samples or frontier.
    """
    if not samples:
        return None
    params = {name: np.asarray(samples[name], dtype=float)[:, None] for name in law.params}
    curves = frontier_loss(type(law)(**params), np.asarray(C, dtype=float)[None, :], cost)
    if curves is None:
        return None
    tail = 50.0 * (1.0 - ci_level)
    low, high = np.nanpercentile(curves, [tail, 100.0 - tail], axis=0)
    return low, high
