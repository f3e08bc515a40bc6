"""The maximal update parametrization (muP; Yang et al. 2022, "Tensor Programs V",
Table 3 for Adam), so that the best learning rate found at a small width transfers to
wider models.

With the width multiplier ``m = d_model / base_width`` (1 at the base width, where muP
and the standard parametrization, SP, agree but for the attention scale):

| weights | initial std | Adam learning rate | forward |
| --- | --- | --- | --- |
| embeddings (input weights), biases, LayerNorm gains | SP's | ``lr`` | as SP |
| hidden matrices (both dimensions grow with width) | SP's ``/ sqrt(m)`` | ``lr / m`` | as SP |
| readouts (unembedding, MLM decoder, classifiers) | SP's | ``lr`` | logits ``x 1/m`` |
| attention | | | scores ``q.k / d_head`` instead of ``/ sqrt(d_head)`` |

A readout tied to the token embedding keeps its tie: the ``1/m`` output multiplier alone
makes it a readout in muP's sense (as the ``mup`` package's shared readout does). Weight
decay stays AdamW's decoupled ``lr x wd`` per step, so a hidden matrix decays ``1/m`` as
fast as at the base width.

A model takes muP through :func:`apply_mup` after it is built; the optimizer takes the
per-parameter learning-rate factors of :func:`lr_multipliers` (``lr_scale`` in each
AdamW group, which the training loop multiplies into the scheduled rate).
"""

from __future__ import annotations

import copy
import dataclasses
import math

import torch
from torch import nn

#: Names (suffixes) of the readout layers of the built-in models: they map the width to
#: a fixed number of outputs (vocabulary, labels), so muP scales their output, not their
#: learning rate.
READOUT_SUFFIXES = ("lm_head", "predictions.decoder", "seq_relationship", "classifier")


def width_multiplier(model: nn.Module, base_width: int) -> float:
    """``m = d_model / base_width`` of a built model (``model.shape.d_model``)."""
    if base_width < 1:
        raise ValueError(f"the muP base width must be a positive width, got {base_width}")
    return model.shape.d_model / base_width  # type: ignore[union-attr]


def hidden_matrices(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """The linear layers whose input and output both grow with width: every
    ``nn.Linear`` that is not a readout (:data:`READOUT_SUFFIXES`)."""
    return [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and not name.endswith(READOUT_SUFFIXES)
    ]


@torch.no_grad()
def apply_mup(model: nn.Module, base_width: int) -> None:
    """Turn a freshly built (SP-initialised) model into its muP version in place: hidden
    matrices re-scaled to ``std / sqrt(m)``, attention scaled by ``1 / d_head``, every
    readout's logits by ``1 / m`` (see the module table)."""
    m = width_multiplier(model, base_width)
    for _, module in hidden_matrices(model):
        module.weight.mul_(1.0 / math.sqrt(m))
    for module in model.modules():
        if hasattr(module, "query_multiplier"):
            head_dim = model.shape.d_model // model.shape.n_head  # type: ignore[union-attr]
            module.query_multiplier = 1.0 / math.sqrt(head_dim)
        if hasattr(module, "output_multiplier"):
            module.output_multiplier = 1.0 / m


def folded_copy(model: nn.Module) -> nn.Module:
    """A copy of a muP model in the standard layout with the same outputs: every query
    multiplier multiplied into its query projection, every output multiplier into its
    readout. A readout tied to the token embedding is untied (its weight is then the
    embedding times ``1/m``), and the copy's ``shape`` says so, so a Hugging Face export
    of the copy gives the muP model's logits with stock ``transformers`` classes."""
    folded = copy.deepcopy(model)
    tied = _tied_readout(folded)
    for module in folded.modules():
        if getattr(module, "query_multiplier", 1.0) != 1.0:
            module.fold_query_multiplier()  # type: ignore[operator]
        if getattr(module, "output_multiplier", 1.0) != 1.0:
            module.fold_output_multiplier()  # type: ignore[operator]
    if tied and not _tied_readout(folded):
        folded.shape = dataclasses.replace(folded.shape, tied_embeddings=False)  # type: ignore[union-attr]
    return folded


def _tied_readout(model: nn.Module) -> bool:
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    return any(
        id(module.weight) in embeddings
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and name.endswith(READOUT_SUFFIXES)
    )


def lr_multipliers(model: nn.Module, base_width: int) -> dict[int, float]:
    """``{id(parameter): factor}`` for AdamW: ``1 / m`` for hidden matrices' weights,
    absent (1) for everything else."""
    m = width_multiplier(model, base_width)
    return {id(module.weight): 1.0 / m for _, module in hidden_matrices(model)}
