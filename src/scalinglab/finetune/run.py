"""One fine-tuning run end to end: load, apply the method, train, evaluate, save, measure.

>>> from scalinglab.finetune.run import FinetuneOptions, finetune
>>> from scalinglab.finetune.tasks import TaskOptions
>>> result = finetune(FinetuneOptions(model="minilm-L2", task="tweets-binary",
...     method="lora", out_dir="runs/ft/l2-lora",
...     task_options=TaskOptions(max_train_examples=500)))   # doctest: +SKIP
>>> result.test["macro_f1"]                                  # doctest: +SKIP

The output directory holds the classifier (see :mod:`scalinglab.finetune.checkpoint`),
``predictions_validation.jsonl`` and ``predictions_test.jsonl`` (one line per example)
and ``result.json`` (what :meth:`FinetuneResult.to_dict` returns).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalinglab.finetune.checkpoint import load_classifier, save_classifier
from scalinglab.finetune.evaluation import evaluate, write_predictions
from scalinglab.finetune.measure import (
    classifier_scorer,
    directory_size_bytes,
    latency_of,
    peak_memory_bytes,
    throughput_of,
)
from scalinglab.finetune.methods import (
    apply_method,
    config_to_dict,
    count_parameters,
    method_config,
)
from scalinglab.finetune.models import load_sequence_classifier, load_tokenizer, resolve_model
from scalinglab.finetune.tasks import TaskData, TaskOptions, counts_table, load_task
from scalinglab.finetune.training import TrainConfig, seed_everything, train_classifier

if TYPE_CHECKING:
    from scalinglab.finetune.continual import ContinualOptions


@dataclass(frozen=True)
class FinetuneOptions:
    """Everything one run needs; ``method_options`` go to the method's config dataclass."""

    model: str = "minilm"
    task: str = "tweets-binary"
    method: str = "full"
    out_dir: str = "runs/finetune"
    method_options: dict[str, Any] = field(default_factory=dict)
    task_options: TaskOptions = field(default_factory=TaskOptions)
    train: TrainConfig = field(default_factory=TrainConfig)
    latency_repeats: int = 30
    throughput_batches: int = 3


@dataclass
class FinetuneResult:
    """Measured outcome of one run; units: seconds, milliseconds, bytes, examples/s."""

    model: str
    task: str
    method: str
    labels: list[str]
    class_counts: dict[str, Any]
    n_params: int
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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def trainable_fraction(self) -> float:
        return self.trainable_params / self.total_params

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["trainable_fraction"] = self.trainable_fraction
        return data


def finetune(
    options: FinetuneOptions,
    task: TaskData | None = None,
    continual: ContinualOptions | None = None,
) -> FinetuneResult:
    """Fine-tune ``options.model`` on ``options.task`` with ``options.method``; save and measure.

    ``task`` may be passed already loaded (a sweep loads it once). With ``continual``,
    the run re-fine-tunes a saved classifier on ``options.task`` as new data instead
    (see :mod:`scalinglab.finetune.continual`).
    """
    if continual is not None:
        from scalinglab.finetune.continual import continual_finetune

        return continual_finetune(options, continual)
    task = task or load_task(options.task, options.task_options)
    source = resolve_model(options.model)
    tokenizer = load_tokenizer(source)
    seed_everything(options.train.seed)  # the new head's initialisation
    model = load_sequence_classifier(source, task.labels)
    n_params, _ = count_parameters(model)
    config = method_config(options.method, **_method_options(options, source.path))
    model = apply_method(model, config)
    total, trainable = count_parameters(model)
    trained = train_classifier(
        model, tokenizer, task.train, task.validation, task.labels, options.method, options.train
    )
    return finish_run(
        options,
        task,
        model,
        tokenizer,
        trained.__dict__,
        (n_params, total, trainable),
        config_to_dict(config),
    )


def finish_run(
    options: FinetuneOptions,
    task: TaskData,
    model: Any,
    tokenizer: Any,
    training: dict[str, Any],
    counts: tuple[int, int, int],
    method_settings: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> FinetuneResult:
    """Save the trained model, evaluate it on validation and test, measure its costs."""
    out = Path(options.out_dir)
    max_length, bf16 = options.train.max_length, bool(training.get("bf16", False))
    metadata = {
        "method": options.method,
        "base_model": options.model,
        "task": options.task,
        "task_options": asdict(options.task_options),
        "max_length": max_length,
        "method_config": method_settings,
    }
    scores = {}
    for split in ("validation", "test"):
        result = evaluate(
            model,
            tokenizer,
            task.split(split),
            task.labels,
            max_length,
            options.train.eval_batch_size,
            bf16,
        )
        write_predictions(
            out / f"predictions_{split}.jsonl", task.split(split), result, task.labels
        )
        scores[split] = result.metrics
    metadata["metrics"] = {split: _headline(scores[split]) for split in scores}
    save_classifier(model, tokenizer, out, metadata)
    loaded = load_classifier(out)
    probe = task.test.texts or task.validation.texts
    score = classifier_scorer(loaded.model, loaded.tokenizer, max_length, bf16)
    p50, p95 = latency_of(score, probe, options.latency_repeats)
    throughput = throughput_of(score, probe, 64, options.throughput_batches)
    n_params, total, trainable = counts
    result = FinetuneResult(
        model=options.model,
        task=options.task,
        method=options.method,
        labels=task.labels,
        class_counts=counts_table(task),
        n_params=n_params,
        total_params=total,
        trainable_params=trainable,
        train_seconds=float(training.get("train_seconds", 0.0)),
        latency_ms_p50=p50,
        latency_ms_p95=p95,
        throughput_per_s=throughput,
        peak_memory_bytes=peak_memory_bytes(),
        size_on_disk_bytes=directory_size_bytes(out),
        validation=scores["validation"],
        test=scores["test"],
        training=training,
        method_config=method_settings,
        out_dir=str(out),
        extra=extra or {},
    )
    (out / "result.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result


def _method_options(options: FinetuneOptions, model_path: str) -> dict[str, Any]:
    """Method options, with prompt tuning told where the tokenizer is for text init."""
    extra = dict(options.method_options)
    if options.method == "prompt" and extra.get("init_text") and "tokenizer_path" not in extra:
        extra["tokenizer_path"] = model_path
    return extra


def _headline(metrics: dict[str, Any]) -> dict[str, float]:
    return {key: metrics[key] for key in ("accuracy", "macro_f1", "weighted_f1", "n")}
