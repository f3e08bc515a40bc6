"""Continual fine-tuning: re-fine-tune a saved classifier on new data, measure forgetting.

Strategies (``ContinualOptions.strategy``):

- ``plain``: fine-tune on the new data alone;
- ``replay``: add a random, class-stratified sample of the *old* training examples, of
  size ``replay_fraction`` times the new training set, to the new training set;
- ``ewc``: elastic weight consolidation (Kirkpatrick et al. 2017): add
  ``lambda / 2 * sum_i F_i (theta_i - theta*_i)**2`` to the loss, where ``theta*`` are
  the weights before re-fine-tuning and ``F`` the diagonal of the empirical Fisher
  information on old training examples (squared per-example gradients of the
  log-likelihood of the gold label, averaged over ``fisher_examples`` examples).

The label set becomes the union of the old labels (in their old order) and the new ones;
old head rows keep their weights, new rows start fresh. Forgetting is the drop of the
old task's test accuracy (and macro-F1), measured on the old test split (rebuilt from
the seed and ratios saved with the model) before and after. With
``compare_plain=True`` a plain re-fine-tuning runs beside the chosen strategy, from the
same starting weights, so the two are measured side by side.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scalinglab.errors import ScalingLabError
from scalinglab.finetune.checkpoint import METADATA_FILE
from scalinglab.finetune.evaluation import (
    collate,
    encode_texts,
    evaluate,
    logits_of,
    model_device,
)
from scalinglab.finetune.methods import (
    ParameterCounts,
    apply_method,
    config_to_dict,
    count_nonembedding,
    count_parameters,
    method_config,
)
from scalinglab.finetune.models import ModelSource, load_tokenizer
from scalinglab.finetune.pooling import apply_pooling
from scalinglab.finetune.results import FinetuneResult, RunContext, finish_run, headline
from scalinglab.finetune.tasks import Split, TaskData, TaskOptions, load_task, stratified_subsample
from scalinglab.finetune.training import train_classifier

STRATEGIES = ("plain", "replay", "ewc")


@dataclass(frozen=True)
class ContinualOptions:
    """Where to resume from and how to protect the old task."""

    resume_from: str
    strategy: str = "replay"
    replay_fraction: float = 0.2
    ewc_lambda: float = 1e4
    fisher_examples: int = 256
    compare_plain: bool = True


@dataclass
class StrategyOutcome:
    """What one strategy did: old-task test scores after, new-task test scores, forgetting.

    Forgetting is the drop of the old task's test accuracy (macro-F1) from before
    re-fine-tuning to after; ``train_seconds`` is the wall time of its training loop.
    """

    old_test_after: dict[str, float]
    new_test: dict[str, float]
    forgetting_accuracy: float
    forgetting_macro_f1: float
    train_seconds: float


@dataclass
class ContinualResult:
    """A continual run: the saved classifier's result plus the forgetting per strategy.

    ``run`` is the classifier of ``strategy`` (saved to the output directory);
    ``outcomes`` holds that strategy and, with ``compare_plain``, plain re-fine-tuning.
    """

    run: FinetuneResult
    old_task: str
    resumed_from: str
    strategy: str
    old_test_before: dict[str, float]
    outcomes: dict[str, StrategyOutcome]
    options: dict[str, float]

    def summary(self) -> dict[str, Any]:
        """The forgetting figures as plain data (``continual`` in :meth:`to_dict`)."""
        return {
            "old_task": self.old_task,
            "resumed_from": self.resumed_from,
            "old_test_before": self.old_test_before,
            **{name: asdict(outcome) for name, outcome in self.outcomes.items()},
            "strategy": self.strategy,
            "options": self.options,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.run.to_dict(), "continual": self.summary()}


def continual_finetune(options: Any, continual: ContinualOptions) -> ContinualResult:
    """Re-fine-tune ``continual.resume_from`` on ``options.task`` and measure forgetting.

    ``options`` is a :class:`scalinglab.finetune.run.FinetuneOptions` whose ``task`` is
    the new data. ``OUT/result.json`` holds :meth:`ContinualResult.to_dict`.
    """
    if continual.strategy not in STRATEGIES:
        raise ScalingLabError(
            f"unknown continual strategy {continual.strategy!r}; use {', '.join(STRATEGIES)}"
        )
    if not 0.0 <= continual.replay_fraction <= 10.0:
        raise ScalingLabError("--replay-fraction must lie between 0 and 10")
    metadata = _resumable_metadata(Path(continual.resume_from))
    old_task = load_task(metadata["task"], TaskOptions(**metadata.get("task_options", {})))
    new_task = load_task(options.task, options.task_options)
    old_labels = list(metadata["labels"])
    labels = old_labels + [x for x in new_task.labels if x not in old_labels]
    old_task, new_task = _relabel(old_task, labels), _relabel(new_task, labels)
    source = ModelSource(continual.resume_from, continual.resume_from)
    tokenizer = load_tokenizer(source)
    start = apply_pooling(_expanded_classifier(source, old_labels, labels), metadata["pooling"])
    max_length, batch = options.train.max_length, options.train.eval_batch_size
    before = _task_metrics(start, tokenizer, old_task.test, labels, max_length, batch)

    runs = {}
    strategies = [continual.strategy]
    if continual.compare_plain and continual.strategy != "plain":
        strategies.append("plain")
    for strategy in strategies:
        model = copy.deepcopy(start)
        runs[strategy] = _refinetune(
            model, tokenizer, old_task, new_task, labels, strategy, options, continual
        )
    model, trained, config, counts = runs[continual.strategy]
    outcomes = {}
    for strategy, (run_model, run_trained, _, _) in runs.items():
        after = _task_metrics(run_model, tokenizer, old_task.test, labels, max_length, batch)
        new = _task_metrics(run_model, tokenizer, new_task.test, labels, max_length, batch)
        outcomes[strategy] = StrategyOutcome(
            old_test_after=headline(after),
            new_test=headline(new),
            forgetting_accuracy=before["accuracy"] - after["accuracy"],
            forgetting_macro_f1=before["macro_f1"] - after["macro_f1"],
            train_seconds=run_trained.train_seconds,
        )
    run_options = replace(options, model=continual.resume_from, pooling=metadata["pooling"])
    context = RunContext(run_options, new_task, trained.__dict__, counts, config_to_dict(config))
    result = ContinualResult(
        run=finish_run(model, tokenizer, context),
        old_task=metadata["task"],
        resumed_from=continual.resume_from,
        strategy=continual.strategy,
        old_test_before=headline(before),
        outcomes=outcomes,
        options={
            "replay_fraction": continual.replay_fraction,
            "ewc_lambda": continual.ewc_lambda,
            "fisher_examples": continual.fisher_examples,
        },
    )
    (Path(options.out_dir) / "result.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result


def _refinetune(
    model: Any,
    tokenizer: Any,
    old_task: TaskData,
    new_task: TaskData,
    labels: list[str],
    strategy: str,
    options: Any,
    continual: ContinualOptions,
) -> tuple[Any, Any, Any, ParameterCounts]:
    n_params, nonembed = count_parameters(model)[0], count_nonembedding(model)
    config = method_config(options.method, **options.method_options)
    train = new_task.train
    penalty = None
    if strategy == "replay":
        train = _with_replay(train, old_task.train, continual.replay_fraction, options.train.seed)
    if strategy == "ewc":
        penalty = ewc_penalty(model, tokenizer, old_task.train, continual, options.train.max_length)
    model = apply_method(model, config)
    total, trainable = count_parameters(model)
    trained = train_classifier(
        model,
        tokenizer,
        train,
        new_task.validation,
        labels,
        options.method,
        options.train,
        extra_loss=penalty,
    )
    return model, trained, config, ParameterCounts(n_params, nonembed, total, trainable)


def ewc_penalty(
    model: Any, tokenizer: Any, old_train: Split, continual: ContinualOptions, max_length: int
):
    """The EWC loss term for ``model`` anchored at its current weights (see module doc)."""
    rng = np.random.default_rng(0)
    size = min(continual.fisher_examples, len(old_train))
    ids = stratified_subsample(old_train.labels, size, rng)
    encoded = encode_texts(tokenizer, [old_train.texts[i] for i in ids], max_length)
    params = dict(model.named_parameters())
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    model.eval()
    for item, label in zip(encoded, old_train.labels[ids], strict=True):
        model.zero_grad(set_to_none=True)
        logits = logits_of(model, collate(tokenizer, [item]))
        torch.log_softmax(logits.float(), dim=-1)[0, int(label)].backward()
        for name, parameter in params.items():
            if parameter.grad is not None:
                fisher[name] += parameter.grad.detach() ** 2 / len(encoded)
    model.zero_grad(set_to_none=True)
    anchors = {n: p.detach().clone() for n, p in params.items()}
    strength = continual.ewc_lambda / 2.0

    def penalty(current: Any) -> torch.Tensor:
        total = torch.zeros((), device=model_device(current))
        for name, parameter in current.named_parameters():
            key = _base_name(name)
            if parameter.requires_grad and key in fisher:
                if anchors[key].device != parameter.device:  # training moved the model
                    fisher[key] = fisher[key].to(parameter.device)
                    anchors[key] = anchors[key].to(parameter.device)
                total = total + (fisher[key] * (parameter - anchors[key]) ** 2).sum()
        return strength * total

    return penalty


def _base_name(name: str) -> str:
    """Parameter name in the un-wrapped model (peft adds ``base_model.model.`` etc.)."""
    name = name.removeprefix("base_model.model.")
    return name.replace(".base_layer.", ".").replace(".modules_to_save.default.", ".")


def _with_replay(new: Split, old: Split, fraction: float, seed: int) -> Split:
    size = min(len(old), round(fraction * len(new)))
    if size == 0:
        return new
    ids = stratified_subsample(old.labels, size, np.random.default_rng(seed))
    return Split(
        new.texts + [old.texts[i] for i in ids], np.concatenate([new.labels, old.labels[ids]])
    )


def _relabel(task: TaskData, labels: list[str]) -> TaskData:
    """The task with label ids re-indexed into ``labels`` (a superset of its own)."""
    mapping = np.array([labels.index(x) for x in task.labels])

    def move(split: Split) -> Split:
        return Split(split.texts, mapping[split.labels])

    return replace(
        task,
        labels=labels,
        train=move(task.train),
        validation=move(task.validation),
        test=move(task.test),
    )


def _expanded_classifier(source: ModelSource, old_labels: list[str], labels: list[str]) -> Any:
    """The saved classifier with its head grown to ``labels``; old rows keep their weights."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    old = AutoModelForSequenceClassification.from_pretrained(source.path, use_safetensors=True)
    return old if labels == old_labels else _grow_head(old, old_labels, labels)


