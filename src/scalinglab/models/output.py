"""What every model's ``forward`` returns (plain data; no torch import needed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ModelOutput:
    """``logits``: ``(batch, seq, vocab)`` for language models, ``(batch, num_labels)`` for
    classifiers. ``loss``: mean cross-entropy in nats over the labelled positions (``None``
    without labels). ``seq_relationship_logits``: BERT's next-sentence logits
    ``(batch, 2)`` when the shape has ``nsp``."""

    logits: Any
    loss: Any = None
    seq_relationship_logits: Any = None
