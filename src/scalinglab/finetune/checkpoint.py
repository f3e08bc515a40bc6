"""Save and load fine-tuned classifiers as safetensors directories (never pickle).

A classifier directory is a Hugging Face ``save_pretrained`` directory (``config.json``
with ``id2label``/``label2id``, ``model.safetensors``, tokenizer files) plus
``scalinglab.json``: format version, method, base model, labels, task, ``max_length``,
``pooling`` (:mod:`scalinglab.finetune.pooling`; ``cls`` when absent), metrics, and
``storage``, which says how to rebuild the model:

- ``merged``: full, BitFit and LoRA (merged into the base weights) models; the directory
  is a plain Hugging Face sequence classifier that any tool can load;
- ``peft_prompt``: prompt tuning cannot merge: the base model (with its trained head)
  plus a peft adapter directory ``prompt_adapter/`` (``adapter_model.safetensors``);
- ``bottleneck_adapter``: our bottleneck adapters cannot merge (they are non-linear): the
  base model plus ``bottleneck_adapters.safetensors`` and the adapter config.

>>> loaded = load_classifier("runs/ft/minilm-lora")            # doctest: +SKIP
>>> loaded.predict_proba(["great ride", "never again"])      # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from scalinglab.errors import ScalingLabError
from scalinglab.finetune.adapters import (
    ADAPTER_ATTRIBUTE,
    AdapterConfig,
    add_adapters,
    load_adapter_state,
    split_adapter_state,
)
from scalinglab.finetune.device import resolve_device
from scalinglab.finetune.pooling import apply_pooling

FORMAT_VERSION = 1
METADATA_FILE = "scalinglab.json"
PROMPT_ADAPTER_DIR = "prompt_adapter"
BOTTLENECK_FILE = "bottleneck_adapters.safetensors"
DEFAULT_MAX_LENGTH = 128


class LogitsModel(nn.Module):
    """Wraps a sequence classifier so that calling it with tokenizer outputs gives logits."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        return self.classifier(**inputs).logits


