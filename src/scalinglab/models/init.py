"""GPT-2 weight initialisation, shared by the gpt, bert and llama modules."""

from __future__ import annotations

import math

from torch import nn

INIT_STD = 0.02
#: Parameter-name endings of the projections that write into the residual stream.
RESIDUAL_PROJECTIONS = ("c_proj.weight", "output.dense.weight", "o_proj.weight", "down_proj.weight")


def init_weights(model: nn.Module, n_layer: int) -> None:
    """GPT-2 initialisation: weights normal(0, 0.02), biases 0, LayerNorm (1, 0), RMSNorm
    gain 1; the projections that write into the residual stream (names ending
    ``c_proj.weight``, ``output.dense.weight`` in BERT, ``o_proj.weight`` and
    ``down_proj.weight`` in Llama) use ``0.02 / sqrt(2 n_layer)`` (Radford et al. 2019)."""
    residual_std = INIT_STD / math.sqrt(2 * n_layer)
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.RMSNorm):
            nn.init.ones_(module.weight)
    for name, param in model.named_parameters():
        if name.endswith(RESIDUAL_PROJECTIONS):
            nn.init.normal_(param, mean=0.0, std=residual_std)
