"""The family registry: every model family (gpt, bert, llama, ...) declared in one place.

A family is one module under :mod:`scalinglab.models.family` that builds a
:class:`ModelFamily` and passes it to :func:`register` when imported. The declaration is
pure Python (no torch), so the planner and the sweep designer can count parameters and
FLOPs on machines without torch; its ``build`` imports the torch module only when called.
Everything that used to branch on the family's name asks the registry instead: the shape
defaults and checks (:mod:`~scalinglab.models.shape`), the counts
(:mod:`~scalinglab.models.counting`), the builder, the Hugging Face exchange
(:mod:`~scalinglab.models.hf_export`), and the data pipeline (tokenizer kind, objective).

Adding a family is writing one module in ``scalinglab/models/family/`` (found there by
name, no list to edit) or calling :func:`register` from your own code before use.

>>> get_family("llama").objective, get_family("bert").tokenizer
('causal', 'wordpiece')
>>> family_names()
('gpt', 'bert', 'llama')
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from scalinglab.errors import ScalingLabError

if TYPE_CHECKING:
    from torch import nn

    from scalinglab.models.counting import ParamCounts
    from scalinglab.models.shape import ShapeSpec

#: Data objectives the pipeline knows how to sample: next-token prediction over windows
#: of ``n_ctx + 1`` tokens, or BERT's masked LM (with next-sentence prediction when the
#: shape has ``nsp``).
Objective = Literal["causal", "mlm"]
#: Tokenizer schemes of :mod:`scalinglab.data.tokenizer`.
TokenizerKind = Literal["byte_bpe", "wordpiece"]
#: How the model is served: token-by-token decoding, or one encoder pass per sequence.
InferenceKind = Literal["decoder", "encoder"]

#: Order in which the built-in families are listed (others follow alphabetically).
BUILTIN_ORDER = ("gpt", "bert", "llama")


@dataclass(frozen=True)
class HFExchange:
    """How a family maps to a Hugging Face ``transformers`` model folder.

    ``config(shape, num_labels)`` is the ``config.json`` dict; ``shape_from_config`` its
    inverse. ``to_hf`` / ``from_hf`` convert a float state dict between our parameter
    names and layout and HF's (both default to no change). ``tied_keys`` are stored once
    when the shape ties the unembedding; ``optional_prefixes`` may be missing from a folder
    loaded as a classifier (they keep their fresh initialisation).
    """

    model_type: str
    config: Callable[[ShapeSpec, int | None], dict[str, Any]]
    shape_from_config: Callable[[Mapping[str, Any]], ShapeSpec]
    to_hf: Callable[[dict[str, Any], ShapeSpec], dict[str, Any]] | None = None
    from_hf: Callable[[dict[str, Any], ShapeSpec], dict[str, Any]] | None = None
    tied_keys: tuple[str, ...] = ()
    optional_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelFamily:
    """Everything scalinglab needs to know about one architecture family.

    ``summary`` is the one-line description shown in ``--family`` help. ``default_vocab``
    and ``default_ctx`` are in tokens; ``default_d_ff(d_model)`` is the MLP width when none
    is given. ``count_params(shape)`` must equal the parameter count of ``build(shape)``
    exactly; ``forward_flops_per_token(shape)`` counts matmul FLOPs (2 per multiply-add) of
    one forward pass per token at full context (see :mod:`scalinglab.models.counting`).
    ``build(shape, dropout, num_labels)`` returns the torch module (``num_labels`` only
    where ``classifier`` is true). ``supports_nsp`` / ``supports_gqa`` say whether shapes
    of this family may set ``nsp`` or ``n_kv_head < n_head``.
    """

    name: str
    summary: str
    objective: Objective
    tokenizer: TokenizerKind
    inference: InferenceKind
    count_params: Callable[[ShapeSpec], ParamCounts]
    forward_flops_per_token: Callable[[ShapeSpec], float]
    build: Callable[[ShapeSpec, float, int | None], nn.Module]
    hf: HFExchange
    default_vocab: int = 8192
    default_ctx: int = 256
    default_d_ff: Callable[[int], int] = lambda d_model: 4 * d_model
    supports_nsp: bool = False
    supports_gqa: bool = False
    classifier: bool = False


_REGISTRY: dict[str, ModelFamily] = {}
_builtins_loaded = False


def register(family: ModelFamily) -> ModelFamily:
    """Add ``family`` to the registry (replacing one of the same name); returns it."""
    _REGISTRY[family.name] = family
    return family


def _load_builtins() -> None:
    """Import every module of :mod:`scalinglab.models.family` (each registers itself)."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    package = importlib.import_module("scalinglab.models.family")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def family_names() -> tuple[str, ...]:
    """Names of the registered families: the built-ins first, then the rest by name."""
    _load_builtins()
    first = [name for name in BUILTIN_ORDER if name in _REGISTRY]
    return (*first, *sorted(set(_REGISTRY) - set(first)))


def get_family(name: str) -> ModelFamily:
    """The family called ``name``; an unknown name is a one-line error listing the known."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ScalingLabError(
            f"unknown model family {name!r}; registered families: {', '.join(family_names())}"
        ) from None


def family_for_hf_model_type(model_type: str) -> ModelFamily:
    """The family whose Hugging Face ``model_type`` is ``model_type`` (e.g. ``gpt2``)."""
    _load_builtins()
    for name in family_names():
        if _REGISTRY[name].hf.model_type == model_type:
            return _REGISTRY[name]
    known = ", ".join(_REGISTRY[name].hf.model_type for name in family_names())
    raise ScalingLabError(
        f"model_type {model_type!r} is not a family scalinglab builds; use a folder of "
        f"one of: {known}"
    )


def families_help() -> str:
    """``--family`` help text: each registered family and its one-line summary."""
    return "Model family: " + "; ".join(
        f"{name} ({get_family(name).summary})" for name in family_names()
    )
