"""The compute-optimal run of a fitted law over real shapes, with exact FLOPs.

Chinchilla's closed form ``N*(C)`` assumes ``C = 6 N D``. For the small models a CPU
trains, the exact cost per token (attention over the context, the unembedding) is far
above ``6 N`` with Kaplan's non-embedding ``N``, so the closed form would put the optimum
at the wrong place. Here the optimum is searched over given candidate shapes (the
quickstart's): each candidate spends ``C`` on
``C / flops_per_token(shape)`` tokens, and the law (of non-embedding ``N`` and ``D``)
ranks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.laws.forms import ChinchillaLaw
from scalinglab.models.counting import count_params, flops_per_token
from scalinglab.models.shape import ShapeSpec


@dataclass(frozen=True)
class OptimalRun:
    """The best candidate at ``flops``: its shape, tokens and the law's loss there."""

    shape: ShapeSpec
    tokens: int
    flops: float
    predicted_loss: float

    @property
    def n_params_nonembed(self) -> int:
        return count_params(self.shape).nonembed


def _arrays(shapes: Sequence[ShapeSpec]) -> tuple[np.ndarray, np.ndarray]:
    n = np.array([count_params(s).nonembed for s in shapes], dtype=float)
    per_token = np.array([flops_per_token(s).exact for s in shapes], dtype=float)
    return n, per_token


def optimal_run(
    law: ChinchillaLaw,
    flops: float,
    shapes: Sequence[ShapeSpec],
    max_tokens: float | None = None,
) -> OptimalRun:
    """The candidate shape with the lowest predicted loss at ``flops`` FLOPs; with
    ``max_tokens`` (e.g. :func:`scalinglab.laws.frontier.token_cap`: past it the law
    would extrapolate in data repetition), only candidates that train on at most that
    many tokens."""
    n, per_token = _arrays(shapes)
    tokens = np.floor(flops / per_token)
    losses = law.predict(N=n, D=np.maximum(tokens, 1.0))
    if max_tokens is not None:
        losses = np.where(tokens <= max_tokens, losses, np.nan)
        if np.isnan(losses).all():
            raise ScalingLabError(
                f"every candidate shape needs more than {max_tokens:.3g} tokens at "
                f"{flops:.3g} FLOPs; allow larger shapes or more tokens"
            )
    best = int(np.nanargmin(losses))
    return OptimalRun(shapes[best], int(tokens[best]), float(flops), float(losses[best]))
