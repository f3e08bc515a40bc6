"""Bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al. 2021) for BERT-family encoders.

The maintained ``adapters`` library pins transformers 4.x (1.3.0 wants ``~=4.57``), which
does not install beside the transformers 5 used here, so this is a small module of ours.

An adapter is ``h + up(act(down(h)))`` with ``down: d -> r`` and ``up: r -> d``, ``up``
initialised to zero so that a fresh adapter is the identity. It is applied, through a
forward hook, to the output projection of a sublayer *before* the residual sum and layer
norm, as in Houlsby's figure 2:

- ``houlsby``: after the attention output projection and after the FFN output projection;
- ``pfeiffer``: after the FFN output projection only.

The base model keeps its module names, so its own weights save as a plain Hugging Face
checkpoint; the adapter weights live under the attribute ``bottleneck_adapters`` (state
dict keys start with ``bottleneck_adapters.``) and save beside it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from scalinglab.errors import ScalingLabError

ADAPTER_ATTRIBUTE = "bottleneck_adapters"
_ATTENTION_SUFFIX = "attention.output.dense"
_FFN_SUFFIX = "output.dense"


@dataclass(frozen=True)
class AdapterConfig:
    """Bottleneck adapters: ``reduction_factor`` r gives a bottleneck of ``hidden // r``."""

    variant: str = "houlsby"
    reduction_factor: int = 16
    activation: str = "gelu"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class BottleneckAdapter(nn.Module):
    """``h + up(act(down(h)))``; zero-initialised ``up`` makes it start as the identity."""

    def __init__(self, hidden_size: int, bottleneck: int, activation: str) -> None:
        super().__init__()
        self.down = nn.Linear(hidden_size, bottleneck)
        self.up = nn.Linear(bottleneck, hidden_size)
        activations = {"gelu": nn.GELU, "relu": nn.ReLU, "tanh": nn.Tanh}
        if activation not in activations:
            raise ScalingLabError(
                f"unknown adapter activation {activation!r}; use one of {', '.join(activations)}"
            )
        self.act = activations[activation]()
        nn.init.normal_(self.down.weight, std=1e-2)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.up(self.act(self.down(hidden)))


def adapter_targets(model: nn.Module, variant: str) -> list[str]:
    """Names of the ``nn.Linear`` output projections that ``variant`` puts an adapter after."""
    if variant not in ("houlsby", "pfeiffer"):
        raise ScalingLabError(f"unknown adapter variant {variant!r}; use houlsby or pfeiffer")
    names = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear) or not name.endswith(_FFN_SUFFIX):
            continue
        is_attention = name.endswith(_ATTENTION_SUFFIX)
        if not is_attention or variant == "houlsby":
            names.append(name)
    if not names:
        raise ScalingLabError(
            "found no BERT-style sublayer output projections (*.output.dense) to put adapters "
            "after; use a BERT-family encoder (bert, roberta, electra, MiniLM) or another method"
        )
    return names


def add_adapters(model: nn.Module, config: AdapterConfig) -> nn.Module:
    """Attach bottleneck adapters to ``model`` in place and return it.

    Only the adapters are created here; which parameters train is decided by the caller.
    """
    hidden = model.config.hidden_size
    bottleneck = max(1, hidden // config.reduction_factor)
    targets = adapter_targets(model, config.variant)
    adapters = nn.ModuleDict(
        {_key(name): BottleneckAdapter(hidden, bottleneck, config.activation) for name in targets}
    )
    model.add_module(ADAPTER_ATTRIBUTE, adapters)
    model.config.bottleneck_adapters = config.to_dict()
    modules = dict(model.named_modules())
    for name in targets:
        adapter = adapters[_key(name)]
        modules[name].register_forward_hook(_AdapterHook(adapter))
    return model


def load_adapter_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load ``bottleneck_adapters.*`` tensors (as saved) into a model with adapters attached."""
    prefix = ADAPTER_ATTRIBUTE + "."
    inner = {key.removeprefix(prefix): value for key, value in state.items()}
    getattr(model, ADAPTER_ATTRIBUTE).load_state_dict(inner, strict=True)


StateDict = dict[str, torch.Tensor]


def split_adapter_state(model: nn.Module) -> tuple[StateDict, StateDict]:
    """``(base_state, adapter_state)``: the model's state dict split by owner."""
    prefix = ADAPTER_ATTRIBUTE + "."
    base, adapter = {}, {}
    for key, value in model.state_dict().items():
        (adapter if key.startswith(prefix) else base)[key] = value
    return base, adapter


def _key(module_name: str) -> str:
    return module_name.replace(".", "__")


class _AdapterHook:
    """Forward hook applying an adapter; an object (not a closure) so ``deepcopy`` follows it."""

    def __init__(self, adapter: BottleneckAdapter) -> None:
        self.adapter = adapter

    def __call__(self, _module: nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        return self.adapter(output)
