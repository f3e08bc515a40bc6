"""One builder for every family: ``build_model(shape)`` (imports torch)."""

from __future__ import annotations

from torch import nn

from scalinglab.models.families import family_names, get_family
from scalinglab.models.shape import ShapeSpec


def build_model(shape: ShapeSpec, dropout: float = 0.0, num_labels: int | None = None) -> nn.Module:
    """The pretraining model of ``shape``, as its family builds it (e.g.
    :class:`~scalinglab.models.gpt.GPT`, :class:`~scalinglab.models.bert.BertForMaskedLM`,
    :class:`~scalinglab.models.llama.Llama`); with ``num_labels``, the family's sequence
    classifier (bert). Weights get the GPT-2 initialisation; ``dropout`` applies to
    embeddings, attention and residuals.
    """
    family = get_family(shape.family)
    if num_labels is not None and not family.classifier:
        with_head = [name for name in family_names() if get_family(name).classifier]
        raise ValueError(
            f"the {family.name} family has no sequence classification head; "
            f"families with one: {', '.join(with_head)}"
        )
    return family.build(shape, dropout, num_labels)
