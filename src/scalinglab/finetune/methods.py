"""Fine-tuning methods: one config dataclass per method, one registry, one ``apply_method``.

Each method is a :class:`Method` in :data:`METHODS`: its name, config dataclass, default
learning rate, what it trains, and how it applies itself to a Hugging Face sequence
classifier (returning the model to train, with ``requires_grad`` set on exactly the
parameters the method trains). The config fields that users set carry their command-line
flag and help in the field's metadata (:func:`option`); ``scalinglab finetune`` and
``finetune-sweep`` generate their method flags from them (:func:`cli_options`). Adding a
method is writing its config and apply function and registering it here; nothing else
branches on its name (peft registers its tuners the same way). This module does not
import torch, so that the CLI can build its options without it.

| method  | trains                                                            |
| ------- | ----------------------------------------------------------------- |
| full    | every parameter                                                   |
| lora    | ``lora_A``/``lora_B`` of the target modules (default query, value) + head (peft) |
| adapter | bottleneck adapters (+ layer norms for Houlsby) + head (ours, see adapters.py) |
| prompt  | the virtual prompt embeddings + head (peft prompt tuning)         |
| bitfit  | every bias + the head (Ben Zaken et al. 2022)                     |

"Head" is the classification head of the model (``classifier`` for BERT-family models).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from scalinglab.errors import ScalingLabError

if TYPE_CHECKING:
    from torch import nn

HEAD_NAMES = ("classifier", "score")


def option(flag: str, help: str, parse: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Field metadata exposing a config field as the command-line option ``flag``.

    ``parse`` turns the option's text into the field's value (for fields that are not a
    plain int, float or str, e.g. a comma-separated list).
    """
    return {"flag": flag, "help": help, "parse": parse}


def comma_list(text: str | None) -> tuple[str, ...] | None:
    """``"query, value"`` -> ``("query", "value")``; empty or ``None`` -> ``None``."""
    names = tuple(name.strip() for name in (text or "").split(",") if name.strip())
    return names or None


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

    r: int = field(default=8, metadata=option("--lora-r", "LoRA rank (count)."))
    alpha: int = field(default=16, metadata=option("--lora-alpha", "LoRA alpha (scale alpha/r)."))
    dropout: float = field(
        default=0.1, metadata=option("--lora-dropout", "Dropout on the LoRA input (probability).")
    )
    target_modules: tuple[str, ...] | None = field(
        default=None,
        metadata=option(
            "--lora-targets",
            "Comma-separated module names LoRA adapts, e.g. query,key,value,dense "
            "(default: peft's choice for the architecture, query,value for BERT).",
            comma_list,
        ),
    )
    method: str = "lora"


@dataclass(frozen=True)
class AdapterMethodConfig:
    """Bottleneck adapters: ``variant`` houlsby|pfeiffer, bottleneck ``hidden // reduction``."""

    variant: str = field(
        default="houlsby",
        metadata=option("--adapter-variant", "houlsby (after attention and FFN) or pfeiffer."),
    )
    reduction_factor: int = field(
        default=16, metadata=option("--adapter-reduction", "Adapter bottleneck = hidden / this.")
    )
    activation: str = "gelu"
    train_layer_norms: bool = True
    method: str = "adapter"


@dataclass(frozen=True)
class PromptMethodConfig:
    """Prompt tuning (Lester et al. 2021) through peft: ``num_virtual_tokens`` soft tokens.

    With ``init_text`` and ``tokenizer_path`` the prompt starts from the embeddings of
    that text (peft's TEXT init); otherwise it starts random.
    """

    num_virtual_tokens: int = field(
        default=20, metadata=option("--prompt-tokens", "Virtual tokens of prompt tuning (count).")
    )
    init_text: str | None = field(
        default=None,
        metadata=option("--prompt-init-text", "Initialise the prompt from this text's embeddings."),
    )
    tokenizer_path: str | None = None
    method: str = "prompt"


@dataclass(frozen=True)
class BitFitConfig:
    """BitFit: only bias terms and the classification head train."""

    method: str = "bitfit"


MethodConfig = Any  # an instance of a registered method's config dataclass


@dataclass(frozen=True)
class Method:
    """A fine-tuning method: its name, config, default learning rate and how it applies."""

    name: str
    config: type
    default_lr: float
    trains: str
    apply: Callable[[nn.Module, Any], nn.Module]


