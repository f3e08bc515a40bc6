"""Shapes of the model families: the few integers that fix a transformer's size.

A :class:`ShapeSpec` is plain data (no torch), so the planner and the sweep designer can
reason about shapes on machines without torch. What each field means for a family, its
defaults and the checks beyond these are declared by the family in
:mod:`scalinglab.models.families`; the torch modules are built from a shape there.

>>> shape = ShapeSpec.create("gpt", n_layer=4, d_model=128)
>>> shape.n_head, shape.d_ff, shape.head_dim
(2, 512, 64)
>>> llama = ShapeSpec.create("llama", n_layer=4, d_model=128, n_kv_head=1)
>>> llama.n_head, llama.n_kv_head, llama.d_ff
(2, 1, 352)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.models.families import get_family

#: A family name registered in :mod:`scalinglab.models.families`.
Family = str
DEFAULT_HEAD_DIM = 64


@dataclass(frozen=True)
class ShapeSpec:
    """Architecture of one model.

    ``gpt``: decoder-only causal LM in the GPT-2 layout (learned positions, pre-LayerNorm,
    GELU MLP, biases, final LayerNorm, unembedding tied to the token embedding unless
    ``tied_embeddings`` is false). ``bert``: encoder in the BERT layout (learned positions,
    two token types, post-LayerNorm) with a masked-LM head whose decoder is tied to the
    token embedding; ``nsp`` adds the pooler and next-sentence head. ``llama``:
    decoder-only causal LM in the Llama layout (RoPE, pre-RMSNorm, SwiGLU MLP of width
    ``d_ff``, no biases). ``n_kv_head`` is the number of key/value heads (grouped-query
    attention when below ``n_head``; families without it keep ``n_kv_head = n_head``);
    left ``None`` it becomes ``n_head``.
    """

    family: Family
    n_layer: int
    d_model: int
    n_head: int
    d_ff: int
    vocab_size: int
    n_ctx: int
    tied_embeddings: bool = True
    nsp: bool = False
    n_kv_head: int | None = None

    def __post_init__(self) -> None:
        family = get_family(self.family)
        if self.n_kv_head is None:
            object.__setattr__(self, "n_kv_head", self.n_head)
        for name in ("n_layer", "d_model", "n_head", "n_kv_head", "d_ff", "vocab_size", "n_ctx"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ScalingLabError(
                    f"shape field {name} must be a positive integer, got {value!r}"
                )
        if self.d_model % self.n_head:
            raise ScalingLabError(
                f"d_model {self.d_model} is not divisible by n_head {self.n_head}; "
                "choose n_head so that d_model / n_head is an integer (64 is usual)"
            )
        self._check_family_options(family.supports_nsp, family.supports_gqa)

    def _check_family_options(self, supports_nsp: bool, supports_gqa: bool) -> None:
        if self.nsp and not supports_nsp:
            raise ScalingLabError(
                f"next-sentence prediction (nsp) does not exist in the {self.family} family"
            )
        if self.n_kv_head != self.n_head and not supports_gqa:
            raise ScalingLabError(
                f"the {self.family} family has one key/value head per query head; "
                f"leave n_kv_head unset (got {self.n_kv_head} for {self.n_head} heads)"
            )
        if self.n_head % self.n_kv_head:  # type: ignore[operator]
            raise ScalingLabError(
                f"n_head {self.n_head} is not a multiple of n_kv_head {self.n_kv_head}; "
                "each key/value head must serve the same number of query heads"
            )

    @classmethod
    def create(
        cls,
        family: Family,
        n_layer: int,
        d_model: int,
        n_head: int | None = None,
        d_ff: int | None = None,
        vocab_size: int | None = None,
        n_ctx: int | None = None,
        tied_embeddings: bool = True,
        nsp: bool = False,
        n_kv_head: int | None = None,
    ) -> ShapeSpec:
        """A shape with the usual defaults: head size 64, ``n_kv_head = n_head``, and the
        family's MLP width (``4 d_model`` for gpt and bert), vocabulary and context."""
        spec = get_family(family)
        if n_head is None:
            n_head = max(1, d_model // DEFAULT_HEAD_DIM)
        return cls(
            family=family,
            n_layer=n_layer,
            d_model=d_model,
            n_head=n_head,
            d_ff=d_ff if d_ff is not None else spec.default_d_ff(d_model),
            vocab_size=vocab_size if vocab_size is not None else spec.default_vocab,
            n_ctx=n_ctx if n_ctx is not None else spec.default_ctx,
            tied_embeddings=tied_embeddings,
            nsp=nsp,
            n_kv_head=n_kv_head,
        )

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def aspect_ratio(self) -> float:
        """``d_model / n_layer``, the width-to-depth ratio that ladders keep in a band."""
        return self.d_model / self.n_layer

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShapeSpec:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ScalingLabError(
                f"unknown shape fields {', '.join(unknown)}; "
                f"known fields: {', '.join(sorted(known))}"
            )
        return cls(**data)
