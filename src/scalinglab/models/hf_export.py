"""Exchange with Hugging Face transformers: our modules as HF model folders and back.

:func:`export_hf` writes ``config.json`` (a ``GPT2Config`` or ``BertConfig`` of the shape)
and ``model.safetensors`` under HF's parameter names, so ``AutoModelForCausalLM`` (gpt),
``AutoModelForMaskedLM`` and ``AutoModelForSequenceClassification`` (bert) load the folder
and compute the same logits. Our state_dict keys already equal HF's; two things differ:
GPT-2's ``c_attn``, ``c_proj`` and ``c_fc`` are HF ``Conv1D`` layers, whose weights are
the transpose of ``nn.Linear``'s, and tied weights (the unembedding, BERT's decoder bias)
are stored once, as HF does. :func:`load_hf_dir` reads such a folder back into our module.
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
from scalinglab.models.bert import BertForSequenceClassification
from scalinglab.models.build import build_model
from scalinglab.models.shape import ShapeSpec

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
_CONV1D_SUFFIXES = (
    "attn.c_attn.weight",
    "attn.c_proj.weight",
    "mlp.c_fc.weight",
    "mlp.c_proj.weight",
)
_TIED_KEYS = ("lm_head.weight", "cls.predictions.decoder.weight")


def hf_config(shape: ShapeSpec, num_labels: int | None = None) -> dict[str, Any]:
    """The ``config.json`` contents (as a dict) of a shape, in HF's GPT-2 or BERT terms.

    Dropout is 0 for gpt (as we pretrain) and HF's 0.1 for bert (as BERT fine-tunes).
    """
    if shape.family == "gpt":
        return {
            "model_type": "gpt2",
            "architectures": ["GPT2LMHeadModel"],
            "vocab_size": shape.vocab_size,
            "n_positions": shape.n_ctx,
            "n_embd": shape.d_model,
            "n_layer": shape.n_layer,
            "n_head": shape.n_head,
            "n_inner": shape.d_ff,
            "activation_function": "gelu_new",
            "layer_norm_epsilon": 1e-5,
            "resid_pdrop": 0.0,
            "embd_pdrop": 0.0,
            "attn_pdrop": 0.0,
            "tie_word_embeddings": shape.tied_embeddings,
            "bos_token_id": None,
            "eos_token_id": None,
            "torch_dtype": "float32",
        }
    if num_labels is not None:
        architecture = "BertForSequenceClassification"
    else:
        architecture = "BertForPreTraining" if shape.nsp else "BertForMaskedLM"
    config: dict[str, Any] = {
        "model_type": "bert",
        "architectures": [architecture],
        "vocab_size": shape.vocab_size,
        "hidden_size": shape.d_model,
        "num_hidden_layers": shape.n_layer,
        "num_attention_heads": shape.n_head,
        "intermediate_size": shape.d_ff,
        "hidden_act": "gelu",
        "max_position_embeddings": shape.n_ctx,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "tie_word_embeddings": shape.tied_embeddings,
        "pad_token_id": 0,
        "torch_dtype": "float32",
    }
    if num_labels is not None:
        config["num_labels"] = num_labels
    return config


def shape_from_hf_config(config: dict[str, Any]) -> ShapeSpec:
    """The shape of an HF GPT-2 or BERT ``config.json`` (as a dict)."""
    model_type = config.get("model_type")
    if model_type == "gpt2":
        d_model = config["n_embd"]
        return ShapeSpec(
            family="gpt",
            n_layer=config["n_layer"],
            d_model=d_model,
            n_head=config["n_head"],
            d_ff=config.get("n_inner") or 4 * d_model,
            vocab_size=config["vocab_size"],
            n_ctx=config["n_positions"],
            tied_embeddings=config.get("tie_word_embeddings", True),
        )
    if model_type == "bert":
        return ShapeSpec(
            family="bert",
            n_layer=config["num_hidden_layers"],
            d_model=config["hidden_size"],
            n_head=config["num_attention_heads"],
            d_ff=config["intermediate_size"],
            vocab_size=config["vocab_size"],
            n_ctx=config["max_position_embeddings"],
            tied_embeddings=config.get("tie_word_embeddings", True),
            nsp="BertForPreTraining" in config.get("architectures", []),
        )
    raise ScalingLabError(
        f"model_type {model_type!r} is not a family scalinglab builds; use a gpt2 or bert folder"
    )


def _to_hf_state(model: nn.Module, shape: ShapeSpec) -> dict[str, torch.Tensor]:
    state = {}
    for key, tensor in model.state_dict().items():
        if shape.tied_embeddings and key in _TIED_KEYS:
            continue
        value = tensor.detach().float().cpu()
        if shape.family == "gpt" and key.endswith(_CONV1D_SUFFIXES):
            value = value.t()
        state[key] = value.contiguous()
    if "cls.predictions.bias" in state:
        state["cls.predictions.decoder.bias"] = state["cls.predictions.bias"].clone()
    return state


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
    num_labels = model.num_labels if isinstance(model, BertForSequenceClassification) else None
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
    """Our module and shape from an HF GPT-2/BERT folder written by :func:`export_hf` (or
    any folder with the same names). With ``num_labels`` a bert folder becomes a
    :class:`BertForSequenceClassification` whose missing pooler and classifier keep their
    fresh initialisation; otherwise every parameter must be in the file."""
    folder = Path(path)
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if not config_path.exists() or not weights_path.exists():
        raise ScalingLabError(
            f"{folder} is not a model folder: it needs {CONFIG_NAME} and {WEIGHTS_NAME}"
        )
    config = json.loads(config_path.read_text())
    shape = shape_from_hf_config(config)
    if num_labels is None and config.get("architectures") == ["BertForSequenceClassification"]:
        num_labels = config.get("num_labels", len(config.get("id2label", {})) or 2)
    model = build_model(shape, num_labels=num_labels)
    state = load_file(str(weights_path))
    for key in list(state):
        if shape.family == "gpt" and key.endswith(_CONV1D_SUFFIXES):
            state[key] = state[key].t().contiguous()
    wanted = set(model.state_dict())
    state = {k: v for k, v in state.items() if k in wanted}
    missing = wanted - set(state)
    if shape.tied_embeddings:
        missing -= set(_TIED_KEYS)
    if isinstance(model, BertForSequenceClassification):
        missing = {k for k in missing if not k.startswith(("bert.pooler.", "classifier."))}
    if missing:
        raise ScalingLabError(
            f"{weights_path} lacks {len(missing)} parameters, e.g. {sorted(missing)[0]}; "
            "it was not written for this shape"
        )
    model.load_state_dict(state, strict=False)
    return model, shape