def _grow_head(old: Any, old_labels: list[str], labels: list[str]) -> Any:
    head = old.classifier
    final = head.out_proj if hasattr(head, "out_proj") else head
    grown = torch.nn.Linear(final.in_features, len(labels))
    torch.nn.init.normal_(grown.weight, std=old.config.initializer_range)
    torch.nn.init.zeros_(grown.bias)
    with torch.no_grad():
        grown.weight[: len(old_labels)] = final.weight
        grown.bias[: len(old_labels)] = final.bias
    if hasattr(head, "out_proj"):
        head.out_proj = grown
    else:
        old.classifier = grown
    old.config.num_labels = len(labels)
    old.config.id2label = dict(enumerate(labels))
    old.config.label2id = {name: i for i, name in enumerate(labels)}
    old.num_labels = len(labels)
    return old


def _resumable_metadata(path: Path) -> dict[str, Any]:
    meta_file = path / METADATA_FILE
    if not meta_file.is_file():
        raise ScalingLabError(
            f"--resume-from {path}: no {METADATA_FILE}; give a directory written by "
            "`scalinglab finetune --out DIR`"
        )
    metadata = json.loads(meta_file.read_text())
    metadata.setdefault("pooling", "cls")  # classifiers saved before pooling was recorded
    if metadata.get("storage") != "merged":
        raise ScalingLabError(
            f"--resume-from {path}: continual fine-tuning starts from a full, LoRA or BitFit "
            f"classifier (merged weights), not {metadata.get('storage')!r} storage"
        )
    return metadata


def _task_metrics(
    model: Any, tokenizer: Any, split: Split, labels: list[str], max_length: int, batch: int
) -> dict[str, Any]:
    """Metrics of one task's split; macro-F1 averages over the classes the split has.

    Predicting a class of the other task still counts as an error (in accuracy and in
    those classes' recall); a class absent from the split does not drag the average
    (:func:`scalinglab.finetune.evaluation.classification_metrics`).
    """
    return evaluate(model, tokenizer, split, labels, max_length, batch).metrics
