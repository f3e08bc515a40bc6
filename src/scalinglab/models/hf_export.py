"""Exchange with Hugging Face transformers: our modules as HF model folders and back.

:func:`export_hf` writes ``config.json`` (a ``GPT2Config``, ``BertConfig`` or
``LlamaConfig`` of the shape, as the family's :class:`~scalinglab.models.families.HFExchange`
declares) and ``model.safetensors`` under HF's parameter names, so
``AutoModelForCausalLM`` (gpt, llama), ``AutoModelForMaskedLM`` and
``AutoModelForSequenceClassification`` (bert) load the folder and compute the same logits.
Our state_dict keys already equal HF's; what differs is the family's to declare (GPT-2's
``Conv1D`` weights are the transpose of ``nn.Linear``'s; BERT stores its vocabulary bias
twice), and tied weights (the unembedding) are stored once, as HF does.
:func:`load_hf_dir` reads such a folder back into our module.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from scalinglab.errors import ScalingLabError
from scalinglab.models.build import build_model
from scalinglab.models.families import family_for_hf_model_type, get_family
from scalinglab.models.shape import ShapeSpec

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def hf_config(shape: ShapeSpec, num_labels: int | None = None) -> dict[str, Any]:
    """The ``config.json`` contents (as a dict) of a shape, in its family's HF terms."""
    return get_family(shape.family).hf.config(shape, num_labels)


def shape_from_hf_config(config: dict[str, Any]) -> ShapeSpec:
    """The shape of an HF ``config.json`` (as a dict) of a registered family's model_type."""
    return family_for_hf_model_type(config.get("model_type")).hf.shape_from_config(config)


def _to_hf_state(model: nn.Module, shape: ShapeSpec) -> dict[str, torch.Tensor]:
    exchange = get_family(shape.family).hf
    state = {
        key: tensor.detach().float().cpu()
        for key, tensor in model.state_dict().items()
        if not (shape.tied_embeddings and key in exchange.tied_keys)
    }
    if exchange.to_hf is not None:
        state = exchange.to_hf(state, shape)
    return {key: value.contiguous() for key, value in state.items()}


def export_hf(
    model: nn.Module,
    shape: ShapeSpec,
    out_dir: str | Path,
    tokenizer_dir: str | Path | None = None,
) -> Path:
    """Write ``model`` (built from ``shape``) as an HF model folder; returns ``out_dir``.

    With ``tokenizer_dir``, its files are copied beside the weights (a bare
    ``tokenizer.json`` is wrapped as a ``PreTrainedTokenizerFast`` so ``AutoTokenizer``
    loads it).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    num_labels = getattr(model, "num_labels", None)
    (out / CONFIG_NAME).write_text(json.dumps(hf_config(shape, num_labels), indent=2) + "\n")
    save_file(_to_hf_state(model, shape), str(out / WEIGHTS_NAME), metadata={"format": "pt"})
    if tokenizer_dir is not None:
        _copy_tokenizer(Path(tokenizer_dir), out)
    return out


def _copy_tokenizer(source: Path, out: Path) -> None:
    if not source.is_dir():
        raise ScalingLabError(f"tokenizer folder {source} does not exist")
    for path in source.iterdir():
        if path.is_file():
            shutil.copy2(path, out / path.name)
    if (out / "tokenizer.json").exists() and not (out / "tokenizer_config.json").exists():
        from transformers import PreTrainedTokenizerFast

        PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json")).save_pretrained(out)


def load_hf_dir(path: str | Path, num_labels: int | None = None) -> tuple[nn.Module, ShapeSpec]:
    """Our module and shape from an HF folder of a registered family written by
    :func:`export_hf` (or any folder with the same names). With ``num_labels`` (or a
    ``*ForSequenceClassification`` folder) the family's classifier is built, and the
    parameters it adds (bert: pooler, classifier) keep their fresh initialisation when the
    folder lacks them; otherwise every parameter must be in the file."""
    folder = Path(path)
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if not config_path.exists() or not weights_path.exists():
        raise ScalingLabError(
            f"{folder} is not a model folder: it needs {CONFIG_NAME} and {WEIGHTS_NAME}"
        )
    config = json.loads(config_path.read_text())
    shape = shape_from_hf_config(config)
    exchange = get_family(shape.family).hf
    architectures = config.get("architectures") or []
    if num_labels is None and any(a.endswith("ForSequenceClassification") for a in architectures):
        num_labels = config.get("num_labels", len(config.get("id2label", {})) or 2)
    model = build_model(shape, num_labels=num_labels)
    state = load_file(str(weights_path))
    if exchange.from_hf is not None:
        state = exchange.from_hf(state, shape)
    wanted = set(model.state_dict())
    state = {k: v for k, v in state.items() if k in wanted}
    missing = wanted - set(state)
    if shape.tied_embeddings:
        missing -= set(exchange.tied_keys)
    if num_labels is not None:
        missing = {k for k in missing if not k.startswith(exchange.optional_prefixes)}
    if missing:
        raise ScalingLabError(
            f"{weights_path} lacks {len(missing)} parameters, e.g. {sorted(missing)[0]}; "
            "it was not written for this shape"
        )
    model.load_state_dict(state, strict=False)
    return model, shape
