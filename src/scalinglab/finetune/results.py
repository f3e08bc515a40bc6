"""What one fine-tuning run produced: the result object, how it is finished, when it failed.

:func:`finish_run` is the one place where a trained classifier is evaluated, saved and
measured (plain and continual fine-tuning both end there). :func:`degeneracy_reasons`
says why a run learned nothing: its test predictions collapse to one class, or its
score is below a baseline (the majority class here; the sweep adds zero-shot and
few-shot prompting). A run with reasons is flagged ``degenerate`` and warned about.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.finetune.checkpoint import load_classifier, save_classifier
from scalinglab.finetune.evaluation import (
    EvalResult,
    classification_metrics,
    evaluate,
    model_device,
    write_predictions,
)
from scalinglab.finetune.measure import (
    classifier_scorer,
    directory_size_bytes,
    latency_of,
    peak_memory_bytes,
    throughput_of,
)
from scalinglab.finetune.methods import ParameterCounts
from scalinglab.finetune.settings import run_settings, settings_key
from scalinglab.finetune.tasks import Split, TaskData, counts_table

HEADLINE_KEYS = ("accuracy", "macro_f1", "weighted_f1", "n")


class DegenerateRunWarning(UserWarning):
    """A fine-tuned classifier that learned nothing (see :func:`degeneracy_reasons`)."""


@dataclass
class FinetuneResult:
    """Measured outcome of one run; units: seconds, milliseconds, bytes, examples/s.

    ``n_params`` counts the classifier before the method, ``n_params_nonembed`` the same
    without embedding tables; ``total_params``/``trainable_params`` the trained model.

    ``baselines`` holds the test scores the run is judged against (``majority-class``:
    always predicting the training split's most common class); ``degenerate_reasons`` is
    empty unless the run learned nothing. ``settings`` are what made the result and
    ``settings_key`` their hash (:mod:`scalinglab.finetune.settings`).
    """

    model: str
    task: str
    method: str
    labels: list[str]
    class_counts: dict[str, Any]
    n_params: int
    n_params_nonembed: int
    total_params: int
    trainable_params: int
    train_seconds: float
    latency_ms_p50: float
    latency_ms_p95: float
    throughput_per_s: float
    peak_memory_bytes: int
    size_on_disk_bytes: int
    validation: dict[str, Any]
    test: dict[str, Any]
    training: dict[str, Any]
    method_config: dict[str, Any]
    out_dir: str
    pooling: str = "cls"
    settings: dict[str, Any] = field(default_factory=dict)
    settings_key: str = ""
    baselines: dict[str, float] = field(default_factory=dict)
    degenerate_reasons: list[str] = field(default_factory=list)

    @property
    def trainable_fraction(self) -> float:
        return self.trainable_params / self.total_params

    @property
    def degenerate(self) -> bool:
        return bool(self.degenerate_reasons)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["trainable_fraction"] = self.trainable_fraction
        data["degenerate"] = self.degenerate
        return data


@dataclass(frozen=True)
class RunContext:
    """What :func:`finish_run` needs to know about the run besides the trained model."""

    options: Any  # scalinglab.finetune.run.FinetuneOptions
    task: TaskData
    training: dict[str, Any]
    counts: ParameterCounts
    method_settings: dict[str, Any]


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The few metrics worth printing and storing beside a model: accuracy, F1s, n."""
    return {key: metrics[key] for key in HEADLINE_KEYS if key in metrics}


def majority_baseline(train: Split, test: Split, labels: list[str]) -> dict[str, Any]:
    """Test metrics of always predicting the most common class of ``train``."""
    majority = int(np.bincount(train.labels, minlength=len(labels)).argmax())
    return classification_metrics(test.labels, np.full(len(test), majority), labels)


def degeneracy_reasons(
    metrics: dict[str, Any],
    predictions: np.ndarray,
    gold: np.ndarray,
    labels: list[str],
    baselines: dict[str, float],
    metric: str = "macro_f1",
) -> list[str]:
    """Why a run learned nothing (empty when it did): one class predicted, or below a baseline.

    A run whose predictions on a split with several classes are all one class is
    degenerate; so is a run whose ``metric`` is below any of ``baselines`` (name -> score).
    """
    reasons = []
    predicted = np.unique(predictions)
    if len(np.unique(gold)) > 1 and len(predicted) == 1:
        reasons.append(f"predicts only {labels[int(predicted[0])]!r} on the test split")
    for name, score in baselines.items():
        if metrics[metric] < score:
            reasons.append(
                f"test {metric} {metrics[metric]:.4f} is below the {name} baseline's {score:.4f}"
            )
    return reasons


def warn_degenerate(name: str, reasons: list[str]) -> None:
    """Warn (:class:`DegenerateRunWarning`) that run ``name`` learned nothing, and why."""
    if reasons:
        warnings.warn(
            f"{name} looks degenerate: {'; '.join(reasons)}", DegenerateRunWarning, stacklevel=2
        )


def finish_run(model: Any, tokenizer: Any, context: RunContext) -> FinetuneResult:
    """Evaluate on validation and test, flag degeneracy, save, measure costs; write result.json."""
    options, task = context.options, context.task
    out = Path(options.out_dir)
    bf16 = bool(context.training.get("bf16", False))
    evaluations = _evaluate_splits(model, tokenizer, options, task, bf16)
    scores = {split: evaluation.metrics for split, evaluation in evaluations.items()}
    baselines = {
        "majority-class": majority_baseline(task.train, task.test, task.labels)["macro_f1"]
    }
    reasons = degeneracy_reasons(
        scores["test"], evaluations["test"].predictions, task.test.labels, task.labels, baselines
    )
    warn_degenerate(f"{options.model} {options.method}", reasons)
    save_classifier(model, tokenizer, out, _metadata(options, context, scores))
    costs = _measure(model, out, task, bf16, options)
    counts = context.counts
    settings = run_settings(options)
    result = FinetuneResult(
        model=options.model,
        task=options.task,
        method=options.method,
        labels=task.labels,
        class_counts=counts_table(task),
        n_params=counts.n_params,
        n_params_nonembed=counts.n_params_nonembed,
        total_params=counts.total,
        trainable_params=counts.trainable,
        train_seconds=float(context.training.get("train_seconds", 0.0)),
        peak_memory_bytes=peak_memory_bytes(),
        size_on_disk_bytes=directory_size_bytes(out),
        validation=scores["validation"],
        test=scores["test"],
        training=context.training,
        method_config=context.method_settings,
        out_dir=str(out),
        pooling=options.pooling,
        settings=settings,
        settings_key=settings_key(settings),
        baselines=baselines,
        degenerate_reasons=reasons,
        **costs,
    )
    (out / "result.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result


def _evaluate_splits(
    model: Any, tokenizer: Any, options: Any, task: TaskData, bf16: bool
) -> dict[str, EvalResult]:
    """Validation and test scored, and their ``predictions_<split>.jsonl`` written."""
    out = Path(options.out_dir)
    evaluations = {}
    for split in ("validation", "test"):
        evaluations[split] = evaluate(
            model,
            tokenizer,
            task.split(split),
            task.labels,
            options.train.max_length,
            options.train.eval_batch_size,
            bf16,
        )
        path = out / f"predictions_{split}.jsonl"
        write_predictions(path, task.split(split), evaluations[split], task.labels)
    return evaluations


def _metadata(options: Any, context: RunContext, scores: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": options.method,
        "base_model": options.model,
        "task": options.task,
        "task_options": asdict(options.task_options),
        "max_length": options.train.max_length,
        "pooling": options.pooling,
        "method_config": context.method_settings,
        "metrics": {split: headline(metrics) for split, metrics in scores.items()},
    }


def _measure(model: Any, out: Path, task: TaskData, bf16: bool, options: Any) -> dict[str, float]:
    """Latency p50/p95 (ms) and throughput (examples/s) of the classifier as saved.

    Measured on the device ``model`` trained on.
    """
    max_length = options.train.max_length
    loaded = load_classifier(out, device=str(model_device(model)))
    probe = task.test.texts or task.validation.texts
    score = classifier_scorer(loaded.model, loaded.tokenizer, max_length, bf16)
    p50, p95 = latency_of(score, probe, options.latency_repeats)
    throughput = throughput_of(score, probe, 64, options.throughput_batches)
    return {"latency_ms_p50": p50, "latency_ms_p95": p95, "throughput_per_s": throughput}
