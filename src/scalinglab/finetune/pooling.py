"""How a sequence classifier turns token states into the one vector its head reads.

- ``mean`` (the default): the mean of the last hidden states over the real tokens
  (attention mask 1), in place of the BERT pooler's ``tanh(W h_[CLS] + b)``. Measured on
  the truncated MiniLM ladder (docs/finetune.md): in ``minilm-L1``/``minilm-L2`` the
  [CLS] state is nearly the same for every text, so a head reading it starts from a
  constant feature and training stays at the majority class, even on a trivially
  separable set; mean pooling learns at every rung.
- ``cls``: the model's own head (for BERT: the pretrained pooler over [CLS]).

Mean pooling is a forward hook on the encoder (``model.base_model``) that overwrites
``pooler_output`` with the masked mean; nothing in the weights changes, so a saved
classifier records its pooling in ``scalinglab.json`` and :func:`apply_pooling` is
called again on load. The hook reads the attention mask of the same call, so it holds
no state between calls (safe with threads and with peft's prompt tokens, whose mask
peft extends before calling the encoder).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from scalinglab.errors import ScalingLabError

POOLINGS = ("mean", "cls")
DEFAULT_POOLING = "mean"


def apply_pooling(model: nn.Module, pooling: str) -> nn.Module:
    """Make ``model`` (a Hugging Face sequence classifier) pool with ``pooling``; returns it.

    ``mean`` needs an encoder whose head reads ``pooler_output`` (BERT-family models
    with a pooler); other architectures take ``cls``, their own head.
    """
    if pooling not in POOLINGS:
        raise ScalingLabError(f"unknown pooling {pooling!r}; use one of: {', '.join(POOLINGS)}")
    if pooling == "cls":
        return model
    encoder = getattr(model, "base_model", model)
    if getattr(encoder, "pooler", None) is None:
        raise ScalingLabError(
            f"pooling 'mean' needs a BERT-style encoder with a pooler; "
            f"{type(model).__name__} has none: use --pooling cls"
        )
    encoder.register_forward_hook(_mean_pool, with_kwargs=True)
    return model


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``hidden`` (batch, tokens, width) over tokens whose ``mask`` is 1."""
    if mask is None:
        return hidden.mean(dim=1)
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def _mean_pool(module: nn.Module, args: tuple, kwargs: dict[str, Any], output: Any) -> Any:
    mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)
    output["pooler_output"] = masked_mean(output["last_hidden_state"], mask)
    return output