@dataclass(frozen=True)
class CliOption:
    """One generated command-line option: ``flag`` sets ``field`` of ``method``'s config."""

    method: str
    field: str
    flag: str
    help: str
    default: Any
    annotation: Any
    parse: Callable[[str], Any] | None

    @property
    def parameter(self) -> str:
        """The Python parameter name of the option (``--lora-r`` -> ``lora_r``)."""
        return self.flag.lstrip("-").replace("-", "_")


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` to :data:`METHODS` (its name must be new)."""
    if method.name in METHODS:
        raise ValueError(f"method {method.name!r} is registered already")
    METHODS[method.name] = method
    return method


def method_config(name: str, **options: Any) -> MethodConfig:
    """The config of method ``name`` (see :data:`METHODS`) with ``options``."""
    return _method(name).config(**options)


def default_lr(name: str) -> float:
    """The peak learning rate method ``name`` uses when none is given."""
    return _method(name).default_lr


def config_to_dict(config: MethodConfig) -> dict[str, Any]:
    return asdict(config)


def apply_method(model: nn.Module, config: MethodConfig) -> nn.Module:
    """Prepare ``model`` (a sequence classifier) for ``config``'s method; see the table above."""
    return _method(config.method).apply(model, config)


def cli_options() -> list[CliOption]:
    """The command-line options of every registered method, from its config's field metadata."""
    out = []
    for method in METHODS.values():
        hints = typing.get_type_hints(method.config)
        for item in fields(method.config):
            if "flag" not in item.metadata:
                continue
            meta = item.metadata
            annotation = str | None if meta["parse"] else hints[item.name]
            default = item.default
            if meta["parse"] and default is not None:
                default = ",".join(default) if isinstance(default, tuple) else str(default)
            out.append(
                CliOption(
                    method.name,
                    item.name,
                    meta["flag"],
                    meta["help"],
                    default,
                    annotation,
                    meta["parse"],
                )
            )
    return out


def options_from_cli(method: str, values: dict[str, Any]) -> dict[str, Any]:
    """``method``'s config options from the generated CLI parameters ``values`` (by name)."""
    options = {}
    for cli in cli_options():
        if cli.method == method and cli.parameter in values:
            value = values[cli.parameter]
            options[cli.field] = cli.parse(value) if cli.parse else value
    return options


def _method(name: str) -> Method:
    if name not in METHODS:
        raise ScalingLabError(f"unknown method {name!r}; use one of: {', '.join(METHODS)}")
    return METHODS[name]


def _apply_full(model: nn.Module, config: FullConfig) -> nn.Module:
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model


def _apply_bitfit(model: nn.Module, config: BitFitConfig) -> nn.Module:
    _train_only(model, lambda name: name.endswith(".bias") or _is_head(name))
    return model


def _apply_adapter(model: nn.Module, config: AdapterMethodConfig) -> nn.Module:
    from scalinglab.finetune.adapters import ADAPTER_ATTRIBUTE, AdapterConfig, add_adapters

    add_adapters(model, AdapterConfig(config.variant, config.reduction_factor, config.activation))

    def trains(name: str) -> bool:
        is_norm = config.train_layer_norms and "LayerNorm" in name
        return name.startswith(ADAPTER_ATTRIBUTE + ".") or _is_head(name) or is_norm

    _train_only(model, trains)
    return model


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


def count_nonembedding(model: nn.Module) -> int:
    """Parameters outside embedding tables (Kaplan's N); shared tensors count once."""
    from torch import nn

    embedded = {
        id(parameter)
        for module in model.modules()
        if isinstance(module, nn.Embedding)
        for parameter in module.parameters()
    }
    unique = {id(p): p for p in model.parameters() if id(p) not in embedded}
    return sum(parameter.numel() for parameter in unique.values())


@dataclass(frozen=True)
class ParameterCounts:
    """Parameter counts of a run: the classifier before the method and the model after.

    ``n_params`` and ``n_params_nonembed`` (without embedding tables) describe the
    classifier, the size the laws use; ``total`` and ``trainable`` the model the method
    trains (LoRA, adapters and prompts add parameters).
    """

    n_params: int
    n_params_nonembed: int
    total: int
    trainable: int


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


register(Method("full", FullConfig, 1e-4, "every parameter", _apply_full))
register(Method("lora", LoraMethodConfig, 1e-3, "LoRA matrices + head", _peft_lora))
register(Method("adapter", AdapterMethodConfig, 1e-3, "adapters + norms + head", _apply_adapter))
register(Method("prompt", PromptMethodConfig, 1e-2, "soft prompt + head", _peft_prompt))
register(Method("bitfit", BitFitConfig, 2e-3, "biases + head", _apply_bitfit))
