"""Continual learning: do replay and EWC reduce forgetting against plain re-fine-tuning?

Old task: ``tweets-binary`` (negative vs positive). A model (default ``minilm-L2``) is
fully fine-tuned on it and saved. New data: a constructed class-incremental shift, built
honestly from the same corpus: tweets labelled *negative* or *neutral* (a class the old
model never saw, and no positive tweets at all), drawn from ``tweets-3class`` but never
from the old task's validation or test texts, so the old test split stays unseen.
Re-fine-tuning on it alone (plain) should forget "positive"; replay mixes in
``--replay-fraction`` old training examples, EWC penalises moving weights that matter
for the old task (Fisher diagonal on 256 old training examples).

Prints, for plain, replay and EWC, the old task's test accuracy before and after and
the new task's test accuracy, all from the same starting weights, side by side.

    python benchmarks/continual_forgetting.py --out runs/bench-continual
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from scalinglab.finetune.continual import ContinualOptions, continual_finetune
from scalinglab.finetune.run import FinetuneOptions, finetune
from scalinglab.finetune.tasks import TaskOptions, load_task
from scalinglab.finetune.training import FinetuneConfig


def write_shifted_task(old_options: TaskOptions, path: Path, size: int, seed: int) -> Path:
    """negative + neutral tweets, none from the old task's validation/test splits."""
    old = load_task("tweets-binary", old_options)
    held_out = set(old.validation.texts) | set(old.test.texts)
    pool = load_task("tweets-3class", TaskOptions(split_ratios=(0.8, 0.1, 0.1)))
    rows = [
        (text, pool.labels[label])
        for split in (pool.train, pool.validation, pool.test)
        for text, label in zip(split.texts, split.labels, strict=True)
        if pool.labels[label] in ("negative", "neutral") and text not in held_out
    ]
    rng = np.random.default_rng(seed)
    by_class = {name: [r for r in rows if r[1] == name] for name in ("negative", "neutral")}
    chosen = [
        by_class[name][i]
        for name in by_class
        for i in rng.choice(len(by_class[name]), size=size // 2, replace=False)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(chosen)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm-L2")
    parser.add_argument("--old-train-examples", type=int, default=1500)
    parser.add_argument("--new-examples", type=int, default=1500)
    parser.add_argument("--eval-examples", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--replay-fraction", type=float, default=0.2)
    parser.add_argument("--ewc-lambda", type=float, default=1e4)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--out", default="runs/bench-continual")
    args = parser.parse_args()
    out = Path(args.out)
    train = FinetuneConfig(epochs=args.epochs, max_length=args.max_length, progress=False)
    old_options = TaskOptions(
        max_train_examples=args.old_train_examples, max_eval_examples=args.eval_examples
    )
    old = finetune(
        FinetuneOptions(
            model=args.model,
            task="tweets-binary",
            method="full",
            out_dir=str(out / "old"),
            task_options=old_options,
            train=train,
        )
    )
    new_file = write_shifted_task(old_options, out / "new_task.csv", args.new_examples, 0)
    new_options = TaskOptions(max_eval_examples=args.eval_examples)
    summaries = {}
    for strategy in ("replay", "ewc"):
        result = continual_finetune(
            FinetuneOptions(
                model=str(out / "old"),
                task=str(new_file),
                method="full",
                out_dir=str(out / strategy),
                task_options=new_options,
                train=train,
            ),
            ContinualOptions(
                resume_from=str(out / "old"),
                strategy=strategy,
                replay_fraction=args.replay_fraction,
                ewc_lambda=args.ewc_lambda,
                compare_plain=strategy == "replay",
            ),
        )
        summaries[strategy] = result.summary()
    before = summaries["replay"]["old_test_before"]["accuracy"]
    rows = {
        "plain": summaries["replay"]["plain"],
        "replay": summaries["replay"]["replay"],
        "ewc": summaries["ewc"]["ewc"],
    }
    print(f"old model {args.model}: old-task test accuracy {old.test['accuracy']:.4f}")
    print("| strategy | old test acc before | after | forgetting | new test acc | train s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, row in rows.items():
        print(
            f"| {name} | {before:.4f} | {row['old_test_after']['accuracy']:.4f} | "
            f"{row['forgetting_accuracy']:+.4f} | {row['new_test']['accuracy']:.4f} | "
            f"{row['train_seconds']:.0f} |"
        )
    for name in ("replay", "ewc"):
        less = rows[name]["forgetting_accuracy"] < rows["plain"]["forgetting_accuracy"]
        print(f"{name} forgets {'less' if less else 'NOT less'} than plain")
    (out / "benchmark.json").write_text(json.dumps({"rows": rows, "args": vars(args)}, indent=2))


if __name__ == "__main__":
    main()