@dataclass
class LoadedClassifier:
    """A classifier ready for inference: ``model(**tokenizer(texts)) -> logits``.

    ``labels[i]`` is the name of class ``i``; ``max_length`` the token limit it was
    trained with (longer texts are truncated).
    """

    model: LogitsModel
    tokenizer: Any
    labels: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)
    max_length: int = DEFAULT_MAX_LENGTH

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Tokenise ``texts`` (padded, truncated to ``max_length``) onto the model's device."""
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return {key: value.to(self.device) for key, value in batch.items()}

    @torch.inference_mode()
    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Class probabilities, shape ``(len(texts), len(labels))``, one row per text."""
        rows = []
        for start in range(0, len(texts), batch_size):
            logits = self.model(**self.encode(texts[start : start + batch_size]))
            rows.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
        if not rows:
            return np.zeros((0, len(self.labels)))
        return np.concatenate(rows)


def save_classifier(
    model: nn.Module, tokenizer: Any, out_dir: str | Path, metadata: dict[str, Any]
) -> Path:
    """Write ``model`` and ``tokenizer`` to ``out_dir`` (safetensors) and return the path.

    ``metadata`` should hold ``method``, ``base_model``, ``task``, ``metrics`` and
    ``max_length``; ``labels`` and ``storage`` are filled in from the model. The model
    passed in is not modified (LoRA merges a copy).
    """
    from peft import PeftModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {}
    if isinstance(model, PeftModel) and model.peft_config[model.active_adapter].is_prompt_learning:
        base = model.get_base_model()
        base.save_pretrained(out, state_dict=_unwrapped_state(base), safe_serialization=True)
        model.save_pretrained(out / PROMPT_ADAPTER_DIR, safe_serialization=True)
        storage, config = "peft_prompt", base.config
    elif isinstance(model, PeftModel):
        merged = copy.deepcopy(model).merge_and_unload()
        merged.save_pretrained(out, safe_serialization=True)
        storage, config = "merged", merged.config
    elif hasattr(model, ADAPTER_ATTRIBUTE):
        from safetensors.torch import save_file

        base_state, adapter_state = split_adapter_state(model)
        model.save_pretrained(out, state_dict=base_state, safe_serialization=True)
        save_file({k: v.contiguous() for k, v in adapter_state.items()}, out / BOTTLENECK_FILE)
        storage, config = "bottleneck_adapter", model.config
        extra["adapter_config"] = dict(model.config.bottleneck_adapters)
    else:
        model.save_pretrained(out, safe_serialization=True)
        storage, config = "merged", model.config
    tokenizer.save_pretrained(out)
    labels = [config.id2label[i] for i in range(config.num_labels)]
    record = {
        "format_version": FORMAT_VERSION,
        "max_length": DEFAULT_MAX_LENGTH,
        **metadata,
        **extra,
        "labels": labels,
        "storage": storage,
    }
    (out / METADATA_FILE).write_text(json.dumps(record, indent=2, default=_json_default))
    return out


def load_classifier(path: str | Path, device: str = "cpu") -> LoadedClassifier:
    """Load a directory written by :func:`save_classifier`, in eval mode on ``device``.

    ``device`` is one of :data:`scalinglab.finetune.device.DEVICES_HELP`.

    Raises :class:`ScalingLabError` when ``path`` is not such a directory or lacks its
    safetensors weights (pickled ``.bin`` weights are never read).
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    target = resolve_device(device)
    root = Path(path)
    meta_file = root / METADATA_FILE
    if not meta_file.is_file():
        raise ScalingLabError(
            f"{root} is not a scalinglab classifier (no {METADATA_FILE}); "
            "give a directory written by `scalinglab finetune --out DIR`"
        )
    metadata = json.loads(meta_file.read_text())
    _require_file(root / "model.safetensors")
    try:
        model = AutoModelForSequenceClassification.from_pretrained(root, use_safetensors=True)
    except (KeyError, ValueError) as error:  # transformers' answers to an unknown model_type
        raise ScalingLabError(
            f"{root}: transformers cannot build its model ({type(error).__name__}: "
            f"{str(error).strip().splitlines()[0] if str(error).strip() else ''}); give a "
            "directory written by `scalinglab finetune --out DIR`"
        ) from None
    apply_pooling(model, metadata.get("pooling", "cls"))
    storage = metadata.get("storage", "merged")
    if storage == "peft_prompt":
        from peft import PeftModel

        _require_file(root / PROMPT_ADAPTER_DIR / "adapter_model.safetensors")
        model = PeftModel.from_pretrained(model, root / PROMPT_ADAPTER_DIR)
    elif storage == "bottleneck_adapter":
        from safetensors.torch import load_file

        _require_file(root / BOTTLENECK_FILE)
        add_adapters(model, AdapterConfig(**metadata["adapter_config"]))
        load_adapter_state(model, load_file(root / BOTTLENECK_FILE))
    elif storage != "merged":
        raise ScalingLabError(f"{meta_file}: unknown storage {storage!r}; re-save the model")
    wrapped = LogitsModel(model).to(target).eval()
    return LoadedClassifier(
        model=wrapped,
        tokenizer=AutoTokenizer.from_pretrained(root),
        labels=list(metadata["labels"]),
        metadata=metadata,
        max_length=int(metadata.get("max_length", DEFAULT_MAX_LENGTH)),
    )


def _unwrapped_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """State dict with peft's ``modules_to_save`` wrappers replaced by their trained copy."""
    state = {}
    for key, value in model.state_dict().items():
        if ".original_module." in key:
            continue
        state[key.replace(".modules_to_save.default.", ".")] = value
    return state


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise ScalingLabError(
            f"{path} is missing; scalinglab reads safetensors weights only, "
            "re-save the classifier with `scalinglab finetune`"
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
