"""Fine-tuning methods: one config dataclass per method, one ``apply_method`` (peft style).

``apply_method(model, config)`` takes a Hugging Face sequence classifier and returns the
model to train, with ``requires_grad`` set on exactly the parameters the method trains:

| method  | trains                                                            |
| ------- | ----------------------------------------------------------------- |
| full    | every parameter                                                   |
| lora    | ``lora_A``/``lora_B`` of the attention query/value projections + head (peft) |
| adapter | bottleneck adapters (+ layer norms for Houlsby) + head (ours, see adapters.py) |
| prompt  | the virtual prompt embeddings + head (peft prompt tuning)         |
| bitfit  | every bias + the head (Ben Zaken et al. 2022)                     |

"Head" is the classification head of the model (``classifier`` for BERT-family models).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from scalinglab.errors import ScalingLabError
from scalinglab.finetune.adapters import ADAPTER_ATTRIBUTE, AdapterConfig, add_adapters

HEAD_NAMES = ("classifier", "score")


@dataclass(frozen=True)
class FullConfig:
    """Full fine-tuning: every parameter trains."""

    method: str = "full"


@dataclass(frozen=True)
class LoraMethodConfig:
    """LoRA (Hu et al. 2021) through peft: rank ``r``, scale ``alpha / r``.

    ``target_modules`` ``None`` lets peft pick the attention projections it knows for the
    architecture (query and value for BERT).
    """

    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    target_modules: tuple[str, ...] | None = None
    method: str = "lora"


@dataclass(frozen=True)
class AdapterMethodConfig:
    """Bottleneck adapters: ``variant`` houlsby|pfeiffer, bottleneck ``hidden // reduction``."""

    variant: str = "houlsby"
    reduction_factor: int = 16
    activation: str = "gelu"
    train_layer_norms: bool = True
    method: str = "adapter"


@dataclass(frozen=True)
class PromptMethodConfig:
    """Prompt tuning (Lester et al. 2021) through peft: ``num_virtual_tokens`` soft tokens.

    With ``init_text`` and ``tokenizer_path`` the prompt starts from the embeddings of
    that text (peft's TEXT init); otherwise it starts random.
    """

    num_virtual_tokens: int = 20
    init_text: str | None = None
    tokenizer_path: str | None = None
    method: str = "prompt"


@dataclass(frozen=True)
class BitFitConfig:
    """BitFit: only bias terms and the classification head train."""

    method: str = "bitfit"


MethodConfig = (
    FullConfig | LoraMethodConfig | AdapterMethodConfig | PromptMethodConfig | BitFitConfig
)
METHODS: dict[str, type] = {
    "full": FullConfig,
    "lora": LoraMethodConfig,
    "adapter": AdapterMethodConfig,
    "prompt": PromptMethodConfig,
    "bitfit": BitFitConfig,
}


def method_config(name: str, **options: Any) -> MethodConfig:
    """The config of method ``name`` (full, lora, adapter, prompt, bitfit) with ``options``."""
    if name not in METHODS:
        raise ScalingLabError(f"unknown method {name!r}; use one of: {', '.join(METHODS)}")
    return METHODS[name](**options)


def config_to_dict(config: MethodConfig) -> dict[str, Any]:
    return asdict(config)


def apply_method(model: nn.Module, config: MethodConfig) -> nn.Module:
    """Prepare ``model`` (a sequence classifier) for ``config``'s method; see the table above."""
    if isinstance(config, FullConfig):
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        return model
    if isinstance(config, BitFitConfig):
        _train_only(model, lambda name: name.endswith(".bias") or _is_head(name))
        return model
    if isinstance(config, AdapterMethodConfig):
        adapter = AdapterConfig(config.variant, config.reduction_factor, config.activation)
        add_adapters(model, adapter)

        def trains(name: str) -> bool:
            is_norm = config.train_layer_norms and "LayerNorm" in name
            return name.startswith(ADAPTER_ATTRIBUTE + ".") or _is_head(name) or is_norm

        _train_only(model, trains)
        return model
    if isinstance(config, LoraMethodConfig):
        return _peft_lora(model, config)
    if isinstance(config, PromptMethodConfig):
        return _peft_prompt(model, config)
    raise ScalingLabError(f"unknown method config {type(config).__name__}")


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(total, trainable)`` parameter counts; shared tensors count once."""
    seen: set[int] = set()
    total = trainable = 0
    for parameter in model.parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        total += parameter.numel()
        if parameter.requires_grad:
            trainable += parameter.numel()
    return total, trainable


def trainable_parameter_names(model: nn.Module) -> list[str]:
    """Names of the parameters that will train, in module order."""
    return [name for name, parameter in model.named_parameters() if parameter.requires_grad]


def _is_head(name: str) -> bool:
    return any(name == head or name.startswith(head + ".") for head in HEAD_NAMES)


def _train_only(model: nn.Module, trains) -> None:
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(bool(trains(name)))


def _head_modules(model: nn.Module) -> list[str]:
    names = [name for name, _ in model.named_children() if name in HEAD_NAMES]
    if not names:
        raise ScalingLabError(
            "the model has no classification head named classifier or score; "
            "load it as a sequence classifier (AutoModelForSequenceClassification)"
        )
    return names


def _peft_lora(model: nn.Module, config: LoraMethodConfig) -> nn.Module:
    from peft import LoraConfig, TaskType, get_peft_model

    peft_config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.r,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules) if config.target_modules else None,
        modules_to_save=_head_modules(model),
    )
    return get_peft_model(model, peft_config)


def _peft_prompt(model: nn.Module, config: PromptMethodConfig) -> nn.Module:
    from peft import PromptTuningConfig, PromptTuningInit, TaskType, get_peft_model

    from_text = config.init_text is not None and config.tokenizer_path is not None
    peft_config = PromptTuningConfig(
        task_type=TaskType.SEQ_CLS,
        num_virtual_tokens=config.num_virtual_tokens,
        prompt_tuning_init=PromptTuningInit.TEXT if from_text else PromptTuningInit.RANDOM,
        prompt_tuning_init_text=config.init_text if from_text else None,
        tokenizer_name_or_path=config.tokenizer_path if from_text else None,
        modules_to_save=_head_modules(model),
    )
    return get_peft_model(model, peft_config)
