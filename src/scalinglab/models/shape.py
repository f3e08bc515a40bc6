"""Shapes of the model families: the few integers that fix a transformer's size.

A :class:`ShapeSpec` is plain data (no torch), so the planner and the sweep designer can
reason about shapes on machines without torch. The torch modules are built from it in
:mod:`scalinglab.models.gpt` and :mod:`scalinglab.models.bert`.

>>> shape = ShapeSpec.create("gpt", n_layer=4, d_model=128)
>>> shape.n_head, shape.d_ff, shape.head_dim
(2, 512, 64)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from scalinglab.errors import ScalingLabError

Family = Literal["gpt", "bert"]
FAMILIES: tuple[str, ...] = ("gpt", "bert")

DEFAULT_VOCAB = {"gpt": 8192, "bert": 8192}
DEFAULT_CTX = {"gpt": 256, "bert": 128}
DEFAULT_HEAD_DIM = 64


@dataclass(frozen=True)
class ShapeSpec:
    """Architecture of one model.

    ``gpt``: decoder-only causal LM in the GPT-2 layout (learned positions, pre-LayerNorm,
    GELU MLP, biases, final LayerNorm, unembedding tied to the token embedding unless
    ``tied_embeddings`` is false). ``bert``: encoder in the BERT layout (learned positions,
    two token types, post-LayerNorm) with a masked-LM head whose decoder is tied to the
    token embedding; ``nsp`` adds the pooler and next-sentence head.
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

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ScalingLabError(
                f"unknown model family {self.family!r}; use one of {', '.join(FAMILIES)}"
            )
        for name in ("n_layer", "d_model", "n_head", "d_ff", "vocab_size", "n_ctx"):
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
        if self.nsp and self.family != "bert":
            raise ScalingLabError("next-sentence prediction (nsp) exists only for the bert family")

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
    ) -> ShapeSpec:
        """A shape with the usual defaults: head size 64, ``d_ff = 4 d_model``."""
        if n_head is None:
            n_head = max(1, d_model // DEFAULT_HEAD_DIM)
        return cls(
            family=family,
            n_layer=n_layer,
            d_model=d_model,
            n_head=n_head,
            d_ff=d_ff if d_ff is not None else 4 * d_model,
            vocab_size=vocab_size if vocab_size is not None else DEFAULT_VOCAB.get(family, 8192),
            n_ctx=n_ctx if n_ctx is not None else DEFAULT_CTX.get(family, 256),
            tied_embeddings=tied_embeddings,
            nsp=nsp,
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
