"""A well-proportioned shape for a planned parameter count (ladder rules, no torch).

Chinchilla-form laws count all parameters ``N``; the ladder rules
(:func:`scalinglab.models.ladder.shape_for_params`) target the non-embedding count, so the
embedding matrices of the chosen vocabulary and context are subtracted first (with an
estimate of the width: ``12 L d**2 = N`` at the ladder's preferred aspect ratio
``d / L = 64``). Kaplan's laws count non-embedding parameters already.
:func:`shape_figures` reports the shape and its exact training FLOPs beside ``6ND``.
"""

from __future__ import annotations

from functools import lru_cache

from scalinglab.errors import ScalingLabError
from scalinglab.models.counting import count_params
from scalinglab.models.ladder import ASPECT_PREFERRED, shape_for_params
from scalinglab.models.shape import ShapeSpec
from scalinglab.plan.figure import Figure


def estimated_depth_and_width(n: float) -> tuple[int, int]:
    """``(n_layer, d_model)`` of a block stack of ``n`` parameters at the ladder's preferred
    aspect ratio: ``12 L d**2 = n`` with ``d = 64 L``. Cheap; used where only ``L d``
    matters (KV cache, attention FLOPs) for many sizes at once."""
    width = (ASPECT_PREFERRED * n / 12.0) ** (1.0 / 3.0)
    return max(1, round(width / ASPECT_PREFERRED)), max(1, round(width))


@lru_cache(maxsize=64)
def shape_for_law_n(n: float, n_kind: str, family: str, vocab_size: int, n_ctx: int) -> ShapeSpec:
    """The ladder shape whose ``n_kind`` count (``total`` or ``nonembed``) is nearest ``n``."""
    if n_kind == "nonembed":
        return shape_for_params(n, family, vocab_size, n_ctx)  # type: ignore[arg-type]
    nonembed = n - (vocab_size + n_ctx) * estimated_depth_and_width(n)[1]
    if nonembed < 1e4:
        raise ScalingLabError(
            f"N = {n:.3g} leaves no room for a transformer beside a {vocab_size}-token "
            "embedding; plan a larger budget or a smaller --vocab"
        )
    return shape_for_params(nonembed, family, vocab_size, n_ctx)  # type: ignore[arg-type]


def shape_figures(shape: ShapeSpec, flops_6nd: float, flops_exact: float) -> list[Figure]:
    """The shape planned for ``N*``, its exact parameter count, and its training FLOPs:
    the laws' ``6ND`` and the exact count for the shape (``flops_exact``)."""
    return [
        Figure(
            "shape",
            "shape for N*",
            f"{shape.n_layer} layers x d_model {shape.d_model}, {shape.n_head} heads, "
            f"d_ff {shape.d_ff}",
            "",
            "derived",
            f"ladder rules (scalinglab.models.ladder), vocab {shape.vocab_size}, "
            f"context {shape.n_ctx}",
        ),
        Figure(
            "shape",
            "parameters of the shape",
            count_params(shape).total,
            "params",
            "derived",
            "exact count",
        ),
        Figure(
            "training", "FLOPs 6ND", flops_6nd, "FLOPs", "derived", "6 N* D* (the laws' convention)"
        ),
        Figure(
            "training",
            "FLOPs exact for the shape",
            flops_exact,
            "FLOPs",
            "derived",
            f"3 x forward matmul FLOPs per token x D* ({flops_exact / flops_6nd:.3f} x 6ND)",
        ),
    ]
