"""One builder for every family: ``build_model(shape)`` (imports torch)."""

from __future__ import annotations

from torch import nn

from scalinglab.models.bert import BertForMaskedLM, BertForSequenceClassification
from scalinglab.models.gpt import GPT
from scalinglab.models.shape import ShapeSpec


def build_model(shape: ShapeSpec, dropout: float = 0.0, num_labels: int | None = None) -> nn.Module:
    """The pretraining model of ``shape``: :class:`~scalinglab.models.gpt.GPT` for gpt,
    :class:`~scalinglab.models.bert.BertForMaskedLM` for bert; with ``num_labels`` (bert
    only), a :class:`~scalinglab.models.bert.BertForSequenceClassification`. Weights get
    the GPT-2 initialisation; ``dropout`` applies to embeddings, attention and residuals.
    """
    if shape.family == "gpt":
        if num_labels is not None:
            raise ValueError("sequence classification heads exist only for the bert family")
        return GPT(shape, dropout=dropout)
    if num_labels is not None:
        return BertForSequenceClassification(shape, num_labels=num_labels, dropout=dropout)
    return BertForMaskedLM(shape, dropout=dropout)
