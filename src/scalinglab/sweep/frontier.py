"""The compute-optimal run of a fitted law over real shapes, with exact FLOPs.

Chinchilla's closed form ``N*(C)`` assumes ``C = 6 N D``. For the small models a CPU
trains, the exact cost per token (attention over the context, the unembedding) is far
above ``6 N`` with Kaplan's non-embedding ``N``, so the closed form would put the optimum
at the wrong place. Here the optimum is searched over the well-proportioned shapes of
:func:`scalinglab.models.ladder.shape_for_params`: each candidate spends ``C`` on
``C / flops_per_token(shape)`` tokens, and the law (of non-embedding ``N`` and ``D``)
ranks them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.laws.forms import ChinchillaLaw
from scalinglab.models.counting import count_params, flops_per_token
from scalinglab.models.ladder import shape_for_params
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


def candidate_shapes(
    n_min: float,
    n_max: float,
    *,
    family: str = "gpt",
    vocab_size: int | None = None,
    n_ctx: int | None = None,
    per_decade: int = 24,
) -> list[ShapeSpec]:
    """Distinct shapes whose non-embedding N spans ``[n_min, n_max]`` densely."""
    count = max(2, int(np.ceil(np.log10(n_max / n_min) * per_decade)) + 1)
    shapes: list[ShapeSpec] = []
    for target in np.geomspace(max(n_min, 1e4), n_max, count):
        shape = shape_for_params(float(target), family, vocab_size, n_ctx)  # type: ignore[arg-type]
        if shape not in shapes:
            shapes.append(shape)
    return shapes


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
    ``max_tokens`` (e.g. :func:`token_cap`: past it the law would extrapolate in data
    repetition), only candidates that train on at most that many tokens."""
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


def frontier(
    params: Mapping[str, float | np.ndarray],
    flops: np.ndarray,
    shapes: Sequence[ShapeSpec],
    max_tokens: float | None = None,
) -> np.ndarray:
    """Loss of the best candidate at each of ``flops`` (NaN where no candidate qualifies);
    with ``K`` parameter samples (arrays), a ``K x len(flops)`` array, one frontier per
    sample. ``max_tokens`` as in :func:`optimal_run`."""
    n, per_token = _arrays(shapes)
    law = ChinchillaLaw(
        **{
            k: np.asarray(params[k], dtype=float)[..., None, None]
            for k in ChinchillaLaw.parameter_names()
        }
    )
    tokens = np.maximum(np.floor(np.asarray(flops)[:, None] / per_token[None, :]), 1.0)
    losses = law.predict(N=n[None, :], D=tokens)
    excluded = np.isnan(losses)
    if max_tokens is not None:
        excluded = excluded | (tokens > max_tokens)
    best = np.where(excluded, np.inf, losses).min(axis=-1)
    return np.where(np.isfinite(best), best, np.nan)


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
