"""Well-proportioned shapes for a target size, and ladders of them (pure Python, no torch).

Rules, with their sources:

- **Aspect ratio** ``d_model / n_layer`` stays in ``[20, 200]``: Kaplan et al. 2020
  (Figure 5) found loss within a few percent of its best across that band at fixed
  non-embedding ``N``. Inside the band the ladder prefers 64, the ratio of GPT-2 small
  (768 / 12) and of most Chinchilla shapes (Hoffmann et al. 2022, Table A9): among the
  shapes within about 12% of the target ``N`` it takes the one whose ratio is nearest 64
  (on a log scale); when none is that close, the nearest in ``N``.
- **Head size** 64 (GPT-2, GPT-3, BERT, Chinchilla); for tiny widths (``d_model < 256``)
  32, so that tiny models still have several heads.
- **Width** ``d_model`` is a multiple of the head size (so a multiple of 64 from 256 up,
  of 32 below), at least 32; ``d_ff`` is the family's default (``4 d_model`` for gpt and
  bert, ``8/3 d_model`` rounded up for llama's SwiGLU); ``n_layer >= 1``.

``N`` here is Kaplan's non-embedding count (:func:`scalinglab.models.counting.count_params`
``.nonembed``), which depends on the family (BERT's masked-LM head and embedding
LayerNorm count as non-embedding) but barely on vocabulary or context. The discrete widths
and depths reach any target within 20% from ``N = 1e5``, 15% from ``3e5`` and 12% from
``1e6`` (tested); below 1e5 the gaps between the few tiny shapes are wider.

>>> shape = shape_for_params(1e6, family="gpt")
>>> (shape.n_layer, shape.d_model, shape.n_head)
(3, 160, 5)
>>> [s.d_model for s in ladder(1e5, 3e6, 5)]
[64, 96, 128, 192, 256]
>>> [(s.n_layer, s.d_model, s.n_head) for s in width_ladder((64, 128, 256))]
[(1, 64, 2), (1, 128, 4), (1, 256, 4)]
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.models.counting import count_params, describe
from scalinglab.models.families import get_family
from scalinglab.models.shape import Family, ShapeSpec

ASPECT_MIN = 20.0
ASPECT_MAX = 200.0
ASPECT_PREFERRED = 64.0
HEAD_DIM = 64
HEAD_DIM_TINY = 32
TINY_WIDTH = 256
MIN_WIDTH = 32
#: Candidates within this ``|ln(N / target)|`` (about +-12%) are ranked by aspect ratio alone.
SIZE_TOLERANCE = math.log(1.12)


def head_dim_for_width(d_model: int) -> int:
    """Head size for a width: 64, or 32 below ``d_model = 256``."""
    return HEAD_DIM_TINY if d_model < TINY_WIDTH else HEAD_DIM


def _widths_up_to(limit: int) -> list[int]:
    """Allowed widths up to ``limit``: multiples of 32 below 256, of 64 from 256."""
    tiny = list(range(MIN_WIDTH, TINY_WIDTH, HEAD_DIM_TINY))
    return tiny + list(range(TINY_WIDTH, limit + 1, HEAD_DIM))


def _make(family: Family, n_layer: int, d_model: int, vocab_size: int, n_ctx: int) -> ShapeSpec:
    return ShapeSpec.create(
        family,
        n_layer=n_layer,
        d_model=d_model,
        n_head=d_model // head_dim_for_width(d_model),
        vocab_size=vocab_size,
        n_ctx=n_ctx,
    )


def _nonembed(family: Family, n_layer: int, d_model: int, vocab_size: int, n_ctx: int) -> int:
    return count_params(_make(family, n_layer, d_model, vocab_size, n_ctx)).nonembed


def _depth_bound(target: float, aspect: float) -> float:
    """Depth at which ``12 n_layer d_model**2 = target`` with ``d_model = aspect n_layer``."""
    return (target / 12.0 / aspect**2) ** (1.0 / 3.0)


def _candidates(target: float, family: Family, vocab_size: int, n_ctx: int) -> list[ShapeSpec]:
    """For every depth that can reach the target inside the aspect band, the two allowed
    widths whose ``N`` brackets it (found by bisection, since ``N`` grows with width)."""
    min_layer = max(1, math.floor(_depth_bound(target, ASPECT_MAX)) - 1)
    max_layer = max(1, math.ceil(_depth_bound(target, ASPECT_MIN)) + 1)
    widths = _widths_up_to(int(ASPECT_MAX * max_layer) + HEAD_DIM)
    shapes = []
    for n_layer in range(min_layer, max_layer + 1):
        first = bisect.bisect_left(widths, ASPECT_MIN * n_layer)
        last = bisect.bisect_right(widths, ASPECT_MAX * n_layer) - 1
        if first > last:
            continue
        lo, hi = first, last
        while lo < hi:
            mid = (lo + hi) // 2
            if _nonembed(family, n_layer, widths[mid], vocab_size, n_ctx) >= target:
                hi = mid
            else:
                lo = mid + 1
        for i in sorted({max(first, lo - 1), lo}):
            shapes.append(_make(family, n_layer, widths[i], vocab_size, n_ctx))
    return shapes


def shape_for_params(
    target_n_nonembed: float,
    family: Family = "gpt",
    vocab_size: int | None = None,
    n_ctx: int | None = None,
) -> ShapeSpec:
    """The well-proportioned shape whose non-embedding parameter count is nearest
    ``target_n_nonembed`` (see the module docstring for the rules)."""
    target = float(target_n_nonembed)
    if not math.isfinite(target) or target < 1e4:
        raise ScalingLabError(
            f"target non-embedding parameter count {target_n_nonembed!r} is too small; "
            "use at least 1e4 (a 1-layer, 32-wide model has about 1.3e4)"
        )
    spec = get_family(family)
    vocab = vocab_size if vocab_size is not None else spec.default_vocab
    ctx = n_ctx if n_ctx is not None else spec.default_ctx
    shapes = _candidates(target, family, vocab, ctx)

    def size_error(shape: ShapeSpec) -> float:
        return abs(math.log(count_params(shape).nonembed / target))

    def aspect_error(shape: ShapeSpec) -> float:
        return abs(math.log(shape.aspect_ratio / ASPECT_PREFERRED))

    close = [s for s in shapes if size_error(s) <= SIZE_TOLERANCE]
    if close:
        return min(close, key=lambda s: (aspect_error(s), size_error(s)))
    return min(shapes, key=lambda s: (size_error(s), aspect_error(s)))


def ladder(
    n_min: float,
    n_max: float,
    count: int,
    family: Family = "gpt",
    vocab_size: int | None = None,
    n_ctx: int | None = None,
) -> list[ShapeSpec]:
    """``count`` shapes with non-embedding ``N`` spaced geometrically from ``n_min`` to
    ``n_max`` (each the :func:`shape_for_params` of its target), strictly increasing in N.
    """
    if count < 1:
        raise ScalingLabError(f"a ladder needs at least one shape, got count={count}")
    if not 0 < n_min <= n_max:
        raise ScalingLabError(f"need 0 < n_min <= n_max, got n_min={n_min}, n_max={n_max}")
    if count == 1:
        targets = [math.sqrt(n_min * n_max)]
    else:
        ratio = (n_max / n_min) ** (1.0 / (count - 1))
        targets = [n_min * ratio**i for i in range(count)]
    shapes = [shape_for_params(t, family, vocab_size, n_ctx) for t in targets]
    sizes = [count_params(s).nonembed for s in shapes]
    if any(b <= a for a, b in itertools.pairwise(sizes)):
        raise ScalingLabError(
            f"{count} shapes between {n_min:.3g} and {n_max:.3g} non-embedding parameters "
            "are too close to be distinct; widen the range or use fewer shapes"
        )
    return shapes


def width_ladder(
    widths: Sequence[int],
    *,
    n_layer: int = 1,
    family: Family = "gpt",
    vocab_size: int | None = None,
    n_ctx: int | None = None,
    head_dim: int | None = None,
) -> list[ShapeSpec]:
    """Shapes of one depth at several widths, so that only ``N`` changes between them
    (IsoFLOP curves, WSD studies); heads of ``head_dim`` (default
    :func:`head_dim_for_width`), the family's vocabulary and context unless given."""
    return [
        ShapeSpec.create(
            family,
            n_layer=n_layer,
            d_model=d,
            n_head=d // (head_dim or head_dim_for_width(d)),
            vocab_size=vocab_size,
            n_ctx=n_ctx,
        )
        for d in widths
    ]


def describe_ladder(
    n_min: float,
    n_max: float,
    count: int,
    family: Family = "gpt",
    vocab_size: int | None = None,
    n_ctx: int | None = None,
) -> list[dict[str, Any]]:
    """:func:`ladder`'s shapes, each as :func:`scalinglab.models.counting.describe` gives
    it (what ``scalinglab model ladder --json`` prints)."""
    return [describe(s) for s in ladder(n_min, n_max, count, family, vocab_size, n_ctx)]
