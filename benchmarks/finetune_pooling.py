"""Pooling on the truncated MiniLM ladder: CLS pooler, re-initialised pooler, mean pooling.

In ``minilm-L1``/``minilm-L2`` the [CLS] state is nearly the same for every text, so a
head reading it (through the BERT pooler) starts from a constant feature. This script
fine-tunes each (model, method, pooling) on a trivially separable set of English
sentences (the label is one sentiment word) and/or on embedded tweets, and prints test
macro-F1, accuracy, the best validation macro-F1, the last training loss and wall
seconds, one JSON line per run (also written to ``OUT.json``):

- ``cls``: the model's own head (pretrained pooler ``tanh(W h_[CLS] + b)``);
- ``reinit``: the pooler re-initialised (normal, std ``initializer_range``, zero bias) and
  trained with the head (in LoRA's ``modules_to_save``; made trainable for BitFit);
- ``mean``: the masked mean of the last hidden states (``--pooling mean``, the default).

Training: 3 epochs, batch 16, max length 64, default learning rates, one torch thread.

    python benchmarks/finetune_pooling.py OUT.json MODELS METHODS TASKS POOLINGS
    python benchmarks/finetune_pooling.py out.json minilm-L1 full,lora separable cls,reinit,mean

(comma-separated lists; defaults minilm-L1,minilm-L2 / full,lora,bitfit / separable,tweets
/ cls,reinit,mean).
"""

from __future__ import annotations

import json
import random
import sys
import time

import torch

from scalinglab.finetune.evaluation import evaluate
from scalinglab.finetune.methods import apply_method, method_config
from scalinglab.finetune.models import load_sequence_classifier, load_tokenizer, resolve_model
from scalinglab.finetune.pooling import apply_pooling
from scalinglab.finetune.tasks import TaskData, TaskOptions, load_task, split_task
from scalinglab.finetune.training import FinetuneConfig, seed_everything, train_classifier

GOOD = ["great", "wonderful", "excellent", "lovely", "superb", "fantastic"]
BAD = ["terrible", "awful", "horrible", "dreadful", "bad", "disgusting"]
TEMPLATES = ["the {n} was {w}", "what a {w} {n}", "{w} {n} today", "honestly the {n} is {w}"]
NOUNS = ["movie", "meal", "flight", "hotel", "service", "book", "game", "show"]


def separable_task() -> TaskData:
    """300 sentences labelled by their one sentiment word, split 180/60/60."""
    rng = random.Random(0)
    texts, labels = [], []
    for i in range(300):
        label = "positive" if i % 2 else "negative"
        word = rng.choice(GOOD if label == "positive" else BAD)
        texts.append(rng.choice(TEMPLATES).format(n=rng.choice(NOUNS), w=word) + f" {i}")
        labels.append(label)
    options = TaskOptions(split_ratios=(0.6, 0.2, 0.2))
    return split_task("separable", texts, labels, ["negative", "positive"], options)


def tweets_task() -> TaskData:
    """400 training, 200 validation and 200 test tweets of ``tweets-binary``."""
    return load_task("tweets-binary", TaskOptions(max_train_examples=400, max_eval_examples=200))


def build(spec: str, labels: list[str], pooling: str, method: str) -> tuple:
    """Tokenizer and classifier of ``spec`` with ``pooling`` and ``method`` applied."""
    source = resolve_model(spec)
    seed_everything(0)
    model = load_sequence_classifier(source, labels)
    if pooling == "mean":
        apply_pooling(model, "mean")
    if pooling == "reinit":
        dense = model.bert.pooler.dense
        torch.nn.init.normal_(dense.weight, std=model.config.initializer_range)
        torch.nn.init.zeros_(dense.bias)
    if method == "lora" and pooling == "reinit":
        from peft import LoraConfig, TaskType, get_peft_model

        config = LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=8,
            lora_alpha=16,
            lora_dropout=0.1,
            modules_to_save=["classifier", "pooler"],
        )
        return load_tokenizer(source), get_peft_model(model, config)
    model = apply_method(model, method_config(method))
    if pooling == "reinit" and method == "bitfit":
        for parameter in model.bert.pooler.parameters():
            parameter.requires_grad_(True)
    return load_tokenizer(source), model


def main() -> None:
    out = sys.argv[1]
    models = sys.argv[2].split(",") if len(sys.argv) > 2 else ["minilm-L1", "minilm-L2"]
    methods = sys.argv[3].split(",") if len(sys.argv) > 3 else ["full", "lora", "bitfit"]
    wanted = sys.argv[4].split(",") if len(sys.argv) > 4 else ["separable", "tweets"]
    poolings = sys.argv[5].split(",") if len(sys.argv) > 5 else ["cls", "reinit", "mean"]
    makers = {"separable": separable_task, "tweets": tweets_task}
    config = FinetuneConfig(epochs=3, batch_size=16, max_length=64, progress=False, threads=1)
    rows = []
    for task_name in wanted:
        task = makers[task_name]()
        for spec in models:
            for method in methods:
                for pooling in poolings:
                    tokenizer, model = build(spec, task.labels, pooling, method)
                    start = time.perf_counter()
                    trained = train_classifier(
                        model, tokenizer, task.train, task.validation, task.labels, method, config
                    )
                    test = evaluate(model, tokenizer, task.test, task.labels, 64).metrics
                    row = {
                        "task": task_name,
                        "model": spec,
                        "method": method,
                        "pooling": pooling,
                        "test_macro_f1": round(test["macro_f1"], 4),
                        "test_accuracy": round(test["accuracy"], 4),
                        "best_val_macro_f1": round(trained.best_val_macro_f1, 4),
                        "last_train_loss": round(trained.history[-1]["train_loss"], 4),
                        "seconds": round(time.perf_counter() - start, 1),
                    }
                    print(json.dumps(row), flush=True)
                    rows.append(row)
                    with open(out, "w") as handle:
                        json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
