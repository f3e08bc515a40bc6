"""GPT-2 weight initialisation, shared by the gpt and bert modules."""

from __future__ import annotations

import math

from torch import nn

INIT_STD = 0.02


def init_weights(model: nn.Module, n_layer: int) -> None:
    """GPT-2 initialisation: weights normal(0, 0.02), biases 0, LayerNorm (1, 0); the
    projections that write into the residual stream (names ending ``c_proj.weight``, or
    ``output.dense.weight`` in BERT) use ``0.02 / sqrt(2 n_layer)`` (Radford et al. 2019)."""
    residual_std = INIT_STD / math.sqrt(2 * n_layer)
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    for name, param in model.named_parameters():
        if name.endswith(("c_proj.weight", "output.dense.weight")):
            nn.init.normal_(param, mean=0.0, std=residual_std)
