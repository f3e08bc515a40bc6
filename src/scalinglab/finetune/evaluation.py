"""Classification metrics and per-example predictions (scikit-learn's report, never truncated).

:func:`predict_proba` scores every text (batched, length-sorted, results put back in input
order); :func:`classification_metrics` gives accuracy, macro/weighted F1 and precision/
recall, per-class figures and the confusion matrix; :func:`write_predictions` writes one
JSON line per example. Predictions always align one-to-one with the examples: a length
mismatch is an error, never a silent truncation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scalinglab.finetune.tasks import Split
from scalinglab.train.precision import bf16_autocast


@dataclass
class EvalResult:
    """Metrics of one split plus the per-example predictions and probabilities."""

    metrics: dict[str, Any]
    predictions: np.ndarray
    probabilities: np.ndarray


def encode_texts(tokenizer: Any, texts: list[str], max_length: int) -> list[dict[str, list[int]]]:
    """Token ids (and masks) of each text, unpadded, truncated to ``max_length`` tokens."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    keys = list(encoded.keys())
    return [{key: encoded[key][i] for key in keys} for i in range(len(texts))]


def collate(
    tokenizer: Any, features: list[dict[str, list[int]]], device: torch.device | None = None
) -> dict[str, torch.Tensor]:
    """Pad a batch of encoded texts to its longest member; tensors on ``device`` if given."""
    batch = dict(tokenizer.pad(features, return_tensors="pt"))
    return batch if device is None else {key: value.to(device) for key, value in batch.items()}


def model_device(model: Any) -> torch.device:
    """The device of ``model``'s parameters (CPU for a model without any)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def logits_of(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Logits from a Hugging Face/peft classifier (``.logits``) or a logits-returning module."""
    output = model(**batch)
    return output.logits if hasattr(output, "logits") else output


@torch.inference_mode()
def predict_proba(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    max_length: int,
    batch_size: int = 64,
    bf16: bool = False,
) -> np.ndarray:
    """Class probabilities, one row per text in input order (computed on the model's device)."""
    was_training = getattr(model, "training", False)
    model.eval()
    device = model_device(model)
    encoded = encode_texts(tokenizer, texts, max_length)
    order = np.argsort([len(item["input_ids"]) for item in encoded], kind="stable")
    rows: list[np.ndarray] = []
    for start in range(0, len(order), batch_size):
        batch = collate(tokenizer, [encoded[i] for i in order[start : start + batch_size]], device)
        with bf16_autocast(device.type, bf16):
            logits = logits_of(model, batch)
        rows.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
    if was_training:
        model.train()
    if not rows:
        return np.zeros((0, 0))
    probabilities = np.empty((len(texts), rows[0].shape[1]))
    probabilities[order] = np.concatenate(rows)
    return probabilities


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]
) -> dict[str, Any]:
    """Accuracy, macro/weighted F1, per-class report and confusion matrix (rows = truth).

    Macro averages (F1, precision, recall) run over the classes present in ``y_true``: a
    class with no example in the split has no defined recall and would count as an F1 of
    0. When a class is absent, ``macro_f1_all_labels`` keeps the average over every label
    and ``note`` says which classes were left out.
    """
    from sklearn.metrics import (
        accuracy_score,
        classification_report,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_pred)} predictions for {len(y_true)} examples")
    ids = list(range(len(labels)))
    report = classification_report(
        y_true, y_pred, labels=ids, target_names=labels, output_dict=True, zero_division=0
    )
    present = sorted(set(np.asarray(y_true).tolist())) or ids
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=present, average="macro", zero_division=0
    )
    metrics: dict[str, Any] = {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1),
        "macro_precision": float(precision),
        "macro_recall": float(recall),
        "weighted_f1": float(report["weighted avg"]["f1-score"]),
        "per_class": {
            label: {
                "precision": float(report[label]["precision"]),
                "recall": float(report[label]["recall"]),
                "f1": float(report[label]["f1-score"]),
                "support": int(report[label]["support"]),
            }
            for label in labels
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
        "report": classification_report(
            y_true, y_pred, labels=ids, target_names=labels, zero_division=0, digits=4
        ),
    }
    absent = [labels[i] for i in ids if i not in present]
    if absent:
        metrics["macro_f1_all_labels"] = float(report["macro avg"]["f1-score"])
        metrics["note"] = (
            f"macro averages over the {len(present)} classes present in this split; "
            f"no example of {', '.join(absent)} (macro-F1 over all labels: "
            f"{metrics['macro_f1_all_labels']:.4f})"
        )
    return metrics


def evaluate(
    model: Any,
    tokenizer: Any,
    split: Split,
    labels: list[str],
    max_length: int,
    batch_size: int = 64,
    bf16: bool = False,
) -> EvalResult:
    """Score every example of ``split`` and compute its metrics."""
    probabilities = predict_proba(model, tokenizer, split.texts, max_length, batch_size, bf16)
    predictions = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, int)
    metrics = classification_metrics(split.labels, predictions, labels)
    return EvalResult(metrics, predictions, probabilities)


def write_predictions(
    path: str | Path, split: Split, result: EvalResult, labels: list[str]
) -> Path:
    """One JSON line per example: text, gold and predicted label, probabilities."""
    if not len(result.predictions) == len(split) == len(result.probabilities):
        raise ValueError("predictions must align with every example of the split")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for i, text in enumerate(split.texts):
            gold, predicted = int(split.labels[i]), int(result.predictions[i])
            record = {
                "index": i,
                "text": text,
                "label": labels[gold],
                "predicted": labels[predicted],
                "correct": gold == predicted,
                "probabilities": {
                    label: round(float(p), 6)
                    for label, p in zip(labels, result.probabilities[i], strict=True)
                },
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return out
