"""One fine-tuning run end to end: load, apply the method, train, evaluate, save, measure.

>>> from scalinglab.finetune.run import FinetuneOptions, finetune
>>> from scalinglab.finetune.tasks import TaskOptions
>>> result = finetune(FinetuneOptions(model="minilm-L2", task="tweets-binary",
...     method="lora", out_dir="runs/ft/l2-lora",
...     task_options=TaskOptions(max_train_examples=500)))   # doctest: +SKIP
>>> result.test["macro_f1"]                                  # doctest: +SKIP

The output directory holds the classifier (see :mod:`scalinglab.finetune.checkpoint`),
``predictions_validation.jsonl`` and ``predictions_test.jsonl`` (one line per example)
and ``result.json`` (what :meth:`scalinglab.finetune.results.FinetuneResult.to_dict`
returns).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scalinglab.finetune.methods import (
    ParameterCounts,
    apply_method,
    config_to_dict,
    count_nonembedding,
    count_parameters,
    method_config,
)
from scalinglab.finetune.models import load_sequence_classifier, load_tokenizer, resolve_model
from scalinglab.finetune.pooling import DEFAULT_POOLING, apply_pooling
from scalinglab.finetune.results import FinetuneResult, RunContext, finish_run
from scalinglab.finetune.tasks import TaskData, TaskOptions, load_task
from scalinglab.finetune.training import FinetuneConfig, seed_everything, train_classifier


@dataclass(frozen=True)
class FinetuneOptions:
    """Everything one run needs; ``method_options`` go to the method's config dataclass.

    ``pooling`` is how the head reads the encoder (:mod:`scalinglab.finetune.pooling`).
    """

    model: str = "minilm"
    task: str = "tweets-binary"
    method: str = "full"
    out_dir: str = "runs/finetune"
    method_options: dict[str, Any] = field(default_factory=dict)
    task_options: TaskOptions = field(default_factory=TaskOptions)
    train: FinetuneConfig = field(default_factory=FinetuneConfig)
    latency_repeats: int = 30
    throughput_batches: int = 3
    pooling: str = DEFAULT_POOLING


def finetune(options: FinetuneOptions, task: TaskData | None = None) -> FinetuneResult:
    """Fine-tune ``options.model`` on ``options.task`` with ``options.method``; save and measure.

    ``task`` may be passed already loaded (a sweep loads it once). Re-fine-tuning a saved
    classifier on new data is :func:`scalinglab.finetune.continual.continual_finetune`.
    """
    task = task or load_task(options.task, options.task_options)
    source = resolve_model(options.model)
    tokenizer = load_tokenizer(source)
    seed_everything(options.train.seed)  # the new head's initialisation
    model = apply_pooling(load_sequence_classifier(source, task.labels), options.pooling)
    n_params, nonembed = count_parameters(model)[0], count_nonembedding(model)
    config = method_config(options.method, **_method_options(options, source.path))
    model = apply_method(model, config)
    counts = ParameterCounts(n_params, nonembed, *count_parameters(model))
    trained = train_classifier(
        model, tokenizer, task.train, task.validation, task.labels, options.method, options.train
    )
    context = RunContext(options, task, trained.__dict__, counts, config_to_dict(config))
    return finish_run(model, tokenizer, context)


def _method_options(options: FinetuneOptions, model_path: str) -> dict[str, Any]:
    """Method options, with prompt tuning told where the tokenizer is for text init."""
    extra = dict(options.method_options)
    if options.method == "prompt" and extra.get("init_text") and "tokenizer_path" not in extra:
        extra["tokenizer_path"] = model_path
    return extra
